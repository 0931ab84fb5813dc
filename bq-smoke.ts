import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';

const prefix = 'almanac-smoke';
const conn = () =>
  new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null, connectionName: `${prefix}:x` });
const queue = new Queue('almanac', { connection: conn(), prefix });
const worker = new Worker(
  'almanac',
  async (job) => {
    console.log('processing', job.id, job.name, job.data, job.attemptsMade, job.attemptsStarted);
    if (job.data.n === 2) throw new UnrecoverableError('bad');
    return 'ok';
  },
  { connection: conn(), prefix, concurrency: 2 },
);
worker.on('failed', (job, err) => console.log('failed', job?.id, err.message, job?.attemptsMade));
worker.on('completed', (job) => console.log('completed', job.id));
await queue.add('refresh', { n: 1 }, { jobId: 'refresh.nasdaq-close.20261128T0200Z', attempts: 3 });
await queue.add('refresh', { n: 1 }, { jobId: 'refresh.nasdaq-close.20261128T0200Z', attempts: 3 });
await queue.add('refresh', { n: 2 }, { jobId: 'refresh.x.manual-1', attempts: 3 });
await new Promise((r) => setTimeout(r, 1000));
const r = new Redis();
console.log(
  ((await r.client('LIST')) as string)
    .split('\n')
    .filter((l) => l.includes('smoke'))
    .map((l) => /name=\S+/.exec(l)?.[0]),
);
r.disconnect();
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
