// User metrics, exported by the runtime next to its own, with the job and
// operator in their names. Each call crosses into the host: count per batch,
// not per record.

import { host } from './host.js';

const U64_MAX = 2n ** 64n - 1n;

/** Adds `delta` (a non-negative integer, number or bigint) to a counter. */
export function counterAdd(name, delta) {
  const ok =
    typeof delta === 'bigint' ? delta >= 0n && delta <= U64_MAX : Number.isSafeInteger(delta) && delta >= 0;
  if (!ok) {
    throw new RangeError(`counter \`${name}\`: the delta must be a non-negative integer, got ${String(delta)}`);
  }
  host().counterAdd(String(name), delta);
}

/** Sets a gauge to `value` (a number). */
export function gaugeSet(name, value) {
  if (typeof value !== 'number') {
    throw new TypeError(`gauge \`${name}\`: the value must be a number, got ${typeof value}`);
  }
  host().gaugeSet(String(name), value);
}
