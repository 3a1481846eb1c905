/**
 * What Factline logs through: the shape of pino's methods (an object of fields, then a message),
 * so a pino logger, or anything shaped like one, can be handed in. Silent unless one is.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

const nothing = () => {};

export const silentLogger: Logger = { debug: nothing, info: nothing, warn: nothing, error: nothing };
