import { afterAll, describe, expect, it } from 'vitest';
import type { EventStore, RecordedEvent } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { closeAdmin, dropSchema, freshSchema, postgres, sql } from '../support/postgres.js';

const schema = freshSchema();
afterAll(async () => {
  await dropSchema(schema);
  await closeAdmin();
});

function follow(store: EventStore) {
  const controller = new AbortController();
  const events: RecordedEvent[] = [];
  const waiters: (() => void)[] = [];
  const done = (async () => {
    for await (const e of store.subscribe({ signal: controller.signal })) {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    }
  })();
  const until = (count: number, ms = 5000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${events.length} of ${count} events within ${ms} ms`)), ms);
      const check = () => {
        if (events.length >= count) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return { events, until, stop: () => (controller.abort(), done) };
}

describe.skipIf(postgres.reason !== undefined)(`LISTEN/NOTIFY${postgres.reason ? ` (skipped: ${postgres.reason})` : ''}`, () => {
  it("wakes a subscription on another store's commit at once, and again after its connection is killed", { timeout: 60_000 }, async () => {
    const app = `factline_listen_${schema}`;
    const url = new URL(postgres.url!);
    url.searchParams.set('application_name', app);
    // Polling an hour apart: only a notification can deliver within the test's time.
    const reader = await postgresStore({ connectionString: url.toString(), schema, pollInterval: 3_600_000 });
    const writer = await postgresStore({ connectionString: postgres.url!, schema });
    const sub = follow(reader);
    await new Promise((r) => setTimeout(r, 300)); // the listener connects

    await writer.append('s', [{ type: 'T', data: 1 }]);
    await sub.until(1);

    const killed = await sql<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%' AND pg_terminate_backend(pid)",
      [app],
    );
    expect(killed).toHaveLength(1);
    await writer.append('s', [{ type: 'T', data: 2 }]); // may land while the listener is away
    await sub.until(2);
    await new Promise((r) => setTimeout(r, 500));
    await writer.append('s', [{ type: 'T', data: 3 }]);
    await sub.until(3);
    expect(sub.events.map((e) => e.data)).toEqual([1, 2, 3]);
    await sub.stop();
    await Promise.all([reader.close(), writer.close()]);
  });
});
