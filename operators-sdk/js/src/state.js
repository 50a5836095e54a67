// Keyed state owned by the runtime.
//
// State survives failures because it lives in the host, not in the
// component's memory: the runtime snapshots it at checkpoints, restores it
// after a failure and redistributes it by key when a job is rescaled. It is
// scoped to a key of the operator's keyed input (`keyBy` in the job spec), and
// every operation is batched: collect the keys of a batch, then make one call.
//
// Keys and values are Uint8Arrays; encode values as you like (JSON through
// your own UTF-8 step, fixed-width integers with a DataView, ...). A failed
// host call throws a `HostError` (kind `host`) carrying the runtime's
// message, for example when the operator's input is not keyed.

import { encodeKey } from './codec.js';
import { HostError, InternalError } from './errors.js';
import { HostCallFailure, host } from './host.js';
import { Field } from './schema.js';

const CAUSES = {
  unavailable: 'unavailable',
  'limit-exceeded': 'limit exceeded',
  'invalid-argument': 'invalid argument',
};

/** Turns a host failure into a `HostError` that keeps the host's message. */
export function hostError(what, failure) {
  if (!(failure instanceof HostCallFailure)) return failure;
  return new HostError(`${what}: ${CAUSES[failure.cause] ?? failure.cause}: ${failure.message}`);
}

/** Runs a host call, turning its failure into a `HostError`. */
export function hostCall(what, call) {
  try {
    return call();
  } catch (failure) {
    throw hostError(what, failure);
  }
}

/**
 * The keyed-state key of `record` over the key columns `fields` (the input
 * schema's fields named by `ctx.keyFields`, which `ctx.keyColumns` resolves):
 * the row encoding of each value, one after another.
 */
export function keyOf(record, fields) {
  if (record === null || typeof record !== 'object') {
    throw new InternalError(`keyOf: expected a record, got ${record === null ? 'null' : typeof record}`);
  }
  return encodeKey(record, fields.map(Field.from));
}

function checkBytes(what, value, index) {
  if (!(value instanceof Uint8Array)) {
    throw new InternalError(`${what}: item ${index} is not a Uint8Array`);
  }
}

function checkOptionalBytes(what, value, index) {
  if (value !== null) checkBytes(what, value, index);
}

class StateHandle {
  constructor(kind, name, open) {
    this.name = String(name);
    this._what = `${kind} \`${this.name}\``;
    this._inner = hostCall(this._what, () => open(this.name));
  }

  _call(call) {
    return hostCall(this._what, call);
  }
}

/** One value per key. */
export class ValueState extends StateHandle {
  /**
   * Opens (creating on first use) the value state called `name`. Names are
   * scoped to the operator; the same name always opens the same state, also
   * after a restore. Open once, in `open`, and keep the handle.
   */
  static open(name) {
    return new ValueState('value state', name, (n) => host().openValueState(n));
  }

  /** The value of each key, in order; `null` where a key has none. */
  get(keys) {
    keys.forEach((k, i) => checkBytes(`${this._what}: get`, k, i));
    return this._call(() => this._inner.get(keys));
  }

  /** Sets each `[key, value]`, in order; a `null` value clears the key. */
  put(entries) {
    entries.forEach(([k, v], i) => {
      checkBytes(`${this._what}: put: key`, k, i);
      checkOptionalBytes(`${this._what}: put: value`, v, i);
    });
    this._call(() => this._inner.put(entries));
  }
}

/** A map from user keys to values, per key. */
export class MapState extends StateHandle {
  static open(name) {
    return new MapState('map state', name, (n) => host().openMapState(n));
  }

  /** The value under each `[key, userKey]`, in order; `null` where none. */
  get(lookups) {
    lookups.forEach(([k, u], i) => {
      checkBytes(`${this._what}: get: key`, k, i);
      checkBytes(`${this._what}: get: user key`, u, i);
    });
    return this._call(() => this._inner.get(lookups));
  }

  /** Sets each `[key, userKey, value]`; a `null` value removes the entry. */
  put(entries) {
    entries.forEach(([k, u, v], i) => {
      checkBytes(`${this._what}: put: key`, k, i);
      checkBytes(`${this._what}: put: user key`, u, i);
      checkOptionalBytes(`${this._what}: put: value`, v, i);
    });
    this._call(() => this._inner.put(entries));
  }

  /** Every `[userKey, value]` of one key, in user-key byte order. */
  entries(key) {
    checkBytes(`${this._what}: entries`, key, 0);
    return this._call(() => this._inner.entries(key));
  }

  /** Removes the whole map of each key. */
  clear(keys) {
    keys.forEach((k, i) => checkBytes(`${this._what}: clear`, k, i));
    this._call(() => this._inner.clear(keys));
  }
}

/** An append-only list of values, per key. */
export class ListState extends StateHandle {
  static open(name) {
    return new ListState('list state', name, (n) => host().openListState(n));
  }

  /** The list of each key, in order (empty where a key has none). */
  get(keys) {
    keys.forEach((k, i) => checkBytes(`${this._what}: get`, k, i));
    return this._call(() => this._inner.get(keys));
  }

  /** Appends each `[key, value]` to its key's list. */
  append(entries) {
    entries.forEach(([k, v], i) => {
      checkBytes(`${this._what}: append: key`, k, i);
      checkBytes(`${this._what}: append: value`, v, i);
    });
    this._call(() => this._inner.append(entries));
  }

  /** Empties the list of each key. */
  clear(keys) {
    keys.forEach((k, i) => checkBytes(`${this._what}: clear`, k, i));
    this._call(() => this._inner.clear(keys));
  }
}
