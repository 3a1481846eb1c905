import type { Names } from './names.js';

/** Every statement the adapter runs, prepared by name per connection. */
export interface Statements {
  readonly read: { readonly name: string; readonly text: string };
  readonly write: { readonly name: string; readonly text: string };
  readonly lock: { readonly name: string; readonly text: string };
  readonly head: { readonly name: string; readonly text: string };
  readonly streams: { readonly name: string; readonly text: string };
  readonly forward: { readonly name: string; readonly text: string };
  readonly backward: { readonly name: string; readonly text: string };
  readonly all: { readonly name: string; readonly text: string };
  readonly max: { readonly name: string; readonly text: string };
  readonly byId: { readonly name: string; readonly text: string };
  readonly byCorrelation: { readonly name: string; readonly text: string };
  readonly byCausation: { readonly name: string; readonly text: string };
  readonly writeSnapshot: { readonly name: string; readonly text: string };
  readonly readSnapshot: { readonly name: string; readonly text: string };
}

// Epoch milliseconds as a float8: cheap to compute and exact for the millisecond times we store.
const ms = (column: string) => `round(date_part('epoch', ${column}) * 1000)`;

/** A live stream's head is its last event, through the (stream, version) index; a deleted one has a tombstone. */
function heads(n: Names, from: string): string {
  return `SELECT s.stream, l.version, l.position::text AS position, l.updated, l.created,
      t.version AS t_version, t.position::text AS t_position, ${ms('t.deleted_at')} AS t_deleted
    FROM ${from}
    LEFT JOIN LATERAL (
      SELECT e.version, e.position, ${ms('e.recorded_at')} AS updated,
        (SELECT ${ms('f.recorded_at')} FROM ${n.events} AS f WHERE f.stream = s.stream AND f.version = 1) AS created
      FROM ${n.events} AS e WHERE e.stream = s.stream ORDER BY e.version DESC LIMIT 1) AS l ON true
    LEFT JOIN ${n.tombstones} AS t ON t.stream = s.stream
    WHERE l.version IS NOT NULL OR t.stream IS NOT NULL`;
}

