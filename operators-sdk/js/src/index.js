// weir-operator: write Weir stream operators in JavaScript.
//
//   import { defineOperator } from 'weir-operator';
//
//   export default defineOperator({
//     open(ctx) {
//       return [{ name: 'word', type: 'utf8', nullable: false }];
//     },
//     process(record, emit) {
//       for (const word of record.line.split(' ')) emit({ word });
//     },
//   });
//
// `weir-operator build DIR -o OUT.wasm` turns such a module into a component.
// See README.md for the whole API.

export { defineOperator } from './operator.js';
export { OpenContext } from './context.js';
export { param, Param } from './config.js';
export { DataType, Field, Schema } from './schema.js';
export { Output, TARGET_BATCH_BYTES } from './output.js';
export {
  ErrorKind,
  OperatorError,
  InvalidConfig,
  InvalidInput,
  HostError,
  InternalError,
  abort,
} from './errors.js';
export { keyOf, ValueState, MapState, ListState } from './state.js';
export * as log from './log.js';
export * as metrics from './metrics.js';
export * as timers from './timers.js';
export { TimeDomain } from './timers.js';
