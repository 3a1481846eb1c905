import type { Metadata, RecordedEvent } from '../events/types.js';
import type { StoredEvent } from './backend.js';

const NO_METADATA: Metadata = Object.freeze({});

/** Turns a stored row into the event a reader sees: the one place JSON text is parsed. */
export function decodeEvent(row: StoredEvent): RecordedEvent {
  return {
    id: row.id,
    stream: row.stream,
    version: row.version,
    position: row.position,
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    metadata: row.metadata === null ? NO_METADATA : (JSON.parse(row.metadata) as Metadata),
    schemaVersion: row.schemaVersion,
    recordedAt: new Date(row.recordedAt),
  };
}
