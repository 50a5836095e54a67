// The JavaScript stage of the mixed-language example: drops the words of a
// stop list, passing every other record through unchanged.
//
// Input and output: any schema with a utf8 column `word`.
// Configuration (optional): { "words": ["the", "a", ...] }; the default is
// the list below.

import { defineOperator, param } from 'weir-operator';

const DEFAULT_STOP_WORDS = [
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'for', 'from', 'in', 'is',
  'it', 'its', 'of', 'on', 'or', 'that', 'the', 'to', 'was', 'with',
];

export default defineOperator({
  open(ctx) {
    const config = ctx.config({
      words: param.array(DEFAULT_STOP_WORDS, param.string()),
    });
    this.stop = new Set(config.words);
    ctx.inputSchema.indexOf('word');
    return ctx.inputSchema;
  },

  process(record, emit) {
    if (!this.stop.has(record.word)) emit(record);
  },
});
