// Schemas: the columns of every batch of a stream.

import { InternalError, InvalidConfig } from './errors.js';

/**
 * The column types a Weir stream carries, each one Arrow type, spelled as in
 * the WIT contract and in job specs.
 */
export const DataType = Object.freeze({
  Boolean: 'boolean',
  Int64: 'int64',
  Float64: 'float64',
  Utf8: 'utf8',
  Binary: 'binary',
  TimestampMillis: 'timestamp-millis',
});

const TYPES = new Set(Object.values(DataType));

/** One column of a schema. */
export class Field {
  /**
   * @param {string} name unique within its schema; case-sensitive
   * @param {string} type one of `DataType`
   * @param {boolean} [nullable=true] whether the column may hold nulls (the
   *   default of job specs)
   */
  constructor(name, type, nullable = true) {
    if (typeof name !== 'string' || name === '') {
      throw new InternalError(`a field needs a non-empty name, got ${JSON.stringify(name)}`);
    }
    if (!TYPES.has(type)) {
      throw new InternalError(
        `field \`${name}\`: unknown type ${JSON.stringify(type)}; the types are: ${[...TYPES].join(', ')}`,
      );
    }
    if (typeof nullable !== 'boolean') {
      throw new InternalError(`field \`${name}\`: nullable must be true or false, got ${JSON.stringify(nullable)}`);
    }
    this.name = name;
    this.type = type;
    this.nullable = nullable;
    Object.freeze(this);
  }

  /** A `Field` from a `Field` or a plain `{name, type, nullable}` object. */
  static from(field) {
    if (field instanceof Field) return field;
    if (field === null || typeof field !== 'object') {
      throw new InternalError(`expected a field ({name, type, nullable}), got ${JSON.stringify(field)}`);
    }
    return new Field(field.name, field.type, field.nullable ?? true);
  }

  /** What a value of this column should be, for messages: `int64 or null`. */
  describe() {
    return this.nullable ? `${this.type} or null` : this.type;
  }
}

/** The columns of every batch of a stream, in order. */
export class Schema {
  /** @param {Iterable<Field | {name: string, type: string, nullable?: boolean}>} fields */
  constructor(fields = []) {
    this.fields = Object.freeze([...fields].map(Field.from));
    this._index = new Map();
    for (const [i, field] of this.fields.entries()) {
      if (this._index.has(field.name)) {
        throw new InternalError(`a schema has two columns named \`${field.name}\``);
      }
      this._index.set(field.name, i);
    }
    Object.freeze(this);
  }

  /**
   * A `Schema` from a `Schema`, an array of fields, or an object with a
   * `fields` array: what `open` may return.
   */
  static from(schema) {
    if (schema instanceof Schema) return schema;
    if (Array.isArray(schema)) return new Schema(schema);
    if (schema !== null && typeof schema === 'object' && Array.isArray(schema.fields)) {
      return new Schema(schema.fields);
    }
    throw new InternalError(
      `expected a schema (a Schema, or an array of {name, type, nullable} fields), got ${describeValue(schema)}`,
    );
  }

  /** The number of columns. */
  get length() {
    return this.fields.length;
  }

  /** The column names, in order. */
  get names() {
    return this.fields.map((f) => f.name);
  }

  /** Whether a column is called `name`. */
  has(name) {
    return this._index.has(name);
  }

  /**
   * The index of the column called `name`. Meant for `open`: a missing column
   * means the operator follows a stream it cannot read, so the error is
   * `invalid-config` and lists the columns that exist.
   */
  indexOf(name) {
    const index = this._index.get(name);
    if (index === undefined) {
      throw new InvalidConfig(`the input has no column \`${name}\`; its columns are: ${this.describe()}`);
    }
    return index;
  }

  /** The column called `name`, with the error of `indexOf` when missing. */
  field(name) {
    return this.fields[this.indexOf(name)];
  }

  /** `name (type)` of every column, for messages. */
  describe() {
    if (this.fields.length === 0) return '(none)';
    return this.fields.map((f) => `\`${f.name}\` (${f.describe()})`).join(', ');
  }

  /** Whether `other` has the same columns, in the same order. */
  equals(other) {
    const that = Schema.from(other);
    return (
      this.fields.length === that.fields.length &&
      this.fields.every(
        (f, i) => f.name === that.fields[i].name && f.type === that.fields[i].type && f.nullable === that.fields[i].nullable,
      )
    );
  }
}

function describeValue(value) {
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
