import cliProgress from 'cli-progress';
import type { CliIo } from './context.ts';

export type Progress = {
  /** `detail` (a phase, say) is shown beside the bar and, off a terminal, printed when it changes */
  update: (done: number, total: number, detail?: string) => void;
  stop: () => void;
};

/**
 * A progress bar on stderr for long work. On a terminal it redraws in place; elsewhere (CI, a
 * pipe) it prints a plain line every 10 % so logs still show how far it got.
 */
export function startProgress(io: CliIo, label: string, unit: string): Progress {
  if (io.interactive) {
    const bar = new cliProgress.SingleBar(
      {
        stream: io.stderr as NodeJS.WriteStream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {detail}{duration_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (done, total, detail) => {
        const payload = { detail: detail === undefined ? '' : `${detail} | ` };
        if (!started) {
          bar.start(total, done, payload);
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, payload);
        }
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let lastTenth = -1;
  let lastDetail: string | undefined;
  return {
    update: (done, total, detail) => {
      const tenth = total === 0 ? 10 : Math.floor((done / total) * 10);
      if (tenth > lastTenth || detail !== lastDetail) {
        lastTenth = tenth;
        lastDetail = detail;
        const suffix = detail === undefined ? '' : ` ${detail}`;
        const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
        const counts = unit === '%' ? '' : ` (${done}/${total} ${unit})`;
        io.stderr.write(`${label}: ${percent}%${counts}${suffix}\n`);
      }
    },
    stop: () => {},
  };
}
