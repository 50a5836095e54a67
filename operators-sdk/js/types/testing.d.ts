import type { OpenContext, OpenContextOptions, Operator, Record, Schema, TimeDomainName, Value } from './index.js';

/** One operator instance opened under Node, as the runtime would open it. */
export declare class OperatorHarness {
  readonly context: OpenContext;
  readonly outputSchema: Schema;
  /** Feeds one input batch; returns the emitted records or throws the operator's error. */
  process(records: ReadonlyArray<{ readonly [column: string]: Value } | readonly Value[]>): Record[];
  onWatermark(watermark: bigint | number): Record[];
  onTimer(timers: ReadonlyArray<{ key: Uint8Array; timestamp: bigint | number; domain?: TimeDomainName }>): Record[];
  close(): Record[];
}

/** Opens `operator`; throws the operator's error (an `OperatorError`) if `open` fails. */
export declare function openOperator(operator: Operator | (new () => Operator), options?: OpenContextOptions | OpenContext): OperatorHarness;
