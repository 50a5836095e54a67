// Logging into the runtime's logs, attributed to the operator instance.
//
// The runtime rate-limits what an instance may log, so log per batch or on
// rare events rather than per record, and check `enabled` before building an
// expensive message. `console.log` and friends land in the same place.

import { host } from './host.js';

/** The levels of the contract, least severe first. */
export const Level = Object.freeze({
  Trace: 'trace',
  Debug: 'debug',
  Info: 'info',
  Warn: 'warn',
  Error: 'error',
});

const LEVELS = new Set(Object.values(Level));

function checkLevel(level) {
  if (!LEVELS.has(level)) {
    throw new TypeError(`unknown log level ${JSON.stringify(level)}; the levels are: ${[...LEVELS].join(', ')}`);
  }
}

/** Writes one log event. */
export function log(level, message) {
  checkLevel(level);
  host().log(level, String(message));
}

/** Whether an event of `level` would be kept. */
export function enabled(level) {
  checkLevel(level);
  return host().logEnabled(level);
}

export const trace = (message) => log(Level.Trace, message);
export const debug = (message) => log(Level.Debug, message);
export const info = (message) => log(Level.Info, message);
export const warn = (message) => log(Level.Warn, message);
export const error = (message) => log(Level.Error, message);
