/*
 * A strict JSON parser (RFC 8259) and the configuration reader built on it.
 *
 * Bounded: nesting deeper than WEIR_JSON_MAX_DEPTH is refused, so recursion
 * cannot exhaust the stack, and memory is proportional to the input. Every
 * node and string of a document lives in one arena, freed at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_internal.h"

struct weir_json {
    weir_json_type type;
    bool integral; /* a number written without fraction or exponent */
    bool is_int;   /* ... that also fits int64_t */
    bool boolean;
    int64_t integer;
    double number;
    const char *text;        /* string value (NUL-terminated) */
    size_t text_len;
    weir_json *items;        /* array elements or object values */
    const char **keys;       /* object keys (NUL-terminated) */
    size_t *key_lens;
    size_t count;
};

/* One allocation of the arena; `data` follows the header. */
typedef struct chunk {
    struct chunk *next;
    size_t used;
    size_t size;
    max_align_t data[];
} chunk;

/* The root node comes first so that weir_json_free can find the arena. */
typedef struct document {
    weir_json root;
    chunk *chunks;
} document;

typedef struct parser {
    const char *text;
    size_t len;
    size_t pos;
    document *doc;
    weir_error *err;
    /* Scratch for decoding strings. */
    weir_buffer scratch;
} parser;

