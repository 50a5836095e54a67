// Operators and the instance the contract's calls drive.

import { DecodeError, decodeInput } from './codec.js';
import { OpenContext } from './context.js';
import { Abort, InternalError, InvalidInput, OperatorError, describeThrown, toOperatorError } from './errors.js';
import { host } from './host.js';
import { Output } from './output.js';
import { Field, Schema } from './schema.js';

const METHODS = ['open', 'process', 'processBatch', 'onWatermark', 'onTimer', 'close'];

/** The prototype whose methods an operator definition provides. */
function methodsOf(definition) {
  if (typeof definition === 'function') return definition.prototype ?? {};
  return definition;
}

function checkDefinition(definition) {
  if (definition === null || (typeof definition !== 'object' && typeof definition !== 'function')) {
    throw new TypeError(
      `an operator is an object (or a class) with open(ctx) and process(record, emit) methods, got ${definition === null ? 'null' : typeof definition}`,
    );
  }
  const methods = methodsOf(definition);
  if (typeof methods.open !== 'function') {
    throw new TypeError('an operator needs an open(ctx) method that returns its output schema');
  }
  if (typeof methods.process !== 'function' && typeof methods.processBatch !== 'function') {
    throw new TypeError('an operator needs a process(record, emit) or a processBatch(records, emit) method');
  }
  for (const name of METHODS) {
    if (methods[name] !== undefined && typeof methods[name] !== 'function') {
      throw new TypeError(`the operator's \`${name}\` is not a function`);
    }
  }
}

/**
 * Declares an operator: an object literal (or a class) with the methods
 *
 *   open(ctx)                   -> the output schema (required)
 *   process(record, emit)       per input record
 *   processBatch(records, emit) per input batch (default: process each record)
 *   onWatermark(watermark, emit)
 *   onTimer(timer, emit)
 *   close(emit)
 *
 * Each instance of the operator gets its own object whose prototype is the
 * definition (or a `new` instance of the class), so `this.x = ...` in `open`
 * keeps per-instance state. Export the result as the module's default export.
 */
export function defineOperator(definition) {
  checkDefinition(definition);
  return definition;
}

function newInstance(definition) {
  if (typeof definition === 'function') return new definition();
  return Object.create(definition);
}

/** A method's result must not be a promise: the runtime calls synchronously. */
function checkSync(method, result) {
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    throw new InternalError(
      `${method} returned a promise: operator methods must be synchronous (there is no event loop between calls)`,
    );
  }
  return result;
}

const ok = (val) => ({ tag: 'ok', val });
const err = (val) => ({ tag: 'err', val });

/**
 * What the contract's exports call: one operator instance slot. Each method
 * takes the contract's values (open-context, batch bytes, watermark as a
 * bigint, timers) and returns `{tag: 'ok', val}` or `{tag: 'err', val:
 * {kind, message}}`. It throws only what `abort` throws, which must trap.
 */
export class OperatorSlot {
  constructor(definition) {
    checkDefinition(definition);
    this.definition = definition;
    this.instance = null;
    this.inputSchema = null;
    this.output = null;
    this.passesRecords = false;
  }

  /** `context` is the contract's open-context (or an `OpenContext`). */
  open(context) {
    return this._guard('open', () => {
      // A failed open leaves no instance behind to call.
      this.instance = null;
      const ctx = context instanceof OpenContext ? context : contextFromWit(context);
      const instance = newInstance(this.definition);
      const returned = checkSync('open', instance.open(ctx));
      if (returned === undefined) {
        throw new InternalError(
          'open must return the output schema (for example `return ctx.inputSchema` to pass records through)',
        );
      }
      const schema = Schema.from(returned);
      this.instance = instance;
      this.inputSchema = ctx.inputSchema;
      this.output = new Output(schema);
      // Rows without columns have no bytes to copy (see `Output.setSource`).
      this.passesRecords = schema.length > 0 && schema.equals(ctx.inputSchema);
      return { outputSchema: schemaToWit(schema), encoding: 'rows' };
    });
  }

