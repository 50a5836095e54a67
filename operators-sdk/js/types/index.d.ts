// Type declarations of weir-operator. The SDK is plain JavaScript; these
// describe its public API for TypeScript operators and editors.

/** The column types of a Weir stream, spelled as in job specs and the WIT contract. */
export type DataTypeName = 'boolean' | 'int64' | 'float64' | 'utf8' | 'binary' | 'timestamp-millis';

export declare const DataType: {
  readonly Boolean: 'boolean';
  readonly Int64: 'int64';
  readonly Float64: 'float64';
  readonly Utf8: 'utf8';
  readonly Binary: 'binary';
  readonly TimestampMillis: 'timestamp-millis';
};

/**
 * One value of a record. int64 and timestamp-millis are `bigint` in records
 * the operator receives (all 64 bits); when emitting, a `number` that is a
 * safe integer is accepted too.
 */
export type Value = null | boolean | bigint | number | string | Uint8Array;

/** A record: values keyed by column name. */
export type Record = { readonly [column: string]: Value };

/** What `emit` takes: an object keyed by output column name, or the values in column order. */
export type OutputRecord = { readonly [column: string]: Value } | readonly Value[];

/** Appends one record to the call's output; throws `InternalError` if it does not fit the output schema. */
export type Emit = (record: OutputRecord) => void;

export interface FieldSpec {
  name: string;
  type: DataTypeName;
  /** Default true, as in job specs. */
  nullable?: boolean;
}

export declare class Field {
  constructor(name: string, type: DataTypeName, nullable?: boolean);
  static from(field: Field | FieldSpec): Field;
  readonly name: string;
  readonly type: DataTypeName;
  readonly nullable: boolean;
  /** `int64 or null`, for messages. */
  describe(): string;
}

/** What `open` may return as the output schema. */
export type SchemaLike = Schema | ReadonlyArray<Field | FieldSpec> | { fields: ReadonlyArray<Field | FieldSpec> };

export declare class Schema {
  constructor(fields?: Iterable<Field | FieldSpec>);
  static from(schema: SchemaLike): Schema;
  readonly fields: readonly Field[];
  readonly length: number;
  readonly names: string[];
  has(name: string): boolean;
  /** The column's index; `InvalidConfig` listing the columns if there is none. */
  indexOf(name: string): number;
  /** The column; `InvalidConfig` listing the columns if there is none. */
  field(name: string): Field;
  describe(): string;
  equals(other: SchemaLike): boolean;
}

/** One field of a configuration spec (see `param`). */
export declare class Param<T> {
  readonly kind: string;
  readonly default: T | undefined;
  readonly isRequired: boolean;
  /** The same field, which must be present and not null. */
  required(): Param<T>;
  protected readonly __type?: T;
}

export interface Range {
  min?: number;
  max?: number;
}

export declare const param: {
  boolean(defaultValue?: boolean): Param<boolean>;
  number(defaultValue?: number, range?: Range): Param<number>;
  integer(defaultValue?: number, range?: Range): Param<number>;
  string(defaultValue?: string): Param<string>;
  oneOf<const V extends string | number | boolean>(values: readonly V[], defaultValue?: V): Param<V>;
  array<T = unknown>(defaultValue?: T[], item?: Param<T>): Param<T[]>;
  object<T extends object = { [key: string]: unknown }>(defaultValue?: T): Param<T>;
  any<T = unknown>(defaultValue?: T): Param<T>;
};

/** A configuration spec: params, or plain defaults (`true`, `1`, `"text"`, `[...]`). */
export type ConfigSpec = { readonly [field: string]: Param<unknown> | boolean | number | string | readonly unknown[] };

type Widen<T> = T extends boolean ? boolean : T extends number ? number : T extends string ? string : T;

/** The parsed configuration of a spec. */
export type ConfigOf<S extends ConfigSpec> = {
  -readonly [K in keyof S]: S[K] extends Param<infer T> ? T : Widen<S[K]>;
};

export interface OpenContextOptions {
  operatorName?: string;
  /** JSON text, or a value to serialize. */
  config?: string | unknown;
  inputSchema?: SchemaLike;
  keyFields?: readonly string[];
  subtaskIndex?: number;
  parallelism?: number;
  attempt?: number;
}

/** What the runtime tells an operator instance when it opens. */
export declare class OpenContext {
  constructor(options?: OpenContextOptions);
  readonly operatorName: string;
  /** The operator's `config` from the job spec, as JSON text (`{}` when it has none). */
  readonly configJson: string;
  readonly inputSchema: Schema;
  readonly keyFields: readonly string[];
  readonly subtaskIndex: number;
  readonly parallelism: number;
  readonly attempt: number;
  /** The configuration checked against `spec`; `InvalidConfig` naming the field on any problem. */
  config<S extends ConfigSpec>(spec: S): ConfigOf<S>;
  /** The configuration as parsed JSON, unchecked. */
  config(): unknown;
  /** The input fields named by `keyFields`. */
  readonly keyColumns: Field[];
  /** The keyed-state key of an input record. */
  keyOf(record: Record): Uint8Array;
}

export type TimeDomainName = 'event-time' | 'processing-time';

export declare const TimeDomain: {
  readonly EventTime: 'event-time';
  readonly ProcessingTime: 'processing-time';
};

export interface Timer {
  key: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  timestamp: bigint;
  domain: TimeDomainName;
}