static void *arena_alloc(document *doc, size_t size) {
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (size == 0)
        size = sizeof(max_align_t);
    chunk *c = doc->chunks;
    if (c == NULL || c->size - c->used < size) {
        size_t want = size > 4096 ? size : 4096;
        c = malloc(sizeof(chunk) + want);
        if (c == NULL)
            return NULL;
        c->next = doc->chunks;
        c->used = 0;
        c->size = want;
        doc->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

/* Line and column (1-based, in bytes) of `pos`, for messages. */
static void position(const parser *p, size_t pos, size_t *line, size_t *column) {
    *line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos && i < p->len; i++) {
        if (p->text[i] == '\n') {
            (*line)++;
            line_start = i + 1;
        }
    }
    *column = pos - line_start + 1;
}

static weir_status fail_at(parser *p, size_t pos, const char *what) {
    size_t line, column;
    position(p, pos, &line, &column);
    return weir_error_set(p->err, WEIR_ERR_INVALID_INPUT,
                          "malformed JSON at line %zu, column %zu: %s", line, column, what);
}

static weir_status out_of_memory(parser *p) {
    return weir_error_set(p->err, WEIR_ERR_INTERNAL, "out of memory parsing JSON");
}

static void skip_whitespace(parser *p) {
    while (p->pos < p->len) {
        char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
        return false;
    p->pos += n;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at p->pos. */
static bool hex4(parser *p, uint32_t *out) {
    if (p->len - p->pos < 4)
        return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p->text[p->pos + i]);
        if (d < 0)
            return false;
        v = v << 4 | (uint32_t)d;
    }
    p->pos += 4;
    *out = v;
    return true;
}

/* Parses a string at p->pos (the opening quote) into arena memory. */
static weir_status parse_string(parser *p, const char **out, size_t *out_len) {
    size_t start = p->pos;
    p->pos++; /* the quote */
    weir_buffer_clear(&p->scratch);
    for (;;) {
        /* Copy the run of plain characters up to the next quote, backslash
         * or control character in one go. */
        size_t run = p->pos;
        while (p->pos < p->len) {
            unsigned char c = (unsigned char)p->text[p->pos];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            p->pos++;
        }
        if (weir_buffer_append(&p->scratch, p->text + run, p->pos - run) != WEIR_OK)
            return out_of_memory(p);
        if (p->pos >= p->len)
            return fail_at(p, start, "unterminated string");
        unsigned char c = (unsigned char)p->text[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail_at(p, p->pos, "control character in a string (escape it)");
        /* A backslash. */
        size_t escape = p->pos;
        p->pos++;
        if (p->pos >= p->len)
            return fail_at(p, start, "unterminated string");
        char e = p->text[p->pos++];
        char byte;
        switch (e) {
        case '"':
            byte = '"';
            break;
        case '\\':
            byte = '\\';
            break;
        case '/':
            byte = '/';
            break;
        case 'b':
            byte = '\b';
            break;
        case 'f':
            byte = '\f';
            break;
        case 'n':
            byte = '\n';
            break;
        case 'r':
            byte = '\r';
            break;
        case 't':
            byte = '\t';
            break;
        case 'u': {
            uint32_t cp;
            if (!hex4(p, &cp))
                return fail_at(p, escape, "\\u must be followed by 4 hex digits");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(p, escape, "unpaired low surrogate in a \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t low;
                if (!(p->len - p->pos >= 2 && p->text[p->pos] == '\\' &&
                      p->text[p->pos + 1] == 'u'))
                    return fail_at(p, escape, "unpaired high surrogate in a \\u escape");
                p->pos += 2;
                if (!hex4(p, &low))
                    return fail_at(p, p->pos - 2, "\\u must be followed by 4 hex digits");
                if (low < 0xDC00 || low > 0xDFFF)
                    return fail_at(p, escape, "unpaired high surrogate in a \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            char utf8[4];
            size_t n = weir_utf8_encode(cp, utf8);
            if (weir_buffer_append(&p->scratch, utf8, n) != WEIR_OK)
                return out_of_memory(p);
            continue;
        }
        default:
            return fail_at(p, escape, "invalid escape in a string");
        }
        if (weir_buffer_append_byte(&p->scratch, (uint8_t)byte) != WEIR_OK)
            return out_of_memory(p);
    }
    char *text = arena_alloc(p->doc, p->scratch.len + 1);
    if (text == NULL)
        return out_of_memory(p);
    if (p->scratch.len > 0)
        memcpy(text, p->scratch.data, p->scratch.len);
    text[p->scratch.len] = '\0';
    *out = text;
    *out_len = p->scratch.len;
    return WEIR_OK;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static weir_status parse_number(parser *p, weir_json *node) {
    size_t start = p->pos;
    const char *t = p->text;
    if (p->pos < p->len && t[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || !is_digit(t[p->pos]))
        return fail_at(p, start, "invalid number");
    if (t[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(t[p->pos]))
            return fail_at(p, start, "invalid number (leading zero)");
    } else {
        while (p->pos < p->len && is_digit(t[p->pos]))
            p->pos++;
    }
    bool integral = true;
    if (p->pos < p->len && t[p->pos] == '.') {
        integral = false;
        p->pos++;
        if (p->pos >= p->len || !is_digit(t[p->pos]))
            return fail_at(p, start, "invalid number (no digit after the decimal point)");
        while (p->pos < p->len && is_digit(t[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (t[p->pos] == 'e' || t[p->pos] == 'E')) {
        integral = false;
        p->pos++;
        if (p->pos < p->len && (t[p->pos] == '+' || t[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(t[p->pos]))
            return fail_at(p, start, "invalid number (no digit in the exponent)");
        while (p->pos < p->len && is_digit(t[p->pos]))
            p->pos++;
    }
    /* strtod needs a terminated copy; the grammar was checked above, so it
     * consumes all of it. */
    size_t n = p->pos - start;
    char small[64];
    char *copy = n < sizeof small ? small : malloc(n + 1);
    if (copy == NULL)
        return out_of_memory(p);
    memcpy(copy, t + start, n);
    copy[n] = '\0';
    node->type = WEIR_JSON_NUMBER;
    node->number = strtod(copy, NULL);
    node->integral = integral;
    if (integral) {
        errno = 0;
        long long v = strtoll(copy, NULL, 10);
        if (errno == 0 && v >= INT64_MIN && v <= INT64_MAX) {
            node->is_int = true;
            node->integer = (int64_t)v;
        }
    }
    if (copy != small)
        free(copy);
    if (isinf(node->number))
        return fail_at(p, start, "number out of range");
    return WEIR_OK;
}

static weir_status parse_value(parser *p, weir_json *node, int depth);

/* Elements collected while a container is parsed, before they move to the
 * arena. */
typedef struct collected {
    weir_json *items;
    const char **keys;
    size_t *key_lens;
    size_t len;
    size_t cap;
} collected;

static bool collect_grow(collected *c, bool with_keys) {
    if (c->len < c->cap)
        return true;
    size_t cap = c->cap == 0 ? 8 : c->cap * 2;
    weir_json *items = realloc(c->items, cap * sizeof(weir_json));
    if (items == NULL)
        return false;
    c->items = items;
    if (with_keys) {
        const char **keys = realloc((void *)c->keys, cap * sizeof(char *));
        if (keys == NULL)
            return false;
        c->keys = keys;
        size_t *lens = realloc(c->key_lens, cap * sizeof(size_t));
        if (lens == NULL)
            return false;
        c->key_lens = lens;
    }
    c->cap = cap;
    return true;
}

static void collect_free(collected *c) {
    free(c->items);
    free((void *)c->keys);
    free(c->key_lens);
}

/* Moves the collected elements into the arena. */
static weir_status collect_finish(parser *p, collected *c, weir_json *node, bool with_keys) {
    node->count = c->len;
    if (c->len == 0)
        return WEIR_OK;
    node->items = arena_alloc(p->doc, c->len * sizeof(weir_json));
    if (node->items == NULL)
        return out_of_memory(p);
    memcpy(node->items, c->items, c->len * sizeof(weir_json));
    if (with_keys) {
        node->keys = arena_alloc(p->doc, c->len * sizeof(char *));
        node->key_lens = arena_alloc(p->doc, c->len * sizeof(size_t));
        if (node->keys == NULL || node->key_lens == NULL)
            return out_of_memory(p);
        memcpy((void *)node->keys, c->keys, c->len * sizeof(char *));
        memcpy(node->key_lens, c->key_lens, c->len * sizeof(size_t));
    }
    return WEIR_OK;
}

static weir_status parse_container(parser *p, weir_json *node, int depth, bool object) {
    size_t open = p->pos;
    if (depth >= WEIR_JSON_MAX_DEPTH) {
        char what[80];
        snprintf(what, sizeof what, "nested deeper than %d levels", WEIR_JSON_MAX_DEPTH);
        return fail_at(p, open, what);
    }
    char close = object ? '}' : ']';
    node->type = object ? WEIR_JSON_OBJECT : WEIR_JSON_ARRAY;
    p->pos++;
    collected c = {0};
    weir_status status = WEIR_OK;
    skip_whitespace(p);
    if (p->pos < p->len && p->text[p->pos] == close) {
        p->pos++;
        return WEIR_OK;
    }
    for (;;) {
        if (!collect_grow(&c, object)) {
            status = out_of_memory(p);
            break;
        }
        skip_whitespace(p);
        if (object) {
            if (p->pos >= p->len || p->text[p->pos] != '"') {
                status = fail_at(p, p->pos, "expected a string key");
                break;
            }
            status = parse_string(p, &c.keys[c.len], &c.key_lens[c.len]);
            if (status != WEIR_OK)
                break;
            skip_whitespace(p);
            if (p->pos >= p->len || p->text[p->pos] != ':') {
                status = fail_at(p, p->pos, "expected ':' after a key");
                break;
            }
            p->pos++;
        }
        memset(&c.items[c.len], 0, sizeof(weir_json));
        status = parse_value(p, &c.items[c.len], depth + 1);
        if (status != WEIR_OK)
            break;
        c.len++;
        skip_whitespace(p);
        if (p->pos < p->len && p->text[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->text[p->pos] == close) {
            p->pos++;
            break;
        }
        if (p->pos >= p->len)
            status = fail_at(p, open, object ? "unterminated object" : "unterminated array");
        else
            status = fail_at(p, p->pos, object ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    if (status == WEIR_OK)
        status = collect_finish(p, &c, node, object);
    collect_free(&c);
    return status;
}

static weir_status parse_value(parser *p, weir_json *node, int depth) {
    skip_whitespace(p);
    if (p->pos >= p->len)
        return fail_at(p, p->pos, "expected a value, found the end of the text");
    char c = p->text[p->pos];
    switch (c) {
    case '{':
        return parse_container(p, node, depth, true);
    case '[':
        return parse_container(p, node, depth, false);
    case '"':
        node->type = WEIR_JSON_STRING;
        return parse_string(p, &node->text, &node->text_len);
    case 't':
    case 'f':
    case 'n':
        if (literal(p, "true")) {
            node->type = WEIR_JSON_BOOL;
            node->boolean = true;
            return WEIR_OK;
        }
        if (literal(p, "false")) {
            node->type = WEIR_JSON_BOOL;
            node->boolean = false;
            return WEIR_OK;
        }
        if (literal(p, "null")) {
            node->type = WEIR_JSON_NULL;
            return WEIR_OK;
        }
        return fail_at(p, p->pos, "expected a value");
    default:
        if (c == '-' || is_digit(c))
            return parse_number(p, node);
        return fail_at(p, p->pos, "expected a value");
    }
}

static void free_document(document *doc) {
    chunk *c = doc->chunks;
    while (c != NULL) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

weir_status weir_json_parse(const char *text, size_t len, weir_json **root, weir_error *err) {
    *root = NULL;
    if (!weir_utf8_valid(text, len)) {
        return weir_error_set(err, WEIR_ERR_INVALID_INPUT, "malformed JSON: not valid UTF-8");
    }
    document *doc = calloc(1, sizeof(document));
    if (doc == NULL)
        return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory parsing JSON");
    parser p = {text, len, 0, doc, err, {0}};
    weir_status status = parse_value(&p, &doc->root, 0);
    if (status == WEIR_OK) {
        skip_whitespace(&p);
        if (p.pos != len)
            status = fail_at(&p, p.pos, "trailing characters after the value");
    }
    weir_buffer_free(&p.scratch);
    if (status != WEIR_OK) {
        free_document(doc);
        return status;
    }
    *root = &doc->root;
    return WEIR_OK;
}

void weir_json_free(weir_json *root) {
    if (root != NULL)
        free_document((document *)root);
}

weir_json_type weir_json_type_of(const weir_json *node) {
    return node->type;
}

const char *weir_json_type_name(weir_json_type type) {
    switch (type) {
    case WEIR_JSON_NULL:
        return "null";
    case WEIR_JSON_BOOL:
        return "a boolean";
    case WEIR_JSON_NUMBER:
        return "a number";
    case WEIR_JSON_STRING:
        return "a string";
    case WEIR_JSON_ARRAY:
        return "an array";
    case WEIR_JSON_OBJECT:
        return "an object";
    }
    return "unknown";
}

bool weir_json_bool(const weir_json *node) {
    return node->type == WEIR_JSON_BOOL && node->boolean;
}

double weir_json_number(const weir_json *node) {
    return node->type == WEIR_JSON_NUMBER ? node->number : 0.0;
}

bool weir_json_int64(const weir_json *node, int64_t *out) {
    if (node->type != WEIR_JSON_NUMBER || !node->is_int)
        return false;
    *out = node->integer;
    return true;
}

const char *weir_json_string(const weir_json *node, size_t *len) {
    if (node->type != WEIR_JSON_STRING) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = node->text_len;
    return node->text;
}

size_t weir_json_length(const weir_json *node) {
    return node->type == WEIR_JSON_ARRAY || node->type == WEIR_JSON_OBJECT ? node->count : 0;
}

const weir_json *weir_json_at(const weir_json *node, size_t index) {
    if (index >= weir_json_length(node))
        return NULL;
    return &node->items[index];
}

const char *weir_json_key_at(const weir_json *node, size_t index, size_t *len) {
    if (node->type != WEIR_JSON_OBJECT || index >= node->count)
        return NULL;
    if (len != NULL)
        *len = node->key_lens[index];
    return node->keys[index];
}

const weir_json *weir_json_get(const weir_json *node, const char *key) {
    if (node->type != WEIR_JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < node->count; i++) {
        if (node->key_lens[i] == n && memcmp(node->keys[i], key, n) == 0)
            return &node->items[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

static const char *kind_expected(weir_config_kind kind) {
    switch (kind) {
    case WEIR_CONFIG_KIND_BOOL:
        return "a boolean";
    case WEIR_CONFIG_KIND_INT:
        return "an integer";
    case WEIR_CONFIG_KIND_NUMBER:
        return "a number";
    case WEIR_CONFIG_KIND_STRING:
        return "a string";
    }
    return "?";
}

/* Fails with "invalid config of operator `name`: <message>". */
static weir_status config_fail(const weir_open_context *ctx, weir_error *err, const char *fmt, ...)
    WEIR_PRINTF(3, 4);
static weir_status config_fail(const weir_open_context *ctx, weir_error *err, const char *fmt,
                               ...) {
    va_list args;
    va_start(args, fmt);
    char *message = weir__formatv(fmt, args);
    va_end(args);
    weir_error_set(err, WEIR_ERR_INVALID_CONFIG, "invalid config of operator `%s`: %s",
                   ctx->operator_name == NULL ? "" : ctx->operator_name,
                   message == NULL ? "out of memory" : message);
    free(message);
    return WEIR_ERR_INVALID_CONFIG;
}

/* "`a`, `b` and `c`", for the message about an unknown field. */
static char *field_names(const weir_config_field *fields, size_t count) {
    weir_buffer buf = {0};
    if (count == 0)
        weir_buffer_printf(&buf, "none");
    for (size_t i = 0; i < count; i++) {
        const char *sep = i == 0 ? "" : i + 1 == count ? " and " : ", ";
        weir_buffer_printf(&buf, "%s`%s`", sep, fields[i].name);
    }
    if (weir_buffer_cstr(&buf) == NULL) {
        weir_buffer_free(&buf);
        return NULL;
    }
    return buf.data;
}

/* Checks one member's value against its field; stores nothing. */
static weir_status config_check(const weir_open_context *ctx, const weir_config_field *field,
                                const weir_json *value, weir_error *err) {
    if (value->type == WEIR_JSON_NULL && field->present != NULL)
        return WEIR_OK;
    bool ok;
    switch (field->kind) {
    case WEIR_CONFIG_KIND_BOOL:
        ok = value->type == WEIR_JSON_BOOL;
        break;
    case WEIR_CONFIG_KIND_INT:
        if (value->type == WEIR_JSON_NUMBER && !value->is_int) {
            if (value->integral)
                return config_fail(ctx, err,
                                   "field `%s`: %.17g is out of range (%" PRId64 " to %" PRId64 ")",
                                   field->name, value->number, field->min, field->max);
            return config_fail(ctx, err,
                               "field `%s`: expected an integer, found a number with a fraction "
                               "or an exponent (%.17g)",
                               field->name, value->number);
        }
        ok = value->type == WEIR_JSON_NUMBER;
        if (ok && (value->integer < field->min || value->integer > field->max))
            return config_fail(ctx, err,
                               "field `%s`: %" PRId64 " is out of range (%" PRId64 " to %" PRId64
                               ")",
                               field->name, value->integer, field->min, field->max);
        break;
    case WEIR_CONFIG_KIND_NUMBER:
        ok = value->type == WEIR_JSON_NUMBER;
        break;
    case WEIR_CONFIG_KIND_STRING:
        ok = value->type == WEIR_JSON_STRING;
        if (ok && strlen(value->text) != value->text_len)
            return config_fail(ctx, err, "field `%s`: the string contains a NUL character",
                               field->name);
        break;
    default:
        return weir_error_set(err, WEIR_ERR_INTERNAL,
                              "config field `%s` has the invalid kind %d", field->name,
                              (int)field->kind);
    }
    if (!ok)
        return config_fail(ctx, err, "field `%s`: expected %s, found %s", field->name,
                           kind_expected(field->kind), weir_json_type_name(value->type));
    return WEIR_OK;
}

static void config_store(const weir_config_field *field, const weir_json *value, char *string) {
    if (value->type == WEIR_JSON_NULL) {
        *field->present = false;
        return;
    }
    if (field->present != NULL)
        *field->present = true;
    switch (field->kind) {
    case WEIR_CONFIG_KIND_BOOL:
        *(bool *)field->target = value->boolean;
        break;
    case WEIR_CONFIG_KIND_INT:
        *(int64_t *)field->target = value->integer;
        break;
    case WEIR_CONFIG_KIND_NUMBER:
        *(double *)field->target = value->number;
        break;
    case WEIR_CONFIG_KIND_STRING:
        *(char **)field->target = string;
        break;
    }
}

weir_status weir_config_read(const weir_open_context *ctx, const weir_config_field *fields,
                             size_t field_count, weir_error *err) {
    const char *text = ctx->config_json == NULL ? "" : ctx->config_json;
    size_t len = ctx->config_json == NULL ? 0 : ctx->config_json_len;
    size_t blank = 0;
    while (blank < len && (text[blank] == ' ' || text[blank] == '\t' || text[blank] == '\n' ||
                           text[blank] == '\r'))
        blank++;
    if (blank == len) {
        text = "{}";
        len = 2;
    }
    weir_json *root;
    weir_status status = weir_json_parse(text, len, &root, err);
    if (status == WEIR_ERR_INVALID_INPUT)
        return config_fail(ctx, err, "%s", weir_error_message(err));
    WEIR_TRY(status);
    if (root->type != WEIR_JSON_OBJECT) {
        weir_json_type type = root->type;
        weir_json_free(root);
        return config_fail(ctx, err, "expected a JSON object, found %s", weir_json_type_name(type));
    }
    /* Which field each member sets; checked in full before anything is
     * stored, so that a failure leaves the targets and memory untouched. */
    size_t *match = calloc(root->count == 0 ? 1 : root->count, sizeof(size_t));
    char **strings = calloc(root->count == 0 ? 1 : root->count, sizeof(char *));
    if (match == NULL || strings == NULL) {
        free(match);
        free(strings);
        weir_json_free(root);
        return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory reading the config");
    }
    status = WEIR_OK;
    for (size_t i = 0; i < root->count && status == WEIR_OK; i++) {
        const char *key = root->keys[i];
        size_t key_len = root->key_lens[i];
        size_t f = 0;
        while (f < field_count &&
               !(strlen(fields[f].name) == key_len && memcmp(fields[f].name, key, key_len) == 0))
            f++;
        if (f == field_count) {
            char *known = field_names(fields, field_count);
            status = config_fail(ctx, err, "unknown field `%s`; the known fields are %s", key,
                                 known == NULL ? "?" : known);
            free(known);
            break;
        }
        for (size_t j = 0; j < i; j++) {
            if (match[j] == f) {
                status = config_fail(ctx, err, "duplicate field `%s`", fields[f].name);
                break;
            }
        }
        if (status != WEIR_OK)
            break;
        match[i] = f;
        status = config_check(ctx, &fields[f], &root->items[i], err);
        if (status == WEIR_OK && fields[f].kind == WEIR_CONFIG_KIND_STRING &&
            root->items[i].type == WEIR_JSON_STRING) {
            strings[i] = weir__strndup(root->items[i].text, root->items[i].text_len);
            if (strings[i] == NULL)
                status = weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory reading the config");
        }
    }
    if (status == WEIR_OK) {
        for (size_t f = 0; f < field_count; f++) {
            if (fields[f].present != NULL)
                *fields[f].present = false;
        }
        for (size_t i = 0; i < root->count; i++)
            config_store(&fields[match[i]], &root->items[i], strings[i]);
    } else {
        for (size_t i = 0; i < root->count; i++)
            free(strings[i]);
    }
    free(match);
    free(strings);
    weir_json_free(root);
    return status;
}
