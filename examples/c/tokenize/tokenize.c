/*
 * The tokenizer of the word-count example, in C: splits each line of text
 * into words.
 *
 * Input: a column `line` (utf8). Output: one record per word, with the single
 * column `word` (utf8, not null).
 *
 * A word is a maximal run of characters that are alphanumeric (Unicode, as
 * Rust's char::is_alphanumeric) or an apostrophe '. Leading and trailing
 * apostrophes are trimmed, so quotes do not stick to words while "weir's"
 * stays one word. Words left empty, and words shorter than `minLength`
 * characters, are dropped. With `lowercase`, each character is lowercased
 * (Unicode, as Rust's char::to_lowercase) before the length check. A null
 * line has no words.
 *
 * Configuration (all optional):
 *
 *     { "lowercase": true, "minLength": 1 }
 */
#include <stdlib.h>

#include "tokenize.h"

weir_status tokenize_words(const char *text, size_t len, const tokenize_config *config,
                           weir_buffer *lowered, tokenize_emit_fn emit, void *arg,
                           weir_error *err) {
    size_t pos = 0;
    while (pos < len) {
        /* Skip to the start of the next run of word characters. */
        size_t start = pos;
        uint32_t cp = weir_utf8_next(text, len, &pos);
        if (!(cp == '\'' || weir_unicode_is_alphanumeric(cp)))
            continue;
        size_t end = pos;
        while (pos < len) {
            size_t next = pos;
            cp = weir_utf8_next(text, len, &next);
            if (!(cp == '\'' || weir_unicode_is_alphanumeric(cp)))
                break;
            pos = next;
            end = next;
        }
        /* Trim apostrophes (one byte each) from both ends. */
        while (start < end && text[start] == '\'')
            start++;
        while (end > start && text[end - 1] == '\'')
            end--;
        if (start == end)
            continue;
        const char *word = text + start;
        size_t word_len = end - start;
        if (config->lowercase) {
            weir_buffer_clear(lowered);
            for (size_t i = start; i < end;) {
                uint32_t lower[3];
                size_t n = weir_unicode_to_lower(weir_utf8_next(text, end, &i), lower);
                for (size_t k = 0; k < n; k++) {
                    char utf8[4];
                    if (weir_buffer_append(lowered, utf8, weir_utf8_encode(lower[k], utf8)) !=
                        WEIR_OK)
                        return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory");
                }
            }
            word = lowered->data;
            word_len = lowered->len;
        }
        if (config->min_length > 1) {
            int64_t chars = 0;
            for (size_t i = 0; i < word_len && chars < config->min_length; chars++)
                weir_utf8_next(word, word_len, &i);
            if (chars < config->min_length)
                continue;
        }
        WEIR_TRY(emit(arg, word, word_len));
    }
    return WEIR_OK;
}

typedef struct tokenize {
    tokenize_config config;
    size_t line;
    /* Reused for lowercased words, so that emitting a word allocates
     * nothing once it has grown. */
    weir_buffer lowered;
} tokenize;

static weir_status tokenize_open(const weir_open_context *ctx, weir_schema *output_schema,
                                 void **state, weir_error *err) {
    tokenize_config config = {.lowercase = true, .min_length = 1};
    const weir_config_field fields[] = {
        WEIR_CONFIG_BOOL("lowercase", &config.lowercase),
        WEIR_CONFIG_INT_RANGE("minLength", &config.min_length, 0, INT64_MAX),
    };
    WEIR_TRY(weir_config_read(ctx, fields, WEIR_COUNT(fields), err));
    size_t line;
    WEIR_TRY(weir_schema_index_of_type(ctx->input_schema, "line", WEIR_UTF8, &line, err));

    tokenize *t = calloc(1, sizeof *t);
    if (t == NULL)
        return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory");
    t->config = config;
    t->line = line;
    *state = t;
    weir_schema_add(output_schema, "word", WEIR_UTF8, false);
    return WEIR_OK;
}

static weir_status emit_word(void *out, const char *word, size_t len) {
    return weir_output_utf8(out, word, len);
}

static weir_status tokenize_process(void *state, const weir_row *row, weir_output *out,
                                    weir_error *err) {
    tokenize *t = state;
    weir_str line;
    bool present;
    WEIR_TRY(weir_row_opt_utf8(row, t->line, &line, &present, err));
    if (!present)
        return WEIR_OK;
    return tokenize_words(line.ptr, line.len, &t->config, &t->lowered, emit_word, out, err);
}

static void tokenize_destroy(void *state) {
    tokenize *t = state;
    weir_buffer_free(&t->lowered);
    free(t);
}

const weir_operator tokenize_operator = {
    .open = tokenize_open,
    .process = tokenize_process,
    .destroy = tokenize_destroy,
};

WEIR_EXPORT_OPERATOR(tokenize_operator)
