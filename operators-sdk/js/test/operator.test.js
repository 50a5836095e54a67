import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { decodeBatch, encodeBatch } from '../src/codec.js';
import { Abort } from '../src/errors.js';
import { nativeHost, setHost } from '../src/host.js';
import { defineOperator, InvalidInput, OpenContext, Schema, abort } from '../src/index.js';
import { OperatorSlot } from '../src/operator.js';
import { openOperator } from '../src/testing.js';

// What the operators log (stack traces of uncaught exceptions) is kept here
// rather than printed among the test results.
const logged = [];
before(() => setHost({ ...nativeHost, log: (level, message) => logged.push([level, message]) }));
after(() => setHost(null));

const lines = new Schema([{ name: 'line', type: 'utf8', nullable: true }]);
const words = [{ name: 'word', type: 'utf8', nullable: false }];

/** The contract's open-context, as the component receives it. */
const witContext = (config = '{}') => ({
  operatorName: 'op',
  config,
  inputSchema: { fields: [{ name: 'line', dataType: 'utf8', nullable: true }] },
  keyFields: [],
  subtaskIndex: 0,
  parallelism: 1,
  attempt: 0,
});

function openSlot(definition, config) {
  const slot = new OperatorSlot(definition);
  const opened = slot.open(witContext(config));
  assert.equal(opened.tag, 'ok', JSON.stringify(opened.val));
  return slot;
}

const batchOf = (...values) => encodeBatch(lines, values.map((v) => [v]));
const errOf = (result) => {
  assert.equal(result.tag, 'err');
  return result.val;
};

const splitter = defineOperator({
  open(ctx) {
    this.seen = 0;
    this.prefix = ctx.config({ prefix: '' }).prefix;
    return words;
  },
  process(record, emit) {
    this.seen++;
    if (record.line === 'bad') throw new InvalidInput(`bad line after ${this.seen - 1} lines`);
    for (const word of (record.line ?? '').split(' ')) if (word) emit({ word: this.prefix + word });
  },
  close(emit) {
    emit([`seen ${this.seen}`]);
  },
});

