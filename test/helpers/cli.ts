import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.ts';

export type CliRun = { code: number; stdout: string; stderr: string };

/** Runs the CLI in-process through its main(), capturing what it prints. */
export async function runCli(...argv: string[]): Promise<CliRun> {
  return startCli(argv).done;
}

/**
 * Starts the CLI in-process: `output()` shows what it printed so far, `stop()` stops a
 * long-running command as Ctrl-C would, and `done` resolves when it has returned.
 */
export function startCli(argv: string[]): { output: () => string; stop: () => void; done: Promise<CliRun> } {
  const controller = new AbortController();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
  const done = main(argv, { stdout, stderr, interactive: false, stop: controller.signal }).then((code) => ({
    code,
    stdout: text(out),
    stderr: text(err),
  }));
  return { output: () => text(out), stop: () => controller.abort(), done };
}
