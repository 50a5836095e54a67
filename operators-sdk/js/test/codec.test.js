import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { DecodeError, decodeBatch, encodeBatch, encodeKey } from '../src/codec.js';
import { InternalError } from '../src/errors.js';
import { Schema } from '../src/schema.js';

const vectors = JSON.parse(readFileSync(new URL('../../testdata/row-vectors.json', import.meta.url), 'utf8')).vectors;

/** A value of the vectors' JSON as the SDK represents it. */
function fromJson(type, value) {
  if (value === null) return null;
  switch (type) {
    case 'int64':
    case 'timestamp-millis':
      return BigInt(value);
    case 'float64':
      return Number(value);
    case 'binary':
      return Uint8Array.from(Buffer.from(value, 'hex'));
    default:
      return value;
  }
}

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (text) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

describe('the shared row vectors', () => {
  for (const vector of vectors) {
    const schema = new Schema(vector.schema);
    const rows = vector.rows.map((row) => row.map((v, i) => fromJson(vector.schema[i].type, v)));

    test(`${vector.name}: decodes`, () => {
      const decoded = decodeBatch(unhex(vector.hex), schema, { as: 'arrays' });
      assert.equal(decoded.length, rows.length);
      // deepEqual tells -0 from 0 (Object.is), as the vectors require.
      assert.deepEqual(decoded, rows);
    });

    test(`${vector.name}: encodes to exactly the bytes`, () => {
      assert.equal(hex(encodeBatch(schema, rows)), vector.hex);
    });

    test(`${vector.name}: decodes to records keyed by column name`, () => {
      const records = decodeBatch(unhex(vector.hex), schema);
      const expected = rows.map((row) => Object.fromEntries(row.map((v, i) => [vector.schema[i].name, v])));
      assert.deepEqual(records, expected);
      assert.equal(hex(encodeBatch(schema, records)), vector.hex);
    });
  }

  test('the docs example is there, with its bytes', () => {
    const docs = vectors.find((v) => v.name === 'docs-example');
    assert.equal(docs.hex, '020000000200000004020000006869020300000000000000040000000000');
  });
});

describe('decoding rejects malformed batches', () => {
  const schema = new Schema([
    { name: 'word', type: 'utf8', nullable: false },
    { name: 'count', type: 'int64', nullable: true },
  ]);
  const cases = [
    ['a short header', '0100000002', /shorter than its 8-byte header \(byte 0\)/],
    ['another column count', '0100000003000000', /batch has 3 columns, the schema has 2 \(byte 4\)/],
    ['a truncated value', '01000000020000000402000000686902030000', /ends inside a value \(byte 15, row 0, column 1\)/],
    ['a string longer than the batch', '0100000002000000040900000068', /ends inside a value \(byte 8, row 0, column 0\)/],
    ['an unknown tag', '01000000020000000400000000' + '09', /unknown value tag 9 \(byte 13, row 0, column 1\)/],
    ['a tag of another type', '0100000002000000' + '0101' + '00', /column `word`: expected utf8, found boolean/],
    ['a null in a non-nullable column', '0100000002000000' + '00' + '00', /column `word`: expected utf8, found null/],
    ['invalid UTF-8', '0100000002000000' + '0402000000c328' + '00', /not valid UTF-8 \(byte 8, row 0, column 0\)/],
    ['trailing bytes', '0100000002000000' + '0400000000' + '00' + 'ffff', /2 bytes after the last value \(byte 14\)/],
    ['fewer rows than the header says', '0200000002000000' + '0400000000' + '00', /ends inside a value \(byte 14, row 1, column 0\)/],
  ];
  for (const [name, bytes, message] of cases) {
    test(name, () => {
      assert.throws(() => decodeBatch(unhex(bytes), schema), (e) => e instanceof DecodeError && message.test(e.message));
    });
  }

  test('a boolean byte other than 0 or 1', () => {
    const flags = new Schema([{ name: 'b', type: 'boolean' }]);
    assert.throws(() => decodeBatch(unhex('0100000001000000' + '0102'), flags), /boolean byte 2 is neither 0 nor 1/);
  });
});

describe('encoding', () => {
  const schema = new Schema([
    { name: 'n', type: 'int64', nullable: false },
    { name: 'ts', type: 'timestamp-millis', nullable: false },
  ]);

  test('takes safe integer numbers for 64-bit columns, bit for bit as bigints', () => {
    for (const n of [0, 1, -1, 2 ** 32, -(2 ** 32), 2 ** 32 - 1, -(2 ** 31), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      assert.equal(hex(encodeBatch(schema, [[n, n]])), hex(encodeBatch(schema, [[BigInt(n), BigInt(n)]])), `${n}`);
    }
  });

  test('refuses what does not fit, naming the row and column', () => {
    const refused = [
      [[1.5, 0], /row 0, column `n` is the number 1.5, not a safe integer/],
      [[2 ** 53, 0], /not a safe integer/],
      [[2n ** 63n, 0], /outside the 64-bit range/],
      [[0, '1'], /column `ts` is a string, expected timestamp-millis/],
      [[null, 0], /column `n` is null, the column is not nullable/],
      [[0], /row 0 has 1 values, the schema has 2 columns/],
    ];
    for (const [row, message] of refused) {
      assert.throws(() => encodeBatch(schema, [row]), (e) => e instanceof InternalError && message.test(e.message));
    }
    assert.throws(() => encodeBatch(schema, [{ n: 1 }]), /column `ts` is missing/);
  });

  test('grows its buffer across many rows and long values', () => {
    const text = new Schema([{ name: 's', type: 'utf8', nullable: false }]);
    const rows = Array.from({ length: 3000 }, (_, i) => [`row ${i} ${'é'.repeat(i % 500)} 🌊`]);
    rows.push(['x'.repeat(100_000)]);
    assert.deepEqual(decodeBatch(encodeBatch(text, rows), text, { as: 'arrays' }), rows);
  });

  test('writes a lone surrogate as U+FFFD, as TextEncoder does', () => {
    const text = new Schema([{ name: 's', type: 'utf8', nullable: false }]);
    for (const s of ['a\ud800b', '\udc00', 'x\ud83c', '\ud83c\udf0a\ud83c']) {
      const [[decoded]] = decodeBatch(encodeBatch(text, [[s]]), text, { as: 'arrays' });
      assert.equal(decoded, new TextDecoder().decode(new TextEncoder().encode(s)));
    }
  });

  test('rows without columns keep their count', () => {
    const none = new Schema([]);
    assert.equal(hex(encodeBatch(none, [[], []])), '0200000000000000');
    assert.deepEqual(decodeBatch(unhex('0200000000000000'), none), [{}, {}]);
  });
});

describe('keys', () => {
  test('are the row encoding of the key values, without a header', () => {
    const fields = [{ name: 'word', type: 'utf8', nullable: false }];
    assert.equal(hex(encodeKey({ word: 'hi', other: 1 }, new Schema(fields).fields)), '04020000006869');
    const two = new Schema([
      { name: 'k', type: 'int64' },
      { name: 'b', type: 'boolean' },
    ]).fields;
    assert.equal(hex(encodeKey({ k: 3n, b: null }, two)), '02030000000000000000');
  });
});
