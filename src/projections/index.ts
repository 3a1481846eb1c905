export { defineProjection, defineReactor, type FailurePolicy, type ProjectionContext, type ProjectionDefinition, type ReactorContext, type ReactorDefinition, type Runnable } from './define.js';
export type { DocumentCollection, DocumentData, FoundPage } from './documents.js';
export type { FieldCondition, FindOptions } from './query.js';
export { startProjections, waitForProjections, type ProjectionDaemon, type ProjectionDaemonOptions, type ProjectionStatus, type WaitForOptions } from './daemon.js';
export { rebuildProjection, type RebuildOptions, type RebuildProgress } from './rebuild.js';
export { deadLetters } from './dead-letters.js';
export type { RunnerState } from './runner.js';
export type { FailureInfo } from './runner.js';
