import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { InvalidConfig } from 'weir-operator';
import { openOperator } from 'weir-operator/testing';

import tokenize, { forEachWord } from '../operator.js';

const defaults = { lowercase: true, minLength: 1 };

function words(text, config = defaults) {
  const got = [];
  forEachWord(text, config, (word) => got.push(word));
  return got;
}

test('splits on everything but letters, digits and apostrophes', () => {
  assert.deepEqual(words("The weir's 'gate', mill-race & 1890s!"), ['the', "weir's", 'gate', 'mill', 'race', '1890s']);
  assert.deepEqual(words(" '' -- ' "), []);
});

test('keeps case and drops short words when asked', () => {
  assert.deepEqual(words('A Weir on the Río', { lowercase: false, minLength: 3 }), ['Weir', 'the', 'Río']);
});

test('lowercases character by character, as Rust does', () => {
  // A final capital sigma stays a plain sigma; non-Latin letters and digits
  // are word characters.
  assert.deepEqual(words('ΟΔΟΣ Ⅻ ٣ 東京'), ['οδοσ', 'ⅻ', '٣', '東京']);
  // Length counts characters after lowercasing: İ becomes two.
  assert.deepEqual(words('İ', { lowercase: true, minLength: 2 }), ['i̇']);
});

test('rejects unknown config fields', () => {
  assert.throws(
    () => openOperator(tokenize, { inputSchema: [{ name: 'line', type: 'utf8' }], config: { lowercase: true, minLen: 2 } }),
    (e) => e instanceof InvalidConfig && /minLen/.test(e.message),
  );
});

test('needs a line column', () => {
  assert.throws(() => openOperator(tokenize, { inputSchema: [{ name: 'text', type: 'utf8' }] }), /no column `line`/);
});

test('tokenizes a batch, skipping null lines', () => {
  const op = openOperator(tokenize, { inputSchema: [{ name: 'line', type: 'utf8', nullable: true }] });
  assert.deepEqual(op.process([{ line: 'Water, water!' }, { line: null }, { line: 'Weir' }]), [
    { word: 'water' },
    { word: 'water' },
    { word: 'weir' },
  ]);
});

// expected.txt was computed by a separate script from the rule; the
// operator must agree with it.
test('agrees with the expected counts of the example', () => {
  const input = readFileSync(new URL('../../../wordcount/input.txt', import.meta.url), 'utf8');
  const counts = new Map();
  for (const line of input.split('\n')) {
    for (const word of words(line)) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const got = sorted.map(([word, n]) => `${word}\t${n}\n`).join('');
  assert.equal(got, readFileSync(new URL('../../../wordcount/expected.txt', import.meta.url), 'utf8'));
});
