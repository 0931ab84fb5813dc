import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The installed command: the compiled package (the suite's global setup builds it first). */
export const BIN = fileURLToPath(new URL('../../bin/almanac.js', import.meta.url));

export type RunningBin = {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** stdout and stderr as they came */
  output: () => string;
  exited: Promise<number | null>;
  /** SIGTERM (or `signal`), then the exit */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
};

/** Starts the real `almanac` executable in a child process (the Node running the tests is 24). */
export function startBin(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string } = {},
): RunningBin {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    output += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the executable to its end. */
export async function runBin(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = startBin(args, env, options);
  const code = await running.exited;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}
