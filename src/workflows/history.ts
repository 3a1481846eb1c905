import type { RecordedEvent } from '../events/types.js';

/** The event types of a workflow instance's history stream, `workflow-<name>-<id>`. */
export const H = {
  started: 'WorkflowStarted',
  stepCompleted: 'WorkflowStepCompleted',
  stepFailed: 'WorkflowStepFailed',
  timerScheduled: 'WorkflowTimerScheduled',
  timerFired: 'WorkflowTimerFired',
  eventAwaited: 'WorkflowEventAwaited',
  eventReceived: 'WorkflowEventReceived',
  waitTimedOut: 'WorkflowWaitTimedOut',
  waitFailed: 'WorkflowWaitFailed',
  valueRecorded: 'WorkflowValueRecorded',
  cancelRequested: 'WorkflowCancelRequested',
  compensationCompleted: 'WorkflowCompensationCompleted',
  compensationFailed: 'WorkflowCompensationFailed',
  completed: 'WorkflowCompleted',
  failed: 'WorkflowFailed',
  compensated: 'WorkflowCompensated',
  cancelled: 'WorkflowCancelled',
} as const;

export const historyStream = (name: string, id: string) => `workflow-${name}-${id}`;

/** An error as a history keeps it. */
export interface ErrorRecord {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

/** The error the code gets for a recorded one: the same on the first run and on a replay. */
export function recordedError(record: ErrorRecord): Error {
  return Object.assign(new Error(record.message), { name: record.name }, record.code === undefined ? {} : { code: record.code });
}

export function errorRecord(error: unknown): ErrorRecord {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

/** What the history says about one operation of the workflow's code (by its sequence number). */
export type OpRecord =
  | { kind: 'step'; name: string; attempts: number; done?: { result: unknown }; failed?: ErrorRecord }
  | { kind: 'sleep'; until: number; fired: boolean }
  | { kind: 'wait'; type: string; after: bigint; timeoutAt: number | null; received?: { eventId: string; position: bigint }; timedOut: boolean; failed?: ErrorRecord }
  | { kind: 'now' | 'random'; value: number };

export interface CompensationRecord {
  name: string;
  attempts: number;
  done: boolean;
  failed?: ErrorRecord;
}

export type Ending =
  | { status: 'completed'; result: unknown }
  | { status: 'failed'; error: ErrorRecord; compensationError?: ErrorRecord }
  | { status: 'compensated'; error: ErrorRecord }
  | { status: 'cancelled'; compensationError?: ErrorRecord };

/** A history read back: what each operation did, and how the instance ended if it has. */
export interface History {
  readonly version: number;
  readonly input: unknown;
  /** Waits see events after this position: the head when the instance was started (or its starting event). */
  readonly after: bigint | undefined;
  readonly ops: Map<number, OpRecord>;
  /**
   * The operations whose outcome the history has, in the order the outcomes were recorded: a
   * replay hands outcomes to the code in this order, so its branches run as they first did.
   */
  readonly order: number[];
  readonly compensations: Map<number, CompensationRecord>;
  readonly cancelRequested: boolean;
  readonly ending: Ending | undefined;
  /** The WorkflowStarted event: its id and the correlation and cause it was started with. */
  readonly started: { readonly id: string; readonly correlationId?: string; readonly causationId?: string; readonly userId?: string } | undefined;
}

type Data = Record<string, unknown>;

export function readHistory(events: readonly RecordedEvent[]): History {
  const ops = new Map<number, OpRecord>();
  const order: number[] = [];
  const compensations = new Map<number, CompensationRecord>();
  let input: unknown;
  let after: bigint | undefined;
  let cancelRequested = false;
  let ending: Ending | undefined;
  let started: History['started'];
  for (const event of events) {
    const d = event.data as Data;
    const seq = d.seq as number;
    const op = ops.get(seq);
    switch (event.type) {
      case H.started: {
        input = d.input;
        after = BigInt(d.after as string);
        const { correlationId, causationId, userId } = event.metadata;
        started = {
          id: event.id,
          ...(typeof correlationId === 'string' ? { correlationId } : {}),
          ...(typeof causationId === 'string' ? { causationId } : {}),
          ...(typeof userId === 'string' ? { userId } : {}),
        };
        break;
      }
      case H.stepCompleted:
        ops.set(seq, { kind: 'step', name: d.step as string, attempts: (op?.kind === 'step' ? op.attempts : 0) + 1, done: { result: d.result } });
        order.push(seq);
        break;
      case H.stepFailed:
        ops.set(seq, { kind: 'step', name: d.step as string, attempts: d.attempt as number, ...(d.final ? { failed: d.error as ErrorRecord } : {}) });
        if (d.final) order.push(seq);
        break;
      case H.timerScheduled:
        ops.set(seq, { kind: 'sleep', until: d.until as number, fired: false });
        break;
      case H.timerFired:
        if (op?.kind === 'sleep') op.fired = true;
        order.push(seq);
        break;
      case H.eventAwaited:
        ops.set(seq, { kind: 'wait', type: d.type as string, after: BigInt(d.after as string), timeoutAt: d.timeoutAt as number | null, timedOut: false });
        break;
      case H.eventReceived:
        if (op?.kind === 'wait') op.received = { eventId: d.eventId as string, position: BigInt(d.position as string) };
        order.push(seq);
        break;
      case H.waitTimedOut:
        if (op?.kind === 'wait') op.timedOut = true;
        order.push(seq);
        break;
      case H.waitFailed:
        if (op?.kind === 'wait') op.failed = d.error as ErrorRecord;
        order.push(seq);
        break;
      case H.valueRecorded:
        ops.set(seq, { kind: d.kind as 'now' | 'random', value: d.value as number });
        break;
      case H.cancelRequested:
        cancelRequested = true;
        break;
      case H.compensationCompleted:
      case H.compensationFailed: {
        const index = d.index as number;
        const before = compensations.get(index);
        const done = event.type === H.compensationCompleted;
        compensations.set(index, {
          name: d.name as string,
          attempts: done ? (before?.attempts ?? 0) + 1 : (d.attempt as number),
          done,
          ...(!done && d.final ? { failed: d.error as ErrorRecord } : {}),
        });
        break;
      }
      case H.completed:
        ending = { status: 'completed', result: d.result };
        break;
      case H.failed:
        ending = { status: 'failed', error: d.error as ErrorRecord, ...(d.compensationError ? { compensationError: d.compensationError as ErrorRecord } : {}) };
        break;
      case H.compensated:
        ending = { status: 'compensated', error: d.error as ErrorRecord };
        break;
      case H.cancelled:
        ending = { status: 'cancelled', ...(d.compensationError ? { compensationError: d.compensationError as ErrorRecord } : {}) };
        break;
    }
  }
  const first = events[0];
  return { version: first ? ((first.data as Data).version as number) : 0, input, after, ops, order, compensations, cancelRequested, ending, started };
}
