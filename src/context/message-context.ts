import { AsyncLocalStorage } from 'node:async_hooks';
import { ValidationError } from '../events/errors.js';
import type { Json, Metadata, NewEvent, RecordedEvent } from '../events/types.js';
import { linkOf, nameProblem } from '../events/validate.js';

/**
 * What the code running now is handling: the correlation it belongs to, the message (command or
 * event) that caused it, and anything else the application tracks (a user, a tenant). Events
 * appended in it get these as metadata; an event's own metadata wins.
 */
export interface MessageContext {
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly userId?: string;
  readonly [key: string]: Json | undefined;
}

const storage = new AsyncLocalStorage<MessageContext>();

/**
 * Runs `fn` in a message context: across its `await`s and timers, every event it appends carries
 * the context's fields as metadata. An inner context adds to the one around it.
 */
export function withContext<T>(context: MessageContext, fn: () => T): T {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new ValidationError([{ path: ['context'], message: 'must be an object such as { correlationId, causationId, userId }' }]);
  }
  if (typeof fn !== 'function') throw new ValidationError([{ path: ['fn'], message: 'must be a function' }]);
  // Refused here, where the mistake is, rather than by every append made in the context.
  for (const key of ['correlationId', 'causationId'] as const) {
    const problem = context[key] === undefined ? undefined : nameProblem(context[key]);
    if (problem) throw new ValidationError([{ path: ['context', key], message: problem }]);
  }
  if (context.userId !== undefined && typeof context.userId !== 'string') throw new ValidationError([{ path: ['context', 'userId'], message: 'must be a string' }]);
  return storage.run({ ...storage.getStore(), ...withoutUndefined(context) }, fn);
}

/** The message context of the code running now, if any. */
export function currentContext(): MessageContext | undefined {
  return storage.getStore();
}

/**
 * Runs a handler of `event` in the event's own context, not the one around the handler's loop:
 * its correlation (the event's, else the event itself starts one), caused by the event, and the
 * event's user.
 */
export function inEventContext<T>(event: RecordedEvent, fn: () => T): T {
  const { correlationId, userId } = event.metadata;
  return storage.run(
    {
      // An event stored before ids were checked may carry one that appends would now refuse.
      correlationId: linkOf(correlationId) ?? event.id,
      causationId: event.id,
      ...(typeof userId === 'string' ? { userId } : {}),
    },
    fn,
  );
}

/** Runs `fn` in exactly `context`, not adding to the one around it (`{}`: none at all). */
export function inContext<T>(context: MessageContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The events with the context's fields added to their metadata (their own fields win). */
export function inheritContext(events: readonly NewEvent[], context: MessageContext | undefined): readonly NewEvent[] {
  const given: unknown = events;
  if (context === undefined || !Array.isArray(given)) return events;
  return events.map((event) => {
    // Bad input is left as it is, for the validation that follows to name.
    const value: unknown = event;
    if (typeof value !== 'object' || value === null) return event;
    const own: unknown = event.metadata;
    if (own !== undefined && (typeof own !== 'object' || own === null || Array.isArray(own))) return event;
    return { ...event, metadata: { ...context, ...(own as Metadata | undefined) } };
  });
}

function withoutUndefined(context: MessageContext): MessageContext {
  return Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined));
}