describe('the instance slot', () => {
  test('opens with the output schema and the row encoding', () => {
    const result = new OperatorSlot(splitter).open(witContext());
    assert.deepEqual(result, {
      tag: 'ok',
      val: { outputSchema: { fields: [{ name: 'word', dataType: 'utf8', nullable: false }] }, encoding: 'rows' },
    });
  });

  test('turns batches into batches, and gives each instance its own state', () => {
    const a = openSlot(splitter, '{"prefix": "a:"}');
    const b = openSlot(splitter);
    const out = a.process(batchOf('x y', null, 'z'));
    assert.equal(out.tag, 'ok');
    assert.deepEqual(out.val.flatMap((batch) => decodeBatch(batch, new Schema(words))), [{ word: 'a:x' }, { word: 'a:y' }, { word: 'a:z' }]);
    const closed = b.close();
    assert.deepEqual(decodeBatch(closed.val[0], new Schema(words)), [{ word: 'seen 0' }]);
    assert.deepEqual(decodeBatch(a.close().val[0], new Schema(words)), [{ word: 'seen 3' }]);
  });

  test('an OperatorError keeps its kind and message, and the failed call emits nothing', () => {
    const slot = openSlot(splitter);
    assert.deepEqual(errOf(slot.process(batchOf('ok', 'bad'))), { kind: 'invalid-input', message: 'bad line after 1 lines' });
    // What `ok` emitted before the failure is not sent with the next call.
    const next = slot.process(batchOf('later'));
    assert.deepEqual(decodeBatch(next.val[0], new Schema(words)), [{ word: 'later' }]);
  });

  test('anything else thrown is an internal error with its message', () => {
    const cases = [
      [() => null.x, /^TypeError: /],
      [() => { throw new Error('plain'); }, /^plain$/],
      [() => { throw new RangeError('range'); }, /^RangeError: range$/],
      [() => { throw 'a string'; }, /^a string$/],
      [() => { throw { code: 7 }; }, /^uncaught exception: \{"code":7\}$/],
      [() => { throw 42; }, /^uncaught exception: 42$/],
    ];
    for (const [body, message] of cases) {
      const slot = openSlot(defineOperator({ open: () => words, process: body }));
      const error = errOf(slot.process(batchOf('x')));
      assert.equal(error.kind, 'internal');
      assert.match(error.message, message);
    }
  });

  test("an uncaught exception's stack trace goes to the logs", () => {
    logged.length = 0;
    const slot = openSlot(defineOperator({ open: () => words, process: function explode() { throw new Error('boom'); } }));
    errOf(slot.process(batchOf('x')));
    assert.equal(logged.length, 1);
    assert.equal(logged[0][0], 'error');
    assert.match(logged[0][1], /^uncaught exception in process: boom\nError: boom\n\s+at .*explode/);
  });

  test('open errors: InvalidConfig, a missing schema, a schema with two equal names', () => {
    const bad = (open) => errOf(new OperatorSlot(defineOperator({ open, process() {} })).open(witContext()));
    assert.deepEqual(bad((ctx) => ctx.config({ x: 1, y: 2 }) && ctx.inputSchema.indexOf('nope')), {
      kind: 'invalid-config',
      message: 'the input has no column `nope`; its columns are: `line` (utf8 or null)',
    });
    assert.match(bad(() => undefined).message, /open must return the output schema/);
    assert.match(bad(() => [{ name: 'a', type: 'utf8' }, { name: 'a', type: 'int64' }]).message, /two columns named `a`/);
    assert.match(bad(() => [{ name: 'a', type: 'int32' }]).message, /unknown type "int32"/);
  });

  test('calls before open, and promises, are internal errors', () => {
    assert.match(errOf(new OperatorSlot(splitter).process(batchOf('x'))).message, /process was called before open succeeded/);
    const slot = openSlot(defineOperator({ open: () => words, async process() {} }));
    assert.match(errOf(slot.process(batchOf('x'))).message, /process returned a promise/);
  });

  test('a malformed input batch is invalid input', () => {
    const slot = openSlot(splitter);
    const error = errOf(slot.process(Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 9)));
    assert.deepEqual(error, { kind: 'invalid-input', message: 'malformed input batch: unknown value tag 9 (byte 8, row 0, column 0)' });
  });

  test('emit checks every record against the output schema', () => {
    const schema = [
      { name: 'n', type: 'int64', nullable: false },
      { name: 's', type: 'utf8', nullable: true },
    ];
    const emitting = (record) => openSlot(defineOperator({ open: () => schema, process: (_, emit) => emit(record) }));
    const problems = [
      [{ n: 1n }, /column `s` is missing \(expected utf8 or null; write null for a null\)/],
      [{ n: null, s: null }, /column `n` is null, the column is not nullable \(int64\)/],
      [{ n: '1', s: null }, /column `n` is a string, expected int64/],
      [{ n: 0.5, s: null }, /column `n` is the number 0.5, not a safe integer/],
      [[1n], /emitted a record of 1 values, the output schema has 2 columns/],
      ['x', /emit takes a record/],
    ];
    for (const [record, message] of problems) {
      const error = errOf(emitting(record).process(batchOf('x')));
      assert.equal(error.kind, 'internal');
      assert.match(error.message, message);
    }
    // Keys that are not columns are ignored; numbers are fine for int64.
    const out = emitting({ n: 5, s: null, extra: true }).process(batchOf('x'));
    assert.deepEqual(decodeBatch(out.val[0], new Schema(schema)), [{ n: 5n, s: null }]);
  });

  test('a record emitted unchanged is copied as it came; input records are frozen', () => {
    const schema = new Schema([
      { name: 'id', type: 'int64', nullable: false },
      { name: 'name', type: 'utf8', nullable: true },
    ]);
    const rows = [[1n, 'a'], [2n, null], [3n, 'ç']];
    const input = encodeBatch(schema, rows);
    const passthrough = defineOperator({
      open: (ctx) => ctx.inputSchema,
      processBatch(records, emit) {
        for (const r of records.slice().reverse()) emit(r);
        emit({ ...records[0], name: 'changed' });
      },
    });
    const slot = new OperatorSlot(passthrough);
    slot.open(new OpenContext({ inputSchema: schema }));
    const out = slot.process(input);
    assert.deepEqual(decodeBatch(out.val[0], schema, { as: 'arrays' }), [[3n, 'ç'], [2n, null], [1n, 'a'], [1n, 'changed']]);

    const mutating = new OperatorSlot(defineOperator({ open: (ctx) => ctx.inputSchema, process(r) { r.name = 'x'; } }));
    mutating.open(new OpenContext({ inputSchema: schema }));
    const error = errOf(mutating.process(input));
    assert.equal(error.kind, 'internal');
    assert.match(error.message, /^TypeError: .*read.only/i);
  });

  test('records kept from an earlier batch are encoded again, not copied', () => {
    const schema = new Schema([{ name: 'n', type: 'int64', nullable: false }]);
    let kept = null;
    const slot = new OperatorSlot(
      defineOperator({
        open: (ctx) => ctx.inputSchema,
        processBatch(records, emit) {
          if (kept !== null) emit(kept);
          kept = records[0];
        },
      }),
    );
    slot.open(new OpenContext({ inputSchema: schema }));
    slot.process(encodeBatch(schema, [[7n]]));
    const out = slot.process(encodeBatch(schema, [[8n]]));
    assert.deepEqual(decodeBatch(out.val[0], schema), [{ n: 7n }]);
  });

  test('batches split at the target size', () => {
    const slot = openSlot(defineOperator({ open: () => words, process: (r, emit) => { for (let i = 0; i < 30_000; i++) emit({ word: 'x'.repeat(40) }); } }));
    const out = slot.process(batchOf('go'));
    assert.equal(out.val.length, 2);
    const total = out.val.reduce((n, b) => n + decodeBatch(b, new Schema(words)).length, 0);
    assert.equal(total, 30_000);
  });

  test('watermarks and timers reach the operator as bigints', () => {
    const seen = [];
    const slot = openSlot(
      defineOperator({
        open: () => words,
        process() {},
        onWatermark: (w, emit) => emit({ word: `wm ${typeof w} ${w}` }),
        onTimer: (t) => seen.push(t),
      }),
    );
    const out = slot.onWatermark(1700000000000n);
    assert.deepEqual(decodeBatch(out.val[0], new Schema(words)), [{ word: 'wm bigint 1700000000000' }]);
    const timers = [{ key: Uint8Array.of(1), timestamp: 5n, domain: 'event-time' }, { key: Uint8Array.of(2), timestamp: 6n, domain: 'processing-time' }];
    assert.deepEqual(slot.onTimer(timers), { tag: 'ok', val: [] });
    assert.deepEqual(seen, timers);
  });

  test('abort escapes the slot (the component turns it into a trap), and so does running out of memory', () => {
    const aborting = openSlot(defineOperator({ open: () => words, process: () => abort('gave up') }));
    assert.throws(() => aborting.process(batchOf('x')), (e) => e instanceof Abort && e.message === 'weir-operator: abort: gave up');
    class EngineInternalError extends Error {}
    Object.defineProperty(EngineInternalError.prototype, 'name', { value: 'InternalError' });
    const exhausted = openSlot(defineOperator({ open: () => words, process: () => { throw new EngineInternalError('out of memory'); } }));
    assert.throws(() => exhausted.process(batchOf('x')), (e) => e instanceof Abort && /reached its memory limit/.test(e.message));
  });
});

