export { defineDecider, type Decider } from './decider.js';
export { handle, type HandleOptions, type Handled } from './handle.js';
export { load, type DeciderStore, type LoadOptions, type Loaded, type StoreOf } from './load.js';
