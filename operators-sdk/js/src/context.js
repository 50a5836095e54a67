// What the runtime tells an operator instance when it opens.

import { parseConfig } from './config.js';
import { keyOf } from './state.js';
import { Schema } from './schema.js';

export class OpenContext {
  /**
   * A context as the runtime passes it. Every field is optional, so that
   * tests can build one: the defaults are those of the first run of subtask
   * 0 of 1, with an empty configuration and no key. `config` may be JSON
   * text or a value to serialize.
   */
  constructor({
    operatorName = 'operator',
    config = '{}',
    inputSchema = [],
    keyFields = [],
    subtaskIndex = 0,
    parallelism = 1,
    attempt = 0,
  } = {}) {
    /** The operator's name in the job spec. */
    this.operatorName = operatorName;
    /** The operator's `config` from the job spec, as JSON text. */
    this.configJson = typeof config === 'string' ? config : JSON.stringify(config);
    /** The schema of the batches the operator will receive. */
    this.inputSchema = Schema.from(inputSchema);
    /** The columns the input is keyed by, in order (empty when not keyed). */
    this.keyFields = Object.freeze([...keyFields]);
    /** This instance's subtask, from 0 to `parallelism - 1`. */
    this.subtaskIndex = subtaskIndex;
    /** How many instances of the operator run in parallel. */
    this.parallelism = parallelism;
    /** How many times the task has been restarted (0 on the first run). */
    this.attempt = attempt;
    Object.freeze(this);
  }

  /**
   * The configuration, parsed and checked against `spec` (see `param`): an
   * object with every field of the spec, defaults filled in. Unknown fields,
   * wrong types and missing required fields throw `InvalidConfig` naming the
   * field. Without a spec, the parsed JSON as it is.
   */
  config(spec) {
    return parseConfig(this.configJson, spec, this.operatorName);
  }

  /**
   * The input fields of `keyFields`, for `keyOf`. Throws `InvalidConfig` if
   * one is missing from the input schema.
   */
  get keyColumns() {
    return this.keyFields.map((name) => this.inputSchema.field(name));
  }

  /** The keyed-state key of an input record (see `keyOf`). */
  keyOf(record) {
    return keyOf(record, this.keyColumns);
  }
}
