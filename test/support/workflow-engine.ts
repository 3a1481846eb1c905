// A workflow engine in a child process, for crash and several-process tests.
//   transfer <url> <count> <crashRate>: opens the accounts, starts transfers t0..t<count-1> (the
//     same ids every time: a restarted child starts nothing twice) and runs them; with crashRate
//     > 0 it kills itself (SIGKILL) at random right after an effect, before it is recorded.
//     Prints 'started', then 'ended' once every transfer has ended.
//   trace <url> <count> <start:0|1>: runs three-step workflows whose steps mark their start and
//     end in a stream of the instance, `trace-<id>`; starts t0..t<count-1> when told to, and
//     prints 'all started', then 'ended'.
import { openStore, defineWorkflow, handle, startWorkflows } from '../../src/index.js';
import { ACCOUNTS, OPENING_BALANCE, account, transfer, transferSaga } from './workflow-fixtures.js';

const [mode, url, countText, option] = process.argv.slice(2);
const count = Number(countText);
const store = await openStore(url!);
const lease = { leaseTtl: 600, pollInterval: 50 };

if (mode === 'transfer') {
  const crashRate = Number(option);
  const hazard = () => {
    if (Math.random() < crashRate) process.kill(process.pid, 'SIGKILL');
  };
  for (let a = 0; a < ACCOUNTS; a++) {
    await handle(store, `account-${a}`, account, { type: 'open', balance: OPENING_BALANCE }, { idempotencyKey: 'open' });
  }
  const saga = transferSaga(store, hazard);
  const engine = await startWorkflows(store, [saga], { ...lease, concurrency: 8 });
  console.log('started');
  const handles = [];
  // Started a few milliseconds apart, so that a kill finds work in every stage.
  for (let n = 0; n < count; n++) {
    handles.push(await engine.start(saga, transfer(n), { id: `t${n}` }));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.allSettled(handles.map((h) => h.result()));
  console.log('ended');
  await engine.close();
  await store.close();
} else if (mode === 'timer') {
  // timer <url> <ms> <id>: starts (or resumes) an instance that sleeps `ms`, prints 'sleeping'
  // once it does, and 'woke <late>' with how late after its time it woke.
  const nap = defineWorkflow({
    name: 'nap',
    async run(ctx) {
      const due = ctx.now().getTime() + count;
      await ctx.sleep(count);
      return due;
    },
  });
  const engine = await startWorkflows(store, [nap], lease);
  const run = await engine.start(nap, undefined, { id: option! });
  while ((await run.status()).status !== 'sleeping' && (await run.status()).status !== 'completed') await new Promise((r) => setTimeout(r, 10));
  console.log('sleeping');
  const due = (await run.result());
  console.log(`woke ${Date.now() - due}`);
  await engine.close();
  await store.close();
} else if (mode === 'skew') {
  // skew <url> <ms>: this process's clock runs <ms> behind (negative: ahead of) the database's;
  // an instance sleeps a second; prints 'runs <n>' with how often its code ran.
  const real = Date.now;
  Date.now = () => real() - count;
  let runs = 0;
  const nap = defineWorkflow({
    name: 'skewed',
    async run(ctx) {
      runs++;
      await ctx.sleep(1000);
    },
  });
  const engine = await startWorkflows(store, [nap], { ...lease, pollInterval: 100 });
  const started = real();
  await (await engine.start(nap, undefined)).result();
  console.log(`runs ${runs} after ${real() - started}`);
  await engine.close();
  await store.close();
} else if (mode === 'trace') {
  const traced = defineWorkflow({
    name: 'traced',
    async run(ctx) {
      for (const step of ['a', 'b', 'c']) {
        await ctx.step(step, async () => {
          await store.append(`trace-${ctx.id}`, [{ type: 'StepBegan', data: { pid: process.pid, step } }]);
          await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 25));
          await store.append(`trace-${ctx.id}`, [{ type: 'StepEnded', data: { pid: process.pid, step } }]);
        });
      }
    },
  });
  const engine = await startWorkflows(store, [traced], { ...lease, concurrency: 10 });
  console.log('started');
  if (option === '1') {
    const handles = [];
    for (let n = 0; n < count; n++) handles.push(await engine.start(traced, undefined, { id: `t${n}` }));
    console.log('all started');
    await Promise.all(handles.map((h) => h.result()));
    console.log('ended');
  }
  // Runs until killed.
  await new Promise(() => {});
}
