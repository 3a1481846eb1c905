export { defineWorkflow, type AnyWorkflow, type EventOfType, type StartOn, type StepInfo, type StepOptions, type WaitOptions, type WorkflowContext, type WorkflowDefinition } from './define.js';
export type { Duration } from './duration.js';
export { startWorkflows, type ListOptions, type WorkflowEngine, type WorkflowEngineOptions, type WorkflowHandle, type WorkflowInfo } from './engine.js';
export type { WorkflowStatus } from './backend.js';
