// Weir's row encoding (the `rows` encoding of the WIT contract; worked bytes
// in docs/row-encoding.md):
//
//   batch := row-count: u32, column-count: u32, value{row-count * column-count}
//   value := tag: u8, payload
//
// All integers little-endian. Values in JavaScript:
//   null -> null, boolean -> boolean, int64 and timestamp-millis -> bigint
//   (all 64 bits; a number would lose precision past 2^53), float64 -> number,
//   utf8 -> string, binary -> Uint8Array.
// Writing, int64 and timestamp-millis columns also take a number that is a
// safe integer, so that `emit({len: text.length})` works.

import { InternalError } from './errors.js';
import { DataType } from './schema.js';
import { decodeUtf8, encodeUtf8Into, utf8Length } from './utf8.js';

export const Tag = Object.freeze({
  Null: 0,
  Boolean: 1,
  Int64: 2,
  Float64: 3,
  Utf8: 4,
  Binary: 5,
  TimestampMillis: 6,
});

const TAG_NAMES = ['null', 'boolean', 'int64', 'float64', 'utf8', 'binary', 'timestamp-millis'];

/** The row-encoding tag of a non-null value of each data type. */
export const TYPE_TAGS = Object.freeze({
  [DataType.Boolean]: Tag.Boolean,
  [DataType.Int64]: Tag.Int64,
  [DataType.Float64]: Tag.Float64,
  [DataType.Utf8]: Tag.Utf8,
  [DataType.Binary]: Tag.Binary,
  [DataType.TimestampMillis]: Tag.TimestampMillis,
});

/** A human name for a tag, for messages. */
export function tagName(tag) {
  return TAG_NAMES[tag] ?? 'unknown';
}

/** Size of the batch header (row count and column count). */
export const HEADER_LEN = 8;

const TWO_32 = 4294967296;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const U32_MAX = 0xffffffff;

/** A batch that is not valid row encoding, with where the problem is. */
export class DecodeError extends Error {
  constructor(problem, offset, row, column) {
    const where = row === undefined ? `byte ${offset}` : `byte ${offset}, row ${row}, column ${column}`;
    super(`${problem} (${where})`);
    this.offset = offset;
    this.row = row;
    this.column = column;
  }
}
Object.defineProperty(DecodeError.prototype, 'name', { value: 'DecodeError', writable: true, configurable: true });

/**
 * Decodes a `rows` batch of `schema`, checking every value against its
 * column: each row becomes an object keyed by column name (`as: 'records'`,
 * the default) or an array in column order (`as: 'arrays'`).
 *
 * Throws `DecodeError` for bytes that are not the row encoding, and for a
 * value whose type does not fit its column.
 */
export function decodeBatch(bytes, schema, { as = 'records' } = {}) {
  if (as !== 'records' && as !== 'arrays') {
    throw new TypeError(`decodeBatch: \`as\` must be 'records' or 'arrays', got ${JSON.stringify(as)}`);
  }
  return decodeRows(bytes, schema, as === 'arrays', null);
}

/**
 * The symbol under which an input record carries its row number in its
 * batch (see `decodeInput`).
 */
export const ROW = Symbol('weir.row');

/**
 * Decodes an input batch for an operator: frozen records keyed by column
 * name, each carrying its row number under `ROW`, and the byte offset where
 * each row starts (plus the end of the last one). Frozen records cannot
 * change, so a record emitted unchanged can be copied as the bytes it came
 * in as.
 */
export function decodeInput(bytes, schema) {
  const offsets = [];
  const records = decodeRows(bytes, schema, false, offsets);
  return { records, offsets };
}

