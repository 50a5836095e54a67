/* The tokenizer's rule, shared by the operator and its native tests. */
#ifndef TOKENIZE_H
#define TOKENIZE_H

#include "weir_operator.h"

typedef struct tokenize_config {
    bool lowercase;
    int64_t min_length;
} tokenize_config;

typedef weir_status (*tokenize_emit_fn)(void *arg, const char *word, size_t len);

/* Calls `emit` with every word of `text`, following the rule described in
 * tokenize.c. `lowered` is scratch space for lowercased words. */
weir_status tokenize_words(const char *text, size_t len, const tokenize_config *config,
                           weir_buffer *lowered, tokenize_emit_fn emit, void *arg,
                           weir_error *err);

extern const weir_operator tokenize_operator;

#endif