/**
 * An operator. `this` is the instance: an object whose prototype is the
 * definition, so state set in `open` is per instance.
 */
export interface Operator<This = any> {
  /** Validates the configuration, resolves columns, returns the output schema. */
  open(this: This, ctx: OpenContext): SchemaLike;
  /** One input record; emits zero or more output records. */
  process?(this: This, record: Record, emit: Emit): void;
  /** One input batch; the default calls `process` for each record. */
  processBatch?(this: This, records: readonly Record[], emit: Emit): void;
  /** The event-time watermark advanced (milliseconds since the Unix epoch). */
  onWatermark?(this: This, watermark: bigint, emit: Emit): void;
  /** A timer is due; timers of one call come in timestamp order. */
  onTimer?(this: This, timer: Timer, emit: Emit): void;
  /** The input ended: emit what the operator still holds. */
  close?(this: This, emit: Emit): void;
}

/** Declares an operator; export the result as the module's default export. */
export declare function defineOperator<T extends Operator<T & { [state: string]: any }>>(definition: T): T;
export declare function defineOperator<C extends new () => Operator>(definition: C): C;

export type ErrorKindName = 'invalid-config' | 'invalid-input' | 'host' | 'internal';

export declare const ErrorKind: {
  readonly InvalidConfig: 'invalid-config';
  readonly InvalidInput: 'invalid-input';
  readonly Host: 'host';
  readonly Internal: 'internal';
};

/** An error with a kind; anything else thrown by operator code is `internal`. */
export declare class OperatorError extends Error {
  constructor(kind: ErrorKindName, message: string);
  readonly kind: ErrorKindName;
}
/** The configuration is unusable: the job fails without restarts. */
export declare class InvalidConfig extends OperatorError {
  constructor(message: string);
}
/** A record could not be processed. */
export declare class InvalidInput extends OperatorError {
  constructor(message: string);
}
/** A host call (keyed state, timers) failed. */
export declare class HostError extends OperatorError {
  constructor(message: string);
}
/** A bug or an unexpected condition in the operator. */
export declare class InternalError extends OperatorError {
  constructor(message: string);
}

/** Stops the instance with a WebAssembly trap (like a Rust panic), not an operator error. */
export declare function abort(message: string): never;

/** Where emitted records go during one call (`emit` is handed to operator methods). */
export declare class Output {
  constructor(schema: SchemaLike, targetBytes?: number);
  readonly schema: Schema;
  readonly emitted: number;
  readonly emit: Emit;
  takeBatches(): Uint8Array[];
  discard(): void;
  records(): Record[];
}

/** A new output batch starts past this many bytes. */
export declare const TARGET_BATCH_BYTES: number;

/** The keyed-state key of `record` over `fields`. */
export declare function keyOf(record: Record, fields: ReadonlyArray<Field | FieldSpec>): Uint8Array;

/** One value per key. */
export declare class ValueState {
  static open(name: string): ValueState;
  readonly name: string;
  get(keys: readonly Uint8Array[]): Array<Uint8Array | null>;
  put(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array | null]>): void;
}

/** A map from user keys to values, per key. */
export declare class MapState {
  static open(name: string): MapState;
  readonly name: string;
  get(lookups: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): Array<Uint8Array | null>;
  put(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array, Uint8Array | null]>): void;
  entries(key: Uint8Array): Array<[Uint8Array, Uint8Array]>;
  clear(keys: readonly Uint8Array[]): void;
}

/** An append-only list of values, per key. */
export declare class ListState {
  static open(name: string): ListState;
  readonly name: string;
  get(keys: readonly Uint8Array[]): Uint8Array[][];
  append(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): void;
  clear(keys: readonly Uint8Array[]): void;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export declare namespace log {
  const Level: {
    readonly Trace: 'trace';
    readonly Debug: 'debug';
    readonly Info: 'info';
    readonly Warn: 'warn';
    readonly Error: 'error';
  };
  function log(level: LogLevel, message: string): void;
  function enabled(level: LogLevel): boolean;
  function trace(message: string): void;
  function debug(message: string): void;
  function info(message: string): void;
  function warn(message: string): void;
  function error(message: string): void;
}

export declare namespace metrics {
  function counterAdd(name: string, delta: number | bigint): void;
  function gaugeSet(name: string, value: number): void;
}

export declare namespace timers {
  export const TimeDomain: {
    readonly EventTime: 'event-time';
    readonly ProcessingTime: 'processing-time';
  };
  /** A timer for `key` at `timestamp` (milliseconds since the Unix epoch). */
  export function timer(key: Uint8Array, timestamp: bigint | number, domain?: TimeDomainName): Timer;
  /** Registers timers; registering the same (key, timestamp, domain) twice keeps one. */
  export function register(timers: readonly TimerSpec[]): void;
  /** The operator's current watermark, or null before the first. */
  export function currentWatermark(): bigint | null;
  /** The runtime's clock, in milliseconds since the Unix epoch. */
  export function currentProcessingTime(): bigint;
  /** Deletes timers registered earlier. */
  function deleteTimers(timers: readonly TimerSpec[]): void;
  export { deleteTimers as delete };
}

/** A timer to register or delete; the timestamp may be a safe integer number. */
export interface TimerSpec {
  key: Uint8Array;
  timestamp: bigint | number;
  domain: TimeDomainName;
}
