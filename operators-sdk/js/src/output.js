// Output records: checked against the output schema and encoded into batches
// as they are emitted.

import { BatchWriter, ROW, columnEncoder, decodeBatch, valueProblem } from './codec.js';
import { InternalError } from './errors.js';
import { Schema } from './schema.js';

/**
 * A new output batch starts once the current one reaches this size: large
 * enough that per-batch costs vanish, small enough to keep guest memory and
 * downstream latency bounded.
 */
export const TARGET_BATCH_BYTES = 1 << 20;

/**
 * Where an operator emits its records during one call. `emit(record)` takes
 * an object keyed by output column name, or an array of values in column
 * order. Every record is checked against the output schema declared by
 * `open`: the runtime would reject a malformed batch anyway, but only the SDK
 * can say which column of which record was wrong.
 */
export class Output {
  constructor(schema, targetBytes = TARGET_BATCH_BYTES) {
    this.schema = Schema.from(schema);
    this._fields = this.schema.fields;
    this._names = this._fields.map((f) => f.name);
    this._encoders = this._fields.map(columnEncoder);
    this._targetBytes = targetBytes;
    this._writer = null;
    this._batches = [];
    /** Records emitted since the last `takeBatches`. */
    this.emitted = 0;
    // The input batch being processed, when the output schema equals the
    // input schema (see `setSource`).
    this._sourceBytes = null;
    this._sourceRecords = null;
    this._sourceOffsets = null;
    /** `emit` as a plain function, to hand to operator code. */
    this.emit = (record) => this._emit(record);
  }

  /**
   * Declares the input batch of the current call (as `decodeInput` returned
   * it), whose records the output may copy as they came: a record emitted
   * unchanged (the same frozen object) is appended as its input bytes,
   * without checking or encoding it again. Only for an output schema equal
   * to the input schema; `clearSource` ends it.
   */
  setSource(bytes, records, offsets) {
    this._sourceBytes = bytes;
    this._sourceRecords = records;
    this._sourceOffsets = offsets;
  }

  clearSource() {
    this._sourceBytes = null;
    this._sourceRecords = null;
    this._sourceOffsets = null;
  }

  _emit(record) {
    if (this._sourceRecords !== null && record !== null && typeof record === 'object') {
      const row = record[ROW];
      if (row !== undefined && this._sourceRecords[row] === record) {
        let writer = this._writer;
        if (writer === null) writer = this._writer = new BatchWriter(this._fields.length);
        writer.writeEncoded(this._sourceBytes, this._sourceOffsets[row], this._sourceOffsets[row + 1], 1);
        this.emitted++;
        if (writer.byteLength >= this._targetBytes) this._flush();
        return;
      }
    }
    const fields = this._fields;
    const columns = fields.length;
    if (columns === 0) {
      // The row encoding counts rows by their values, so rows without
      // columns cannot be represented.
      throw new InternalError('cannot emit records: the output schema has no columns');
    }
    if (record === null || typeof record !== 'object') {
      throw new InternalError(
        `emit takes a record (an object keyed by column name, or an array of values), got ${record === null ? 'null' : typeof record}`,
      );
    }
    let writer = this._writer;
    if (writer === null) writer = this._writer = new BatchWriter(columns);
    const encoders = this._encoders;
    const startPos = writer.pos;
    const startValues = writer.values;
    if (Array.isArray(record)) {
      if (record.length !== columns) {
        throw new InternalError(
          `emitted a record of ${record.length} values, the output schema has ${columns} columns (${this.schema.describe()})`,
        );
      }
      for (let c = 0; c < columns; c++) {
        if (!encoders[c](writer, record[c])) this._reject(startPos, startValues, fields[c], record[c]);
      }
    } else {
      // Keys that are not output columns are ignored, so that a record can
      // be spread into a narrower one: `emit({...record, extra})`. A
      // misspelt column still fails: its correct name is then missing.
      const names = this._names;
      for (let c = 0; c < columns; c++) {
        const value = record[names[c]];
        if (!encoders[c](writer, value)) this._reject(startPos, startValues, fields[c], value);
      }
    }
    this.emitted++;
    if (writer.byteLength >= this._targetBytes) this._flush();
  }

  /** Takes back the partly written record and throws what was wrong. */
  _reject(pos, values, field, value) {
    this._writer.rewind(pos, values);
    throw new InternalError(`emitted a record whose column \`${field.name}\` ${valueProblem(field, value)}`);
  }

  _flush() {
    if (this._writer !== null) {
      this._batches.push(this._writer.finish());
      this._writer = null;
    }
  }

  /**
   * Finishes the current batch and hands over every batch emitted so far, in
   * order, in the row encoding.
   */
  takeBatches() {
    this._flush();
    this.emitted = 0;
    const batches = this._batches;
    this._batches = [];
    return batches;
  }

  /** Drops what was emitted, after a failed call: the runtime discards it. */
  discard() {
    this.clearSource();
    this._writer = null;
    this._batches = [];
    this.emitted = 0;
  }

  /** Every record emitted since the last `takeBatches`, decoded (for tests). */
  records() {
    this._flush();
    return this._batches.flatMap((batch) => decodeBatch(batch, this.schema));
  }
}
