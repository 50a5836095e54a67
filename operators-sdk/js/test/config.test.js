import assert from 'node:assert/strict';
import { test } from 'node:test';

import { InvalidConfig, OpenContext, param } from '../src/index.js';

const ctx = (config) => new OpenContext({ operatorName: 'tok', config });
const rejects = (config, spec, message) =>
  assert.throws(
    () => ctx(config).config(spec),
    (e) => e instanceof InvalidConfig && e.kind === 'invalid-config' && message.test(e.message),
  );

const spec = {
  lowercase: true,
  minLength: param.integer(1, { min: 0 }),
  prefix: '',
  ratio: param.number(0.5, { max: 1 }),
  failOnId: param.integer(),
  mode: param.oneOf(['a', 'b'], 'a'),
  tags: param.array([], param.string()),
};

test('fills in defaults, also for an empty or missing config', () => {
  const expected = { lowercase: true, minLength: 1, prefix: '', ratio: 0.5, failOnId: undefined, mode: 'a', tags: [] };
  assert.deepEqual(ctx('{}').config(spec), expected);
  assert.deepEqual(ctx('').config(spec), expected);
  assert.deepEqual(ctx({ prefix: null }).config(spec), expected);
});

test('takes values of the right type', () => {
  const got = ctx({ lowercase: false, minLength: 3, failOnId: -7, mode: 'b', tags: ['x'], ratio: 1 }).config(spec);
  assert.equal(got.lowercase, false);
  assert.equal(got.minLength, 3);
  assert.equal(got.failOnId, -7);
  assert.equal(got.mode, 'b');
  assert.deepEqual(got.tags, ['x']);
});

test('names unknown fields and lists the known ones', () => {
  rejects({ lowercase: true, minLen: 2 }, spec, /invalid config of operator `tok`: unknown field `minLen`; the known fields are: `lowercase`, `minLength`/);
});

test('names fields of the wrong type or out of range', () => {
  rejects({ lowercase: 'yes' }, spec, /field `lowercase`: expected a boolean, found a string "yes"/);
  rejects({ minLength: 1.5 }, spec, /field `minLength`: expected an integer, found a number 1.5/);
  rejects({ minLength: -1 }, spec, /field `minLength`: the integer -1 is less than 0/);
  rejects({ ratio: 2 }, spec, /field `ratio`: the number 2 is more than 1/);
  rejects({ mode: 'c' }, spec, /field `mode`: expected one of "a", "b", found a string "c"/);
  rejects({ tags: ['x', 3] }, spec, /field `tags`: item 1: expected a string, found a number 3/);
  rejects({ prefix: {} }, spec, /field `prefix`: expected a string, found an object/);
});

test('required fields, invalid JSON and non-objects', () => {
  rejects({}, { mode: param.string().required() }, /field `mode` is required/);
  rejects('{"a":', {}, /invalid config of operator `tok`: not valid JSON/);
  rejects('[1]', {}, /expected a mapping of fields, found an array/);
});

test('without a spec, the parsed JSON as it is', () => {
  assert.deepEqual(ctx('{"anything": [1, {"x": null}]}').config(), { anything: [1, { x: null }] });
});

test('a spec entry must be a default or a param', () => {
  assert.throws(() => ctx('{}').config({ x: {} }), /config spec: field `x`/);
});
