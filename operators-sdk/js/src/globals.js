// Globals that operator code expects from any JavaScript engine but that
// QuickJS, the engine of Weir's JavaScript components, lacks: `console`
// (each call becomes one log event of the runtime) and UTF-8 `TextEncoder` /
// `TextDecoder` (what state values and byte columns are usually built with).
// Each is installed only where the engine has none, so under Node the native
// ones stay.

import { host } from './host.js';
import { decodeUtf8, decodeUtf8Lossy, encodeUtf8Into, utf8Length } from './utf8.js';

function show(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.stack ? `${value}\n${value.stack}` : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) {
    const head = Array.from(value.subarray(0, 32)).join(', ');
    return `Uint8Array(${value.length}) [${head}${value.length > 32 ? ', ...' : ''}]`;
  }
  if (value !== null && typeof value === 'object') {
    try {
      return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}

/** The text of one console call: its arguments, shown and joined by spaces. */
export function formatConsoleArgs(args) {
  return args.map(show).join(' ');
}

function consoleMethod(level) {
  return (...args) => host().log(level, formatConsoleArgs(args));
}

/** A console whose methods write log events at the matching level. */
export const hostConsole = Object.freeze({
  log: consoleMethod('info'),
  info: consoleMethod('info'),
  debug: consoleMethod('debug'),
  trace: consoleMethod('trace'),
  warn: consoleMethod('warn'),
  error: consoleMethod('error'),
});

/** UTF-8 only, as the Encoding standard's TextEncoder. */
export class Utf8Encoder {
  get encoding() {
    return 'utf-8';
  }

  encode(input = '') {
    const text = String(input);
    const bytes = new Uint8Array(utf8Length(text));
    encodeUtf8Into(text, bytes, 0);
    return bytes;
  }

  /** Writes as many whole characters as fit; `{read, written}` as the standard says. */
  encodeInto(input, destination) {
    const text = String(input);
    if (utf8Length(text) <= destination.length) {
      return { read: text.length, written: encodeUtf8Into(text, destination, 0) };
    }
    let read = 0;
    let written = 0;
    const scratch = new Uint8Array(4);
    for (const ch of text) {
      const n = encodeUtf8Into(ch, scratch, 0);
      if (written + n > destination.length) break;
      destination.set(scratch.subarray(0, n), written);
      written += n;
      read += ch.length;
    }
    return { read, written };
  }
}

const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8']);

/** UTF-8 only, as the Encoding standard's TextDecoder, without streaming. */
export class Utf8Decoder {
  constructor(label = 'utf-8', options = {}) {
    if (!UTF8_LABELS.has(String(label).trim().toLowerCase())) {
      throw new RangeError(`TextDecoder: only UTF-8 is available in a Weir component, not ${JSON.stringify(label)}`);
    }
    this.fatal = Boolean(options.fatal);
    this.ignoreBOM = Boolean(options.ignoreBOM);
  }

  get encoding() {
    return 'utf-8';
  }

  decode(input = new Uint8Array(0), options = {}) {
    if (options.stream) throw new TypeError('TextDecoder: streaming decoding is not available in a Weir component');
    let bytes;
    if (input instanceof Uint8Array) bytes = input;
    else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
    else throw new TypeError('TextDecoder: decode takes an ArrayBuffer or a view of one');
    let start = 0;
    if (!this.ignoreBOM && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    if (!this.fatal) return decodeUtf8Lossy(bytes, start, bytes.length);
    const text = decodeUtf8(bytes, start, bytes.length);
    if (text === null) throw new TypeError('TextDecoder: the data is not valid UTF-8');
    return text;
  }
}

/** Installs what the engine lacks; under Node, nothing. */
export function installGlobals() {
  if (typeof globalThis.console !== 'object' || globalThis.console === null) globalThis.console = hostConsole;
  if (typeof globalThis.TextEncoder !== 'function') globalThis.TextEncoder = Utf8Encoder;
  if (typeof globalThis.TextDecoder !== 'function') globalThis.TextDecoder = Utf8Decoder;
}
