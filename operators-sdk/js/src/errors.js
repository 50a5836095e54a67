// Errors an operator returns to the runtime. The class decides the
// `error-kind` of the WIT contract, and the kind decides what the runtime
// does next (see README.md).

/** The kinds of the contract's `error-kind`, as it spells them. */
export const ErrorKind = Object.freeze({
  InvalidConfig: 'invalid-config',
  InvalidInput: 'invalid-input',
  Host: 'host',
  Internal: 'internal',
});

const KINDS = new Set(Object.values(ErrorKind));

/**
 * An error with a kind. Throw one of its subclasses; anything else thrown by
 * operator code becomes an `internal` error.
 */
export class OperatorError extends Error {
  constructor(kind, message) {
    super(message);
    if (!KINDS.has(kind)) {
      throw new TypeError(`unknown error kind ${JSON.stringify(kind)}; the kinds are: ${[...KINDS].join(', ')}`);
    }
    this.kind = kind;
  }
}

/** The configuration is unusable: the job fails at once, without restarts. */
export class InvalidConfig extends OperatorError {
  constructor(message) {
    super(ErrorKind.InvalidConfig, message);
  }
}

/** A record could not be processed (bad value, unparsable text). */
export class InvalidInput extends OperatorError {
  constructor(message) {
    super(ErrorKind.InvalidInput, message);
  }
}

/** A host call (keyed state, timers) failed and the operator gave up. */
export class HostError extends OperatorError {
  constructor(message) {
    super(ErrorKind.Host, message);
  }
}

/** A bug or an unexpected condition in the operator. */
export class InternalError extends OperatorError {
  constructor(message) {
    super(ErrorKind.Internal, message);
  }
}

// Set by hand: a bundler that renames classes must not change what a message
// or a stack trace calls them.
for (const [cls, name] of [
  [OperatorError, 'OperatorError'],
  [InvalidConfig, 'InvalidConfig'],
  [InvalidInput, 'InvalidInput'],
  [HostError, 'HostError'],
  [InternalError, 'InternalError'],
]) {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}

/**
 * The `operator-error` record for anything thrown by operator code.
 *
 * An `OperatorError` keeps its kind and message. Anything else is a bug as far
 * as the runtime can tell, so it is `internal`; a plain `Error` gives its
 * message, other error classes (`TypeError`, ...) keep their name in front,
 * since "x is undefined" alone hides that it was a TypeError.
 */
export function toOperatorError(thrown) {
  if (thrown instanceof OperatorError) {
    return { kind: thrown.kind, message: thrown.message };
  }
  return { kind: ErrorKind.Internal, message: describeThrown(thrown) };
}

/** A one-line description of a thrown value of any type. */
export function describeThrown(thrown) {
  if (thrown instanceof Error) {
    const name = thrown.name || 'Error';
    const message = String(thrown.message ?? '');
    if (name === 'Error') return message || 'Error (no message)';
    return message ? `${name}: ${message}` : name;
  }
  if (typeof thrown === 'string') return thrown;
  let text;
  try {
    text = typeof thrown === 'object' && thrown !== null ? JSON.stringify(thrown) : String(thrown);
  } catch {
    text = Object.prototype.toString.call(thrown);
  }
  return `uncaught exception: ${text}`;
}

/**
 * What `abort` throws. The SDK lets it escape the component's export, which
 * the engine turns into a WebAssembly trap: the instance is gone, as after a
 * Rust panic. Under Node it simply propagates out of the operator's call.
 */
export class Abort extends Error {}
Object.defineProperty(Abort.prototype, 'name', { value: 'Abort', writable: true, configurable: true });

/**
 * Stops the operator instance at once with a WebAssembly trap, not an operator
 * error: for a state the instance cannot recover from. The runtime reports
 * the trap with `message` (from the guest's stderr) and applies the job's
 * restart strategy to a fresh instance.
 */
export function abort(message) {
  throw new Abort(`weir-operator: abort: ${message}`);
}
