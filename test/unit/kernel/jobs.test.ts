// Background jobs: run on their interval, never twice at once, only when the claim says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { Jobs } from '../../../src/kernel/jobs.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits for a condition (timers run late on a loaded machine: never a fixed sleep for progress). */
async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('a job runs on its interval and never overlaps itself; runNow joins a run in progress', async () => {
  const jobs = new Jobs(pino({ level: 'silent' }));
  let runs = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  jobs.register({
    name: 'slow',
    intervalMs: 5,
    run: async () => {
      runs++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await sleep(30);
      concurrent--;
    },
  });
  assert.throws(() => jobs.register({ name: 'slow', intervalMs: 5, run: async () => 0 }), /twice/);
  jobs.start();
  await until('three runs', () => runs >= 3);
  await Promise.all([jobs.runNow('slow'), jobs.runNow('slow')]);
  await jobs.stop();
  assert.equal(maxConcurrent, 1, 'a 30 ms job on a 5 ms interval never overlaps itself');
  const after = runs;
  await sleep(30);
  assert.equal(runs, after, 'stopped');
});

test('a job runs only where the claim is taken', async () => {
  const jobs = new Jobs(pino({ level: 'silent' }));
  let runs = 0;
  const asked: string[] = [];
  jobs.claim = async (name) => {
    asked.push(name);
    return false;
  };
  jobs.register({ name: 'elsewhere', intervalMs: 5, run: async () => void runs++ });
  jobs.start();
  await until('two claims', () => asked.length >= 2);
  await jobs.stop();
  assert.equal(runs, 0);
  assert.ok(asked.every((n) => n === 'elsewhere'));
});