describe('defineOperator', () => {
  test('needs open and process or processBatch', () => {
    assert.throws(() => defineOperator({ process() {} }), /needs an open\(ctx\) method/);
    assert.throws(() => defineOperator({ open() {} }), /needs a process\(record, emit\) or a processBatch/);
    assert.throws(() => defineOperator({ open() {}, process() {}, close: 3 }), /`close` is not a function/);
    assert.throws(() => defineOperator(null), /an operator is an object/);
  });

  test('takes a class, one new object per instance', () => {
    class Counter {
      open() {
        this.n = 0;
        return [{ name: 'n', type: 'int64', nullable: false }];
      }
      process() {
        this.n++;
      }
      close(emit) {
        emit({ n: this.n });
      }
    }
    const op = openOperator(defineOperator(Counter), { inputSchema: lines });
    op.process([{ line: 'a' }, { line: 'b' }]);
    assert.deepEqual(op.close(), [{ n: 2n }]);
    assert.deepEqual(openOperator(Counter, { inputSchema: lines }).close(), [{ n: 0n }]);
  });
});

describe('the testing harness', () => {
  test('runs an operator on records and raises its errors as classes', () => {
    const op = openOperator(splitter, { inputSchema: lines, config: { prefix: '#' } });
    assert.deepEqual(op.process([{ line: 'a b' }]), [{ word: '#a' }, { word: '#b' }]);
    assert.throws(() => op.process([{ line: 'bad' }]), (e) => e instanceof InvalidInput && e.message === 'bad line after 1 lines');
    assert.throws(() => openOperator(splitter, { inputSchema: lines, config: { prefx: 1 } }), /unknown field `prefx`/);
  });
});
