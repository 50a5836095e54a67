// The component side of the SDK: the contract's imports adapted to the SDK's
// host interface, and the `handler` export over an operator. Only the entry
// module that `weir-operator build` generates imports this file; it cannot
// load under Node, where the `weir:` modules do not exist.
//
// Value conventions of the engine (componentize-qjs): s64 and u64 cross as
// numbers, option<T> as T or null, list<u8> as Uint8Array, records with
// camelCase fields, enums as their case names. A `result` import that fails
// throws an Error whose `payload` is the error value; a `result` export
// fails by throwing its error value. Anything else thrown out of an export,
// or a value of the wrong type handed to an import, traps.

import * as keyedState from 'weir:operator/keyed-state@0.1.0';
import * as hostLog from 'weir:operator/log@0.1.0';
import * as hostMetrics from 'weir:operator/metrics@0.1.0';
import * as hostTimers from 'weir:operator/timers@0.1.0';

import { installGlobals } from './globals.js';
import { HostCallFailure, setHost } from './host.js';
import { OperatorSlot } from './operator.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * An s64 that crossed as a number, back as a bigint. Numbers past 2^53 have
 * lost precision on the way; the extremes (which a host may use for "no
 * watermark yet" or "end of time") round to 2^63, one past the int64 range,
 * so they are clamped back into it.
 */
function s64(n) {
  const big = BigInt(n);
  if (big > INT64_MAX) return INT64_MAX;
  if (big < INT64_MIN) return INT64_MIN;
  return big;
}

function bytes(value) {
  return value instanceof Uint8Array ? value : Uint8Array.from(value);
}

function optionalBytes(value) {
  return value === null || value === undefined ? null : bytes(value);
}

/** Runs a host call, turning its `host-error` into a `HostCallFailure`. */
function call(body) {
  try {
    return body();
  } catch (e) {
    const payload = e?.payload;
    if (payload && typeof payload.tag === 'string') throw new HostCallFailure(payload.tag, String(payload.val ?? ''));
    throw e;
  }
}

function timerToWit(t) {
  return { key: t.key, timestamp: Number(t.timestamp), domain: t.domain };
}

function timerFromWit(t) {
  return { key: bytes(t.key), timestamp: s64(t.timestamp), domain: t.domain };
}

function valueState(inner) {
  return {
    get: (keys) => call(() => inner.get(keys)).map(optionalBytes),
    put: (entries) => call(() => inner.put(entries)),
  };
}

function mapState(inner) {
  return {
    get: (lookups) => call(() => inner.get(lookups)).map(optionalBytes),
    put: (entries) => call(() => inner.put(entries)),
    entries: (key) => call(() => inner.entries(key)).map(([k, v]) => [bytes(k), bytes(v)]),
    clear: (keys) => call(() => inner.clear(keys)),
  };
}

function listState(inner) {
  return {
    get: (keys) => call(() => inner.get(keys)).map((list) => list.map(bytes)),
    append: (entries) => call(() => inner.append(entries)),
    clear: (keys) => call(() => inner.clear(keys)),
  };
}

const componentHost = Object.freeze({
  log: (level, message) => hostLog.log(level, message),
  logEnabled: (level) => hostLog.enabled(level),
  counterAdd: (name, delta) => hostMetrics.counterAdd(name, Number(delta)),
  gaugeSet: (name, value) => hostMetrics.gaugeSet(name, value),
  openValueState: (name) => valueState(call(() => keyedState.ValueState.open(name))),
  openMapState: (name) => mapState(call(() => keyedState.MapState.open(name))),
  openListState: (name) => listState(call(() => keyedState.ListState.open(name))),
  registerTimers: (timers) => call(() => hostTimers.register(timers.map(timerToWit))),
  deleteTimers: (timers) => call(() => hostTimers.delete(timers.map(timerToWit))),
  currentWatermark: () => {
    const watermark = hostTimers.currentWatermark();
    return watermark === null || watermark === undefined ? null : s64(watermark);
  },
  currentProcessingTime: () => s64(hostTimers.currentProcessingTime()),
});

setHost(componentHost);
installGlobals();

function unwrap(result) {
  if (result.tag === 'ok') return result.val;
  throw result.val;
}

/** The `handler` export of the contract, driving one instance of `operator`. */
export function exportOperator(operator) {
  const slot = new OperatorSlot(operator);
  return {
    open: (context) => unwrap(slot.open(context)),
    process: (batch) => unwrap(slot.process(bytes(batch))),
    onWatermark: (watermark) => unwrap(slot.onWatermark(s64(watermark))),
    onTimer: (fired) => unwrap(slot.onTimer(fired.map(timerFromWit))),
    close: () => unwrap(slot.close()),
  };
}
