// UTF-8 for the row codec, in plain JavaScript: the QuickJS engine of Weir's
// JavaScript components has no TextEncoder or TextDecoder. Under Node (unit
// tests) the same code runs, so what is tested is what ships.

// String.fromCharCode.apply takes its arguments on the stack; chunks of this
// many code units stay far from any engine's argument limit.
const CHUNK = 4096;

/**
 * The UTF-8 text of `bytes[start, end)`, or `null` when the bytes are not
 * valid UTF-8 (overlong forms, surrogates and code points past U+10FFFF are
 * invalid, as in Rust's `str`).
 */
export function decodeUtf8(bytes, start, end) {
  // Most text in a stream is ASCII: one native call per string turns it into
  // a string, where a loop of `+=` would run per character.
  let i = start;
  while (i < end && bytes[i] < 0x80) i++;
  if (i === end) return asciiString(bytes, start, end);
  let out = i > start ? asciiString(bytes, start, i) : '';
  const units = [];
  while (i < end) {
    const b0 = bytes[i];
    let cp;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      if (i + 1 >= end) return null;
      const b1 = bytes[i + 1];
      if ((b1 & 0xc0) !== 0x80) return null;
      cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
      i += 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      if (i + 2 >= end) return null;
      const b1 = bytes[i + 1];
      const b2 = bytes[i + 2];
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80) return null;
      // E0 needs A0..BF (no overlong forms), ED needs 80..9F (no surrogates).
      if ((b0 === 0xe0 && b1 < 0xa0) || (b0 === 0xed && b1 > 0x9f)) return null;
      cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
      i += 3;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      if (i + 3 >= end) return null;
      const b1 = bytes[i + 1];
      const b2 = bytes[i + 2];
      const b3 = bytes[i + 3];
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return null;
      // F0 needs 90..BF (no overlong forms), F4 needs 80..8F (<= U+10FFFF).
      if ((b0 === 0xf0 && b1 < 0x90) || (b0 === 0xf4 && b1 > 0x8f)) return null;
      cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
      i += 4;
    } else {
      return null;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= CHUNK) {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  if (units.length > 0) out += String.fromCharCode.apply(null, units);
  return out;
}

function asciiString(bytes, start, end) {
  if (end - start <= CHUNK) return String.fromCharCode.apply(null, bytes.subarray(start, end));
  let out = '';
  for (let i = start; i < end; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(i + CHUNK, end)));
  }
  return out;
}

/**
 * The number of bytes of the UTF-8 encoding of `text`. A lone surrogate
 * (which a JavaScript string may hold but UTF-8 cannot) counts as U+FFFD, the
 * character `encodeUtf8Into` writes for it, as TextEncoder does.
 */
export function utf8Length(text) {
  const n = text.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two code units, four bytes.
      len += 2;
      i++;
    } else {
      len += 2;
    }
  }
  return len;
}

/**
 * Writes the UTF-8 encoding of `text` into `bytes` at `offset` and returns the
 * offset after it. `bytes` must have room for `utf8Length(text)` bytes.
 */
export function encodeUtf8Into(text, bytes, offset) {
  const n = text.length;
  let o = offset;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      bytes[o++] = c;
    } else if (c < 0x800) {
      bytes[o++] = 0xc0 | (c >> 6);
      bytes[o++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && (next & 0xfc00) === 0xdc00) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        bytes[o++] = 0xf0 | (cp >> 18);
        bytes[o++] = 0x80 | ((cp >> 12) & 0x3f);
        bytes[o++] = 0x80 | ((cp >> 6) & 0x3f);
        bytes[o++] = 0x80 | (cp & 0x3f);
        i++;
      } else {
        c = 0xfffd;
        bytes[o++] = 0xe0 | (c >> 12);
        bytes[o++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[o++] = 0x80 | (c & 0x3f);
      }
    } else {
      bytes[o++] = 0xe0 | (c >> 12);
      bytes[o++] = 0x80 | ((c >> 6) & 0x3f);
      bytes[o++] = 0x80 | (c & 0x3f);
    }
  }
  return o;
}

/**
 * Like `decodeUtf8`, but every ill-formed sequence becomes U+FFFD (one per
 * maximal subpart, as the WHATWG Encoding standard and TextDecoder do)
 * instead of failing.
 */
export function decodeUtf8Lossy(bytes, start, end) {
  const strict = decodeUtf8(bytes, start, end);
  if (strict !== null) return strict;
  let out = '';
  const units = [];
  let i = start;
  while (i < end) {
    const b0 = bytes[i];
    let need = 0;
    let lower = 0x80;
    let upper = 0xbf;
    let cp;
    if (b0 < 0x80) {
      cp = b0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      cp = b0 & 0x0f;
      if (b0 === 0xe0) lower = 0xa0;
      if (b0 === 0xed) upper = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      cp = b0 & 0x07;
      if (b0 === 0xf0) lower = 0x90;
      if (b0 === 0xf4) upper = 0x8f;
    } else {
      cp = 0xfffd;
    }
    i++;
    for (let k = 0; k < need; k++) {
      const b = i < end ? bytes[i] : -1;
      if (b < lower || b > upper) {
        // The byte that broke the sequence is not consumed: it may start
        // the next one.
        cp = 0xfffd;
        break;
      }
      lower = 0x80;
      upper = 0xbf;
      cp = (cp << 6) | (b & 0x3f);
      i++;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= CHUNK) {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  if (units.length > 0) out += String.fromCharCode.apply(null, units);
  return out;
}
