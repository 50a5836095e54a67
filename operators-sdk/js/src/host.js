// The host imports of the WIT world (log, metrics, keyed-state, timers), behind
// one object so that the SDK runs in two places:
//
// - inside a component, the build's entry module installs an adapter over the
//   real imports (src/wasm-host.js) before anything else runs;
// - under Node (an operator's unit tests, the SDK's own), stand-ins answer:
//   logs go to stderr, metrics are dropped, and keyed state and timers report
//   themselves unavailable, exactly as a runtime does for an operator whose
//   input is not keyed.
//
// Every host call that can fail throws a `HostCallFailure`, the WIT
// `host-error` variant: `cause` is its case, `message` the host's text.

export class HostCallFailure extends Error {
  /**
   * @param {'unavailable' | 'limit-exceeded' | 'invalid-argument'} cause
   * @param {string} message
   */
  constructor(cause, message) {
    super(message);
    this.cause = cause;
  }
}
Object.defineProperty(HostCallFailure.prototype, 'name', { value: 'HostCallFailure', writable: true, configurable: true });

function outsideRuntime() {
  return new HostCallFailure('unavailable', 'keyed state and timers exist only inside a Weir runtime');
}

function unavailableState() {
  throw outsideRuntime();
}

/** The stand-ins used outside a Weir runtime. */
export const nativeHost = Object.freeze({
  log(level, message) {
    globalThis.console?.error(`[${level}] ${message}`);
  },
  logEnabled() {
    return true;
  },
  counterAdd() {},
  gaugeSet() {},
  openValueState: unavailableState,
  openMapState: unavailableState,
  openListState: unavailableState,
  registerTimers() {
    throw outsideRuntime();
  },
  deleteTimers() {
    throw outsideRuntime();
  },
  currentWatermark() {
    return null;
  },
  currentProcessingTime() {
    return BigInt(Date.now());
  },
});

let current = nativeHost;

/** The host in use. */
export function host() {
  return current;
}

/**
 * Replaces the host; returns the previous one. The component entry calls it
 * once at start-up; tests use it to observe what an operator logs or counts.
 */
export function setHost(next) {
  const previous = current;
  current = next ?? nativeHost;
  return previous;
}