function decodeRows(bytes, schema, asArrays, offsets) {
  const fields = schema.fields;
  const columns = fields.length;
  if (bytes.length < HEADER_LEN) {
    throw new DecodeError('batch shorter than its 8-byte header', 0);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rowCount = view.getUint32(0, true);
  const columnCount = view.getUint32(4, true);
  if (columnCount !== columns) {
    throw new DecodeError(`batch has ${columnCount} columns, the schema has ${columns}`, 4);
  }
  const keys = asArrays ? fields.map((_, i) => i) : fields.map((f) => f.name);
  const tags = fields.map((f) => TYPE_TAGS[f.type]);
  const nullable = fields.map((f) => f.nullable);
  const track = offsets !== null;
  const end = bytes.length;
  const rows = [];
  let pos = HEADER_LEN;
  for (let r = 0; r < rowCount; r++) {
    if (track) offsets.push(pos);
    const row = asArrays ? new Array(columns) : {};
    for (let c = 0; c < columns; c++) {
      const start = pos;
      if (pos >= end) throw new DecodeError('batch ends inside a value', start, r, c);
      const tag = bytes[pos++];
      let value;
      switch (tag) {
        case Tag.Null:
          value = null;
          break;
        case Tag.Boolean: {
          if (pos + 1 > end) throw new DecodeError('batch ends inside a value', start, r, c);
          const b = bytes[pos++];
          if (b > 1) throw new DecodeError(`boolean byte ${b} is neither 0 nor 1`, start, r, c);
          value = b === 1;
          break;
        }
        case Tag.Int64:
        case Tag.TimestampMillis:
          if (pos + 8 > end) throw new DecodeError('batch ends inside a value', start, r, c);
          value = view.getBigInt64(pos, true);
          pos += 8;
          break;
        case Tag.Float64:
          if (pos + 8 > end) throw new DecodeError('batch ends inside a value', start, r, c);
          value = view.getFloat64(pos, true);
          pos += 8;
          break;
        case Tag.Utf8:
        case Tag.Binary: {
          if (pos + 4 > end) throw new DecodeError('batch ends inside a value', start, r, c);
          const len = view.getUint32(pos, true);
          pos += 4;
          if (len > end - pos) throw new DecodeError('batch ends inside a value', start, r, c);
          if (tag === Tag.Utf8) {
            value = decodeUtf8(bytes, pos, pos + len);
            if (value === null) throw new DecodeError('utf8 value is not valid UTF-8', start, r, c);
          } else {
            value = bytes.slice(pos, pos + len);
          }
          pos += len;
          break;
        }
        default:
          throw new DecodeError(`unknown value tag ${tag}`, start, r, c);
      }
      if (tag !== tags[c] && !(tag === Tag.Null && nullable[c])) {
        throw new DecodeError(
          `column \`${fields[c].name}\`: expected ${fields[c].describe()}, found ${tagName(tag)}`,
          start,
          r,
          c,
        );
      }
      row[keys[c]] = value;
    }
    if (track) {
      row[ROW] = r;
      Object.freeze(row);
    }
    rows.push(row);
  }
  if (pos !== end) throw new DecodeError(`${end - pos} bytes after the last value`, pos);
  if (track) offsets.push(pos);
  return rows;
}

/**
 * Why `value` cannot be written to a column of `field`, or `undefined` when it
 * can. `undefined` values count as missing, not as null: they are almost
 * always a misspelt or forgotten column.
 */
export function valueProblem(field, value) {
  if (value === null) return field.nullable ? undefined : `is null, the column is not nullable (${field.type})`;
  if (value === undefined) return `is missing (expected ${field.describe()}; write null for a null)`;
  switch (field.type) {
    case DataType.Boolean:
      if (typeof value === 'boolean') return undefined;
      break;
    case DataType.Int64:
    case DataType.TimestampMillis:
      if (typeof value === 'bigint') {
        return value >= INT64_MIN && value <= INT64_MAX ? undefined : `is ${value}, outside the 64-bit range`;
      }
      if (typeof value === 'number') {
        return Number.isSafeInteger(value)
          ? undefined
          : `is the number ${value}, not a safe integer (use a bigint for 64-bit values)`;
      }
      break;
    case DataType.Float64:
      if (typeof value === 'number') return undefined;
      break;
    case DataType.Utf8:
      if (typeof value === 'string') return undefined;
      break;
    case DataType.Binary:
      if (value instanceof Uint8Array) return undefined;
      break;
  }
  return `is ${describeJsType(value)}, expected ${field.describe()}`;
}

/** `a string`, `a bigint`, `an object`: what a value is, for messages. */
export function describeJsType(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'a Uint8Array';
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * Builds one batch, value by value, row by row. Values are written by column
 * type and must have passed `valueProblem` (the writer does not check them
 * again).
 */
export class BatchWriter {
  constructor(columns, capacity = 4096) {
    if (!Number.isInteger(columns) || columns < 0 || columns > U32_MAX) {
      throw new RangeError(`a batch has 0 to ${U32_MAX} columns, not ${columns}`);
    }
    this.columns = columns;
    this.bytes = new Uint8Array(Math.max(capacity, 64));
    this.view = new DataView(this.bytes.buffer);
    this.pos = HEADER_LEN;
    this.values = 0;
    this.view.setUint32(4, columns, true);
  }

  /** Bytes written so far, header included. */
  get byteLength() {
    return this.pos;
  }

  /** Rows completed so far. */
  get rows() {
    return this.columns === 0 ? 0 : Math.floor(this.values / this.columns);
  }

  _reserve(n) {
    const needed = this.pos + n;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.bytes.subarray(0, this.pos));
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  /** Appends the next value of the current row, for a column of `type`. */
  write(type, value) {
    if (value === null) {
      this.writeNull();
      return;
    }
    switch (type) {
      case DataType.Boolean:
        this.writeBoolean(value);
        return;
      case DataType.Int64:
        this.writeInt64(Tag.Int64, value);
        return;
      case DataType.TimestampMillis:
        this.writeInt64(Tag.TimestampMillis, value);
        return;
      case DataType.Float64:
        this.writeFloat64(value);
        return;
      case DataType.Utf8:
        this.writeUtf8(value);
        return;
      case DataType.Binary:
        this.writeBinary(value);
        return;
      default:
        throw new InternalError(`unknown column type ${JSON.stringify(type)}`);
    }
  }

  writeNull() {
    if (this.pos + 1 > this.bytes.length) this._reserve(1);
    this.bytes[this.pos++] = Tag.Null;
    this.values++;
  }

  writeBoolean(value) {
    if (this.pos + 2 > this.bytes.length) this._reserve(2);
    this.bytes[this.pos] = Tag.Boolean;
    this.bytes[this.pos + 1] = value ? 1 : 0;
    this.pos += 2;
    this.values++;
  }

  /** An int64 or timestamp-millis (`tag`): a bigint, or a safe integer number. */
  writeInt64(tag, value) {
    if (this.pos + 9 > this.bytes.length) this._reserve(9);
    this.bytes[this.pos] = tag;
    if (typeof value === 'bigint') {
      this.view.setBigInt64(this.pos + 1, value, true);
    } else {
      // A safe integer, written without a BigInt: hi * 2^32 + lo, exactly.
      const hi = Math.floor(value / TWO_32);
      this.view.setUint32(this.pos + 1, value - hi * TWO_32, true);
      this.view.setInt32(this.pos + 5, hi, true);
    }
    this.pos += 9;
    this.values++;
  }

  writeFloat64(value) {
    if (this.pos + 9 > this.bytes.length) this._reserve(9);
    this.bytes[this.pos] = Tag.Float64;
    this.view.setFloat64(this.pos + 1, value, true);
    this.pos += 9;
    this.values++;
  }

  writeUtf8(value) {
    // Short strings: reserve the worst case (3 bytes per code unit) rather
    // than measure the string twice.
    const worst = value.length * 3;
    this._reserve(5 + (worst <= 1024 ? worst : utf8Length(value)));
    this.bytes[this.pos] = Tag.Utf8;
    const start = this.pos + 5;
    const after = encodeUtf8Into(value, this.bytes, start);
    checkLength(after - start);
    this.view.setUint32(this.pos + 1, after - start, true);
    this.pos = after;
    this.values++;
  }

  writeBinary(value) {
    checkLength(value.length);
    this._reserve(5 + value.length);
    this.bytes[this.pos] = Tag.Binary;
    this.view.setUint32(this.pos + 1, value.length, true);
    this.bytes.set(value, this.pos + 5);
    this.pos += 5 + value.length;
    this.values++;
  }

  /**
   * Goes back to where the writer was when `pos` and `values` were read from
   * it, forgetting what came after (a partly written row).
   */
  rewind(pos, values) {
    this.pos = pos;
    this.values = values;
  }

  /**
   * Appends whole rows already in the row encoding: `source[start, end)`,
   * holding `rows` rows of this writer's columns.
   */
  writeEncoded(source, start, end, rows) {
    this._reserve(end - start);
    this.bytes.set(source.subarray(start, end), this.pos);
    this.pos += end - start;
    this.values += rows * this.columns;
  }

  /**
   * Finishes the batch and returns its bytes. `rowCount` is needed only for
   * rows without columns, whose number the values cannot tell.
   */
  finish(rowCount) {
    let rows;
    if (this.columns === 0) {
      rows = rowCount ?? 0;
    } else {
      if (this.values % this.columns !== 0) {
        throw new InternalError(`${this.values} values do not make whole rows of ${this.columns} columns`);
      }
      rows = this.values / this.columns;
    }
    if (rows > U32_MAX) throw new InternalError(`more than ${U32_MAX} rows in one batch`);
    this.view.setUint32(0, rows, true);
    return this.bytes.slice(0, this.pos);
  }
}

/**
 * A function that appends `value` to a writer if it fits a column of
 * `field` and answers whether it did (writing nothing when it does not; see
 * `valueProblem` for why). One per output column, specialized by type, so
 * that emitting checks and writes each value in one step.
 */
export function columnEncoder(field) {
  const nullable = field.nullable;
  switch (field.type) {
    case DataType.Boolean:
      return (w, v) => {
        if (typeof v === 'boolean') w.writeBoolean(v);
        else if (v === null && nullable) w.writeNull();
        else return false;
        return true;
      };
    case DataType.Int64:
    case DataType.TimestampMillis: {
      const tag = TYPE_TAGS[field.type];
      return (w, v) => {
        if (typeof v === 'bigint') {
          if (v < INT64_MIN || v > INT64_MAX) return false;
          w.writeInt64(tag, v);
        } else if (typeof v === 'number') {
          if (!Number.isSafeInteger(v)) return false;
          w.writeInt64(tag, v);
        } else if (v === null && nullable) {
          w.writeNull();
        } else {
          return false;
        }
        return true;
      };
    }
    case DataType.Float64:
      return (w, v) => {
        if (typeof v === 'number') w.writeFloat64(v);
        else if (v === null && nullable) w.writeNull();
        else return false;
        return true;
      };
    case DataType.Utf8:
      return (w, v) => {
        if (typeof v === 'string') w.writeUtf8(v);
        else if (v === null && nullable) w.writeNull();
        else return false;
        return true;
      };
    case DataType.Binary:
      return (w, v) => {
        if (v instanceof Uint8Array) w.writeBinary(v);
        else if (v === null && nullable) w.writeNull();
        else return false;
        return true;
      };
    default:
      throw new InternalError(`unknown column type ${JSON.stringify(field.type)}`);
  }
}

function checkLength(len) {
  if (len > U32_MAX) {
    throw new InternalError(`a value of ${len} bytes exceeds the 4 GiB limit of the row encoding`);
  }
}

/**
 * Encodes rows of `schema` into one batch: each row an array in column order
 * or an object keyed by column name. Every value is checked against its
 * column first; a problem is an `InternalError` naming the row and column.
 */
export function encodeBatch(schema, rows) {
  const fields = schema.fields;
  const writer = new BatchWriter(fields.length);
  rows.forEach((row, r) => {
    const isArray = Array.isArray(row);
    if (isArray && row.length !== fields.length) {
      throw new InternalError(`row ${r} has ${row.length} values, the schema has ${fields.length} columns`);
    }
    for (let c = 0; c < fields.length; c++) {
      const field = fields[c];
      const value = isArray ? row[c] : row[field.name];
      const problem = valueProblem(field, value);
      if (problem !== undefined) throw new InternalError(`row ${r}, column \`${field.name}\` ${problem}`);
      writer.write(field.type, value);
    }
  });
  return writer.finish(rows.length);
}

/**
 * The keyed-state key of `record` (an object keyed by column name) over the
 * key columns `fields`: each value's tag and payload exactly as in a batch,
 * one after another, without a header.
 */
export function encodeKey(record, fields) {
  const writer = new BatchWriter(fields.length, 64);
  for (const field of fields) {
    const value = record[field.name];
    const problem = valueProblem(field, value);
    if (problem !== undefined) throw new InternalError(`key column \`${field.name}\` ${problem}`);
    writer.write(field.type, value);
  }
  return writer.bytes.slice(HEADER_LEN, writer.pos);
}
