// The tokenizer of the word-count example, in JavaScript: splits each line
// of text into words, by the same rule as the Rust operator of
// examples/wordcount.
//
// Input: a column `line` (utf8). Output: one record per word, with the single
// column `word` (utf8, not null).
//
// A word is a maximal run of characters that are alphabetic or numeric
// (Unicode's Alphabetic property and the number categories, what Rust's
// `char::is_alphanumeric` tests) or an apostrophe `'`. Leading and trailing
// apostrophes are trimmed, so quotes do not stick to words while "weir's"
// stays one word. Words left empty, and words shorter than `minLength`
// characters, are dropped. With `lowercase`, each character is lowercased on
// its own before the length check.
//
// Configuration (all optional): { "lowercase": true, "minLength": 1 }

import { defineOperator, param } from 'weir-operator';

const RUN = /[\p{Alphabetic}\p{N}']+/gu;
const ASCII = /^[\x00-\x7f]*$/;

/** Lowercases each character on its own, as Rust's `char::to_lowercase`. */
function lowercase(word) {
  // String.prototype.toLowerCase looks at context for one letter only: a
  // capital sigma at the end of a word becomes a final sigma. Character by
  // character, it stays a plain sigma.
  if (ASCII.test(word) || !word.includes('\u03a3')) return word.toLowerCase();
  let out = '';
  for (const ch of word) out += ch.toLowerCase();
  return out;
}

/** The word without leading and trailing apostrophes. */
function trimApostrophes(run) {
  let start = 0;
  let end = run.length;
  while (start < end && run.charCodeAt(start) === 39) start++;
  while (end > start && run.charCodeAt(end - 1) === 39) end--;
  return start === 0 && end === run.length ? run : run.slice(start, end);
}

function characters(word) {
  let n = 0;
  for (const _ of word) n++;
  return n;
}

/** Calls `emit` with every word of `text`, following the rule above. */
export function forEachWord(text, config, emit) {
  // exec on the one shared expression, not matchAll: matchAll clones the
  // expression on every call, which QuickJS pays for by recompiling it.
  RUN.lastIndex = 0;
  for (let match = RUN.exec(text); match !== null; match = RUN.exec(text)) {
    let word = trimApostrophes(match[0]);
    if (word === '') continue;
    if (config.lowercase) word = lowercase(word);
    if (config.minLength > 1 && characters(word) < config.minLength) continue;
    emit(word);
  }
}

export default defineOperator({
  open(ctx) {
    this.config = ctx.config({
      lowercase: true,
      minLength: param.integer(1, { min: 0 }),
    });
    // Fails with an invalid-config error listing the columns if `line` is
    // missing.
    ctx.inputSchema.indexOf('line');
    return [{ name: 'word', type: 'utf8', nullable: false }];
  },

  process(record, emit) {
    if (record.line === null) return;
    forEachWord(record.line, this.config, (word) => emit({ word }));
  },
});
