import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeUtf8, decodeUtf8Lossy, encodeUtf8Into, utf8Length } from '../src/utf8.js';

const samples = ['', 'hi', 'Zoë 日本 🌊', 'a"b\\c\n', '\u0000\u007f\u0080\u07ff\u0800\uffff', '\u{10000}\u{10ffff}', 'x'.repeat(10_000) + 'é'];

function encode(text) {
  const bytes = new Uint8Array(utf8Length(text));
  assert.equal(encodeUtf8Into(text, bytes, 0), bytes.length);
  return bytes;
}

test('encodes as TextEncoder does', () => {
  for (const text of samples) assert.deepEqual(encode(text), new TextEncoder().encode(text), JSON.stringify(text.slice(0, 20)));
});

test('decodes valid UTF-8 and round-trips', () => {
  for (const text of samples) {
    const bytes = new TextEncoder().encode(text);
    assert.equal(decodeUtf8(bytes, 0, bytes.length), text);
  }
  // Long non-ASCII text crosses the chunks of String.fromCharCode.
  const long = '日本🌊'.repeat(5000);
  const bytes = new TextEncoder().encode(long);
  assert.equal(decodeUtf8(bytes, 0, bytes.length), long);
});

test('rejects what Rust and a fatal TextDecoder reject, and is lossy like TextDecoder', () => {
  const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const lossy = new TextDecoder('utf-8', { ignoreBOM: true });
  const invalid = [
    [0x80],
    [0xc0, 0x80], // overlong
    [0xc2],
    [0xe0, 0x80, 0x80], // overlong
    [0xed, 0xa0, 0x80], // a surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0xf5, 0x80, 0x80, 0x80],
    [0xf0, 0x9f, 0x8c], // truncated
    [0x61, 0xe2, 0x82, 0x62, 0xff, 0x63],
  ];
  for (const bytes of invalid.map((b) => Uint8Array.from(b))) {
    assert.equal(decodeUtf8(bytes, 0, bytes.length), null, `${bytes}`);
    assert.throws(() => fatal.decode(bytes));
    assert.equal(decodeUtf8Lossy(bytes, 0, bytes.length), lossy.decode(bytes), `${bytes}`);
  }
  // Every single byte and pair of bytes agrees with the standard decoder.
  for (let a = 0; a < 256; a++) {
    for (const b of [0x00, 0x41, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff]) {
      const bytes = Uint8Array.of(a, b);
      assert.equal(decodeUtf8Lossy(bytes, 0, 2), lossy.decode(bytes), `${a} ${b}`);
      let expected = null;
      try {
        expected = fatal.decode(bytes);
      } catch {
        // invalid: null expected
      }
      assert.equal(decodeUtf8(bytes, 0, 2), expected, `${a} ${b}`);
    }
  }
});
