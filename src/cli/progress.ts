import cliProgress from 'cli-progress';
import type { CliIo } from './context.ts';

export type Progress = { update: (done: number, total: number) => void; stop: () => void };

/**
 * A progress bar on stderr for long work. On a terminal it redraws in place; elsewhere (CI, a
 * pipe) it prints a plain line every 10 % so logs still show how far it got.
 */
export function startProgress(io: CliIo, label: string, unit: string): Progress {
  if (io.interactive) {
    const bar = new cliProgress.SingleBar(
      {
        stream: io.stderr as NodeJS.WriteStream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {duration_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (done, total) => {
        if (!started) {
          bar.start(total, done);
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done);
        }
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let lastTenth = -1;
  return {
    update: (done, total) => {
      const tenth = total === 0 ? 10 : Math.floor((done / total) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        io.stderr.write(`${label}: ${tenth * 10}% (${done}/${total} ${unit})\n`);
      }
    },
    stop: () => {},
  };
}
