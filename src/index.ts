export type { ExpectedVersion, Json, Metadata, NewEvent, RecordedEvent } from './events/types.js';
export {
  ConcurrencyError,
  ConfigurationError,
  DuplicateEventIdError,
  ErrorCode,
  EventTooLargeError,
  EventVersionError,
  FactlineError,
  InvalidStreamNameError,
  StoreClosedError,
  StoreUnavailableError,
  StreamDeletedError,
  ValidationError,
  isConcurrencyError,
  isConfigurationError,
  isDuplicateEventIdError,
  isEventTooLargeError,
  isEventVersionError,
  isFactlineError,
  isInvalidStreamNameError,
  isStoreClosedError,
  isStoreUnavailableError,
  isStreamDeletedError,
  isValidationError,
  isProjectionFailedError,
  isTimeoutError,
  isNonDeterminismError,
  isStepFailedError,
  isWorkflowFailedError,
  NonDeterminismError,
  ProjectionFailedError,
  StepFailedError,
  TimeoutError,
  WorkflowFailedError,
  type ValidationIssue,
} from './events/errors.js';
export { uuidv7 } from './events/uuid.js';
export {
  defineEvents,
  type DefinedEvents,
  type EventDefinition,
  type EventDefinitionMap,
  type EventOf,
  type NewEventOf,
  type Upcaster,
} from './events/definitions.js';
export type {
  AppendOptions,
  AppendResult,
  CausationChain,
  CausationChainOptions,
  CorrelatedOptions,
  DeleteStreamOptions,
  EventStore,
  NewEventFor,
  ReadAllOptions,
  ReadStreamOptions,
  Snapshot,
  StreamInfo,
  ListStreamsOptions,
  StreamSummary,
  SubscribeOptions,
} from './store/event-store.js';
export type { EventsOf, NewEventsOf, StoreFor, StoreOptions } from './store/create-store.js';
export { memoryStore } from './store/memory-store.js';
export { openStore } from './store/open-store.js';
export { defineDecider, handle, load, type Decider, type DeciderStore, type HandleOptions, type Handled, type LoadOptions, type Loaded, type StoreOf } from './decider/index.js';
export { silentLogger, type Logger } from './observability/logger.js';
export {
  checkCompatibility,
  lockEvents,
  type CompatibilityIssue,
  type CompatibilityReport,
  type EventsLock,
  type JsonSchema,
} from './events/compatibility.js';
export * from './projections/index.js';
export * from './workflows/index.js';
export { defineConfig, type DeciderEntry, type FactlineConfig } from './config.js';
export { currentContext, withContext, type MessageContext } from './context/message-context.js';