  process(batch) {
    return this._call('process', (instance, emit) => {
      let input;
      try {
        input = decodeInput(batch, this.inputSchema);
      } catch (e) {
        if (e instanceof DecodeError) throw new InvalidInput(`malformed input batch: ${e.message}`);
        throw e;
      }
      const records = input.records;
      if (this.passesRecords) this.output.setSource(batch, records, input.offsets);
      if (typeof instance.processBatch === 'function') {
        checkSync('processBatch', instance.processBatch(records, emit));
      } else {
        for (let i = 0; i < records.length; i++) checkSync('process', instance.process(records[i], emit));
      }
      this.output.clearSource();
    });
  }

  onWatermark(watermark) {
    return this._call('onWatermark', (instance, emit) => {
      if (typeof instance.onWatermark === 'function') checkSync('onWatermark', instance.onWatermark(watermark, emit));
    });
  }

  onTimer(fired) {
    return this._call('onTimer', (instance, emit) => {
      if (typeof instance.onTimer !== 'function') return;
      for (const timer of fired) checkSync('onTimer', instance.onTimer(timer, emit));
    });
  }

  close() {
    return this._call('close', (instance, emit) => {
      if (typeof instance.close === 'function') checkSync('close', instance.close(emit));
    });
  }

  /** Runs a call that emits records; its batches on success. */
  _call(method, body) {
    return this._guard(method, () => {
      if (this.instance === null) throw new InternalError(`${method} was called before open succeeded`);
      try {
        body(this.instance, this.output.emit);
      } catch (e) {
        // The runtime discards a failed call's output; the next call must not
        // send it again.
        this.output.discard();
        throw e;
      }
      return this.output.takeBatches();
    });
  }

  _guard(method, body) {
    try {
      return ok(body());
    } catch (e) {
      if (e instanceof Abort) throw e;
      if (isOutOfMemory(e)) {
        throw new Abort(`${method} ran out of memory: the operator instance reached its memory limit`);
      }
      if (!(e instanceof OperatorError)) reportUncaught(method, e);
      return err(toOperatorError(e));
    }
  }
}

/**
 * Whether the engine gave up allocating. QuickJS reports it as a catchable
 * `InternalError` (its own class, not the SDK's), but an instance whose
 * allocations fail cannot be trusted with another call: it must trap, so
 * that the runtime replaces it, as it does for a Rust operator.
 */
function isOutOfMemory(thrown) {
  return (
    thrown instanceof Error &&
    !(thrown instanceof OperatorError) &&
    thrown.name === 'InternalError' &&
    thrown.message === 'out of memory'
  );
}

/**
 * Logs where an exception that is not an `OperatorError` came from: its
 * message becomes the operator error, and the stack trace, which helps find
 * the bug but would clutter that message, goes to the logs.
 */
function reportUncaught(method, thrown) {
  const stack = thrown instanceof Error && typeof thrown.stack === 'string' ? thrown.stack.trim() : '';
  if (stack === '') return;
  try {
    host().log('error', `uncaught exception in ${method}: ${describeThrown(thrown)}\n${stack}`);
  } catch {
    // Logging is best effort; the error itself still reaches the runtime.
  }
}

function contextFromWit(context) {
  return new OpenContext({
    operatorName: context.operatorName,
    config: context.config,
    inputSchema: schemaFromWit(context.inputSchema),
    keyFields: context.keyFields,
    subtaskIndex: context.subtaskIndex,
    parallelism: context.parallelism,
    attempt: context.attempt,
  });
}

/** The contract's `schema` record (`{fields: [{name, dataType, nullable}]}`) as a `Schema`. */
export function schemaFromWit(schema) {
  return new Schema(schema.fields.map((f) => new Field(f.name, f.dataType, f.nullable)));
}

/** A `Schema` as the contract's `schema` record. */
export function schemaToWit(schema) {
  return { fields: schema.fields.map((f) => ({ name: f.name, dataType: f.type, nullable: f.nullable })) };
}
