// Time, owned by the runtime: register timers per key; they fire through the
// operator's `onTimer` and are part of checkpointed state.
//
// Outside a Weir runtime (unit tests under Node) registering fails with a
// `HostError`, there is no watermark, and processing time is the system clock.

import { InternalError } from './errors.js';
import { host } from './host.js';
import { hostCall } from './state.js';

export const TimeDomain = Object.freeze({
  /** Fires when the watermark passes the timer's timestamp. */
  EventTime: 'event-time',
  /** Fires when the TaskManager's clock passes the timer's timestamp. */
  ProcessingTime: 'processing-time',
});

const DOMAINS = new Set(Object.values(TimeDomain));
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A timer for `key` (see `keyOf`) at `timestamp` milliseconds since the Unix
 * epoch (a bigint, or a number that is a safe integer).
 */
export function timer(key, timestamp, domain = TimeDomain.EventTime) {
  return normalize({ key, timestamp, domain }, 0);
}

function normalize(t, index) {
  if (t === null || typeof t !== 'object') throw new InternalError(`timer ${index} is not an object`);
  if (!(t.key instanceof Uint8Array)) throw new InternalError(`timer ${index}: the key is not a Uint8Array`);
  let timestamp = t.timestamp;
  if (typeof timestamp === 'number' && Number.isSafeInteger(timestamp)) timestamp = BigInt(timestamp);
  if (typeof timestamp !== 'bigint' || timestamp < INT64_MIN || timestamp > INT64_MAX) {
    throw new InternalError(`timer ${index}: the timestamp must be a 64-bit integer (a bigint), got ${String(t.timestamp)}`);
  }
  if (!DOMAINS.has(t.domain)) {
    throw new InternalError(`timer ${index}: unknown domain ${JSON.stringify(t.domain)}; the domains are: ${[...DOMAINS].join(', ')}`);
  }
  return { key: t.key, timestamp, domain: t.domain };
}

/** Registers timers; registering the same (key, timestamp, domain) twice keeps one. */
export function register(timers) {
  const checked = timers.map(normalize);
  hostCall('registering timers', () => host().registerTimers(checked));
}

/** Deletes timers registered earlier. */
function deleteTimers(timers) {
  const checked = timers.map(normalize);
  hostCall('deleting timers', () => host().deleteTimers(checked));
}
export { deleteTimers as delete };

/** The operator's current watermark (a bigint), or `null` before the first. */
export function currentWatermark() {
  return host().currentWatermark();
}

/**
 * The runtime's clock, in milliseconds since the Unix epoch (a bigint). Unlike
 * `Date.now()`, which reads 0 unless the job grants the wall clock, this is
 * always available.
 */
export function currentProcessingTime() {
  return host().currentProcessingTime();
}