export function statements(n: Names, withTestHooks: boolean): Statements {
  const name = (what: string) => `factline_${what}_${n.schemaName}`;
  // The text casts keep bigints and uuids as strings; ORDER BY must then name the table's columns.
  const columns = `e.position::text AS position, e.id::text AS id, e.stream, e.version, e.type, e.data, e.metadata,
    e.schema_version AS "schemaVersion", ${ms('e.recorded_at')} AS "recordedAt"`;
  const stream = (order: string) => `SELECT ${columns} FROM ${n.events} AS e
    WHERE e.stream = $1 AND e.version BETWEEN $2 AND $3 AND ($4::float8 IS NULL OR e.recorded_at <= to_timestamp($4 / 1000.0))
    ORDER BY e.version ${order} LIMIT $5`;
  // The failure divides by a value of the row, so that planning cannot fold it into a constant error.
  const test = withTestHooks ? ', pg_sleep($22), CASE WHEN $23 THEN 1 / (r.first - r.first) END AS failed' : '';
  return {
    read: {
      name: name('read'),
      text: `SELECT (SELECT coalesce(max(position), 0)::text FROM ${n.events}) AS max,
        (SELECT coalesce(json_agg(h), '[]')::text FROM (${heads(n, 'unnest($1::text[]) AS s (stream)')}) AS h) AS heads,
        (SELECT coalesce(json_agg(k), '[]')::text FROM (
          SELECT id::text AS id, stream, version, position::text AS position, type, data
          FROM ${n.events} WHERE id = ANY ($2::uuid[])) AS k) AS known`,
    },
    write: {
      name: name(withTestHooks ? 'write_test' : 'write'),
      // $4 is the first position the plan assumed; $5 the rows' offsets from it. Tombstone
      // positions at or past it belong to rows of this write and move with them.
      text: `WITH reserved AS MATERIALIZED (SELECT ${n.reserve}($1::text[], $2::int[], $3::float8[]) AS first),
        inserted AS (
          INSERT INTO ${n.events} (position, id, stream, version, type, data, metadata, schema_version, recorded_at, correlation_id, causation_id)
          SELECT r.first + x.o, x.i, x.s, x.v, x.t, x.d, x.m, x.sv, to_timestamp(x.ra / 1000.0), x.co, x.ca
          FROM reserved AS r,
            unnest($5::bigint[], $6::uuid[], $7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::int[], $13::float8[], $14::text[], $15::text[])
              AS x (o, i, s, v, t, d, m, sv, ra, co, ca)
        ),
        tombstoned AS (
          INSERT INTO ${n.tombstones} (stream, version, position, deleted_at)
          SELECT x.s, x.v, CASE WHEN x.p >= $4::bigint THEN r.first + x.p - $4::bigint ELSE x.p END, to_timestamp(x.ra / 1000.0)
          FROM reserved AS r, unnest($16::text[], $17::int[], $18::bigint[], $19::float8[]) AS x (s, v, p, ra)
        )
        SELECT r.first::text AS first, pg_notify($20, (r.first + $21::bigint - 1)::text)${test} FROM reserved AS r`,
    },
    lock: { name: name('lock'), text: `SELECT pg_advisory_xact_lock(${n.lockSpace}, ${n.lockKey})` },
    head: { name: name('head'), text: heads(n, '(SELECT $1::text AS stream) AS s') },
    // A loose scan of the "C"-collated stream index: one seek per stream, in code point order
    // whatever the database's collation (under which names sharing a prefix need not be adjacent).
    streams: {
      name: name('streams'),
      text: `WITH RECURSIVE names AS (
          (SELECT e.stream FROM ${n.events} AS e WHERE e.stream COLLATE "C" > $1 AND e.stream COLLATE "C" >= $2
            ORDER BY e.stream COLLATE "C" LIMIT 1)
          UNION ALL
          SELECT (SELECT e.stream FROM ${n.events} AS e WHERE e.stream COLLATE "C" > names.stream COLLATE "C"
            ORDER BY e.stream COLLATE "C" LIMIT 1)
          FROM names WHERE starts_with(names.stream, $2)
        )
        ${heads(n, '(SELECT stream FROM names WHERE starts_with(stream, $2) LIMIT $3) AS s')}
        ORDER BY s.stream COLLATE "C"`,
    },
    forward: { name: name('forward'), text: stream('ASC') },
    backward: { name: name('backward'), text: stream('DESC') },
    all: {
      name: name('all'),
      text: `SELECT ${columns} FROM ${n.events} AS e
        WHERE e.position > $1 AND ($2::text[] IS NULL OR e.type = ANY ($2)) AND ($3::text IS NULL OR starts_with(e.stream, $3))
        ORDER BY e.position LIMIT $4`,
    },
    max: { name: name('max'), text: `SELECT coalesce(max(position), 0)::text AS max FROM ${n.events}` },
    byId: { name: name('by_id'), text: `SELECT ${columns} FROM ${n.events} AS e WHERE e.id = ANY ($1::uuid[])` },
    byCorrelation: {
      name: name('by_correlation'),
      text: `SELECT ${columns} FROM ${n.events} AS e WHERE e.correlation_id = $1 AND e.position > $2 ORDER BY e.position LIMIT $3`,
    },
    byCausation: {
      name: name('by_causation'),
      text: `SELECT ${columns} FROM ${n.events} AS e WHERE e.causation_id = ANY ($1::text[]) ORDER BY e.position LIMIT $2`,
    },
    writeSnapshot: {
      name: name('write_snapshot'),
      text: `INSERT INTO ${n.snapshots} (stream, name, version, schema_version, state, event_time)
        VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0))
        ON CONFLICT (stream, name, version) DO UPDATE SET schema_version = excluded.schema_version, state = excluded.state,
          event_time = excluded.event_time`,
    },
    readSnapshot: {
      name: name('read_snapshot'),
      text: `SELECT stream, name, version, schema_version AS "schemaVersion", state, ${ms('event_time')} AS "eventTime"
        FROM ${n.snapshots} WHERE stream = $1 AND name = $2 AND version <= $3 AND event_time <= to_timestamp($4 / 1000.0)
        ORDER BY version DESC LIMIT 1`,
    },
  };
}
