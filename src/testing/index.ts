export { SpecificationError, given, type Given, type When } from './given.js';
