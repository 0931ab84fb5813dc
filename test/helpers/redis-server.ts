import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './services.ts';

export type RedisServer = {
  url: string;
  /** stops it (SIGKILL: no chance to save) */
  kill: () => Promise<void>;
  /** starts it again on the same port, with what it persisted (nothing, unless `persist`) */
  start: () => Promise<void>;
  /** stops it and removes its folder */
  close: () => Promise<void>;
};

const running = new Set<ChildProcess>();
// A test process that ends without closing its servers (a crash, a hook that failed) stops them
// anyway: nothing else would.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A Redis server of the test's own, on a free port, that the test may kill and start again:
 * never the machine's. With `persist`, every write goes to an append-only file first, so a
 * restart keeps its data; without, a restart is a Redis that lost everything.
 */
export async function startRedisServer(options: { persist: boolean }): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'almanac-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
    args.push('--maxmemory-policy', 'noeviction');
    args.push(
      ...(options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    );
    const started = spawn('redis-server', args, { stdio: 'ignore' });
    child = started;
    running.add(started);
    started.once('exit', () => running.delete(started));
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      for (let i = 0; ; i += 1) {
        try {
          await probe.connect();
          if ((await probe.ping()) === 'PONG') return;
        } catch {
          if (i > 100 || started.exitCode !== null)
            throw new Error(`redis-server on port ${port} did not start`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } finally {
      probe.disconnect();
    }
  };
  const kill = async () => {
    const server = child;
    if (server === undefined || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    kill,
    start,
    close: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
