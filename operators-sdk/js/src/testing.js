// Running an operator under Node, for unit tests: the same instance slot a
// component uses, fed with records encoded as the runtime would encode them,
// answering with the records the operator emitted.
//
//   import { openOperator } from 'weir-operator/testing';
//   const op = openOperator(tokenize, {
//     inputSchema: [{ name: 'line', type: 'utf8' }],
//     config: { minLength: 2 },
//   });
//   assert.deepEqual(op.process([{ line: 'a weir' }]), [{ word: 'weir' }]);
//
// Outside a runtime, logs go to stderr, metrics are dropped, and keyed state
// and timers report themselves unavailable (a `HostError`).

import { decodeBatch, encodeBatch } from './codec.js';
import { OpenContext } from './context.js';
import { ErrorKind, HostError, InternalError, InvalidConfig, InvalidInput } from './errors.js';
import { OperatorSlot, schemaFromWit } from './operator.js';

const ERRORS = {
  [ErrorKind.InvalidConfig]: InvalidConfig,
  [ErrorKind.InvalidInput]: InvalidInput,
  [ErrorKind.Host]: HostError,
  [ErrorKind.Internal]: InternalError,
};

/** Turns an `operator-error` back into the matching exception class. */
function raise({ kind, message }) {
  throw new ERRORS[kind](message);
}

/** One opened operator instance. */
export class OperatorHarness {
  constructor(slot, context, outputSchema) {
    this.slot = slot;
    this.context = context;
    /** The schema `open` declared. */
    this.outputSchema = outputSchema;
  }

  _records(result) {
    if (result.tag === 'err') raise(result.val);
    return result.val.flatMap((batch) => decodeBatch(batch, this.outputSchema));
  }

  /**
   * Feeds one input batch: `records` are objects keyed by column name (or
   * arrays in column order) of the input schema. Returns what the operator
   * emitted, as records; throws the operator's error as an `OperatorError`.
   */
  process(records) {
    return this._records(this.slot.process(encodeBatch(this.context.inputSchema, records)));
  }

  /** The watermark advances to `watermark` (a bigint or safe integer). */
  onWatermark(watermark) {
    return this._records(this.slot.onWatermark(BigInt(watermark)));
  }

  /** Timers fire: `{key, timestamp, domain}` objects, in order. */
  onTimer(timers) {
    return this._records(
      this.slot.onTimer(timers.map((t) => ({ ...t, timestamp: BigInt(t.timestamp), domain: t.domain ?? 'event-time' }))),
    );
  }

  /** The input ends. */
  close() {
    return this._records(this.slot.close());
  }
}

/**
 * Opens `operator` (what `defineOperator` returned) as the runtime would.
 * `options` are those of `OpenContext` (`inputSchema`, `config` as an object
 * or JSON text, `operatorName`, `keyFields`, `subtaskIndex`, `parallelism`,
 * `attempt`). Throws the operator's error if `open` fails.
 */
export function openOperator(operator, options = {}) {
  const context = options instanceof OpenContext ? options : new OpenContext(options);
  const slot = new OperatorSlot(operator);
  const result = slot.open(context);
  if (result.tag === 'err') raise(result.val);
  return new OperatorHarness(slot, context, schemaFromWit(result.val.outputSchema));
}
