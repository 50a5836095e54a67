/*
 * The core of the C SDK: errors, schemas, the row codec (input rows and
 * output records) and the operator instance that the component glue drives.
 * Nothing here talks to the host, so all of it runs in native unit tests.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_internal.h"

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

char *weir__formatv(const char *fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    char *text = malloc((size_t)n + 1);
    if (text == NULL)
        return NULL;
    vsnprintf(text, (size_t)n + 1, fmt, args);
    return text;
}

char *weir__format(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *text = weir__formatv(fmt, args);
    va_end(args);
    return text;
}

char *weir__strndup(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    if (len > 0)
        memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

const char *weir_status_name(weir_status status) {
    switch (status) {
    case WEIR_OK:
        return "ok";
    case WEIR_ERR_INVALID_CONFIG:
        return "invalid-config";
    case WEIR_ERR_INVALID_INPUT:
        return "invalid-input";
    case WEIR_ERR_HOST:
        return "host";
    case WEIR_ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}

const char *weir_type_name(weir_type type) {
    switch (type) {
    case WEIR_NULL:
        return "null";
    case WEIR_BOOLEAN:
        return "boolean";
    case WEIR_INT64:
        return "int64";
    case WEIR_FLOAT64:
        return "float64";
    case WEIR_UTF8:
        return "utf8";
    case WEIR_BINARY:
        return "binary";
    case WEIR_TIMESTAMP_MILLIS:
        return "timestamp-millis";
    }
    return "unknown";
}

static bool is_column_type(weir_type type) {
    return type >= WEIR_BOOLEAN && type <= WEIR_TIMESTAMP_MILLIS;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

struct weir_error {
    weir_status kind;
    char *message; /* malloc'd, or NULL */
    bool out_of_memory;
};

weir_error *weir_error_new(void) {
    return calloc(1, sizeof(weir_error));
}

void weir_error_clear(weir_error *err) {
    if (err == NULL)
        return;
    free(err->message);
    err->message = NULL;
    err->kind = WEIR_OK;
    err->out_of_memory = false;
}

void weir_error_free(weir_error *err) {
    weir_error_clear(err);
    free(err);
}

static void error_replace(weir_error *err, weir_status kind, char *message) {
    free(err->message);
    err->kind = kind;
    err->message = message;
    err->out_of_memory = message == NULL;
}

weir_status weir_error_setv(weir_error *err, weir_status kind, const char *fmt, va_list args) {
    if (err != NULL)
        error_replace(err, kind, weir__formatv(fmt, args));
    return kind;
}

weir_status weir_error_set(weir_error *err, weir_status kind, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    weir_error_setv(err, kind, fmt, args);
    va_end(args);
    return kind;
}

weir_status weir_error_prefix(weir_error *err, const char *fmt, ...) {
    if (err == NULL)
        return WEIR_OK;
    va_list args;
    va_start(args, fmt);
    char *prefix = weir__formatv(fmt, args);
    va_end(args);
    char *joined = prefix == NULL ? NULL : weir__format("%s: %s", prefix, weir_error_message(err));
    free(prefix);
    error_replace(err, err->kind, joined);
    return err->kind;
}

weir_status weir_error_kind(const weir_error *err) {
    return err == NULL ? WEIR_OK : err->kind;
}

const char *weir_error_message(const weir_error *err) {
    if (err == NULL)
        return "";
    if (err->message != NULL)
        return err->message;
    return err->out_of_memory ? "out of memory" : "";
}

char *weir__error_take_message(weir_error *err, size_t *len) {
    char *message = err->message;
    if (message == NULL && err->out_of_memory)
        message = weir__strndup("out of memory", 13);
    err->message = NULL;
    err->kind = WEIR_OK;
    err->out_of_memory = false;
    *len = message == NULL ? 0 : strlen(message);
    if (*len == 0) {
        free(message);
        return NULL;
    }
    return message;
}

/* ------------------------------------------------------------------------ */
/* Growable buffer                                                           */
/* ------------------------------------------------------------------------ */

weir_status weir_buffer_reserve(weir_buffer *buf, size_t additional) {
    if (buf->cap - buf->len >= additional)
        return WEIR_OK;
    if (additional > SIZE_MAX - buf->len - 1)
        return WEIR_ERR_INTERNAL;
    size_t needed = buf->len + additional;
    size_t cap = buf->cap < 64 ? 64 : buf->cap;
    while (cap < needed)
        cap = cap > SIZE_MAX / 2 ? needed : cap * 2;
    char *data = realloc(buf->data, cap);
    if (data == NULL)
        return WEIR_ERR_INTERNAL;
    buf->data = data;
    buf->cap = cap;
    return WEIR_OK;
}

weir_status weir_buffer_append(weir_buffer *buf, const void *data, size_t len) {
    WEIR_TRY(weir_buffer_reserve(buf, len));
    if (len > 0)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return WEIR_OK;
}

weir_status weir_buffer_append_byte(weir_buffer *buf, uint8_t byte) {
    WEIR_TRY(weir_buffer_reserve(buf, 1));
    buf->data[buf->len++] = (char)byte;
    return WEIR_OK;
}

weir_status weir_buffer_printf(weir_buffer *buf, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    weir_status status = WEIR_ERR_INTERNAL;
    /* One more byte for the NUL that vsnprintf writes. */
    if (n >= 0 && weir_buffer_reserve(buf, (size_t)n + 1) == WEIR_OK) {
        vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, args);
        buf->len += (size_t)n;
        status = WEIR_OK;
    }
    va_end(args);
    return status;
}

const char *weir_buffer_cstr(weir_buffer *buf) {
    if (weir_buffer_reserve(buf, 1) != WEIR_OK)
        return NULL;
    buf->data[buf->len] = '\0';
    return buf->data;
}

void weir_buffer_free(weir_buffer *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

/* ------------------------------------------------------------------------ */
/* Schemas                                                                   */
/* ------------------------------------------------------------------------ */

struct weir_schema {
    weir_field *fields; /* names malloc'd */
    size_t len;
    size_t cap;
    /* The first failed weir_schema_add, reported when `open` returns. */
    char *error;
};

weir_schema *weir_schema_new(void) {
    return calloc(1, sizeof(weir_schema));
}

void weir_schema_free(weir_schema *schema) {
    if (schema == NULL)
        return;
    for (size_t i = 0; i < schema->len; i++)
        free((char *)schema->fields[i].name);
    free(schema->fields);
    free(schema->error);
    free(schema);
}

static weir_status schema_fail(weir_schema *schema, const char *fmt, ...) WEIR_PRINTF(2, 3);
static weir_status schema_fail(weir_schema *schema, const char *fmt, ...) {
    if (schema->error == NULL) {
        va_list args;
        va_start(args, fmt);
        schema->error = weir__formatv(fmt, args);
        va_end(args);
        if (schema->error == NULL)
            schema->error = weir__strndup("out of memory", 13);
    }
    return WEIR_ERR_INTERNAL;
}

weir_status weir_schema_add(weir_schema *schema, const char *name, weir_type type, bool nullable) {
    if (name == NULL || name[0] == '\0')
        return schema_fail(schema, "a column of the output schema has an empty name");
    if (!weir_utf8_valid(name, strlen(name)))
        return schema_fail(schema, "the output schema has a column name that is not valid UTF-8");
    if (!is_column_type(type))
        return schema_fail(schema, "column `%s` of the output schema has the invalid type %d", name,
                           (int)type);
    for (size_t i = 0; i < schema->len; i++) {
        if (strcmp(schema->fields[i].name, name) == 0)
            return schema_fail(schema, "the output schema has two columns named `%s`", name);
    }
    if (schema->len == schema->cap) {
        size_t cap = schema->cap == 0 ? 8 : schema->cap * 2;
        weir_field *fields = realloc(schema->fields, cap * sizeof(weir_field));
        if (fields == NULL)
            return schema_fail(schema, "out of memory");
        schema->fields = fields;
        schema->cap = cap;
    }
    char *copy = weir__strndup(name, strlen(name));
    if (copy == NULL)
        return schema_fail(schema, "out of memory");
    schema->fields[schema->len].name = copy;
    schema->fields[schema->len].type = type;
    schema->fields[schema->len].nullable = nullable;
    schema->len++;
    return WEIR_OK;
}

weir_status weir_schema_add_all(weir_schema *schema, const weir_schema *from) {
    for (size_t i = 0; i < from->len; i++)
        WEIR_TRY(weir_schema_add(schema, from->fields[i].name, from->fields[i].type,
                                 from->fields[i].nullable));
    return WEIR_OK;
}

size_t weir_schema_len(const weir_schema *schema) {
    return schema->len;
}

const weir_field *weir_schema_field(const weir_schema *schema, size_t index) {
    return index < schema->len ? &schema->fields[index] : NULL;
}

/* "boolean or null" / "int64": what a value of the field should be. */
static const char *field_describe(const weir_field *field, char *buf, size_t size) {
    snprintf(buf, size, "%s%s", weir_type_name(field->type), field->nullable ? " or null" : "");
    return buf;
}

/* "`id` (int64), `name` (utf8 or null)", for messages; "(none)" when empty. */
static char *column_list(const weir_schema *schema) {
    weir_buffer buf = {0};
    if (schema->len == 0)
        weir_buffer_printf(&buf, "(none)");
    for (size_t i = 0; i < schema->len; i++) {
        char type[40];
        weir_buffer_printf(&buf, "%s`%s` (%s)", i == 0 ? "" : ", ", schema->fields[i].name,
                           field_describe(&schema->fields[i], type, sizeof type));
    }
    if (weir_buffer_cstr(&buf) == NULL) {
        weir_buffer_free(&buf);
        return NULL;
    }
    return buf.data;
}

weir_status weir_schema_index_of(const weir_schema *schema, const char *name, size_t *index,
                                 weir_error *err) {
    for (size_t i = 0; i < schema->len; i++) {
        if (strcmp(schema->fields[i].name, name) == 0) {
            *index = i;
            return WEIR_OK;
        }
    }
    char *columns = column_list(schema);
    weir_error_set(err, WEIR_ERR_INVALID_CONFIG, "the input has no column `%s`; its columns are: %s",
                   name, columns == NULL ? "?" : columns);
    free(columns);
    return WEIR_ERR_INVALID_CONFIG;
}

weir_status weir_schema_index_of_type(const weir_schema *schema, const char *name, weir_type type,
                                      size_t *index, weir_error *err) {
    size_t i;
    WEIR_TRY(weir_schema_index_of(schema, name, &i, err));
    if (schema->fields[i].type != type) {
        return weir_error_set(err, WEIR_ERR_INVALID_CONFIG,
                              "input column `%s` is %s, expected %s", name,
                              weir_type_name(schema->fields[i].type), weir_type_name(type));
    }
    *index = i;
    return WEIR_OK;
}

bool weir_field_accepts(const weir_field *field, const weir_value *value) {
    return value->type == WEIR_NULL ? field->nullable : value->type == field->type;
}

/* ------------------------------------------------------------------------ */
/* Open context                                                              */
/* ------------------------------------------------------------------------ */

weir_open_context weir_open_context_make(const char *operator_name, const weir_schema *input_schema,
                                         const char *config_json) {
    weir_open_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.operator_name = operator_name;
    ctx.config_json = config_json == NULL ? "{}" : config_json;
    ctx.config_json_len = strlen(ctx.config_json);
    ctx.input_schema = input_schema;
    ctx.parallelism = 1;
    return ctx;
}

weir_status weir_open_context_key_indexes(const weir_open_context *ctx, size_t *indexes,
                                          weir_error *err) {
    for (size_t i = 0; i < ctx->key_field_count; i++)
        WEIR_TRY(weir_schema_index_of(ctx->input_schema, ctx->key_fields[i], &indexes[i], err));
    return WEIR_OK;
}

/* ------------------------------------------------------------------------ */
/* Row encoding: values                                                      */
/* ------------------------------------------------------------------------ */

size_t weir__value_size(const weir_value *value) {
    switch (value->type) {
    case WEIR_NULL:
        return 1;
    case WEIR_BOOLEAN:
        return 2;
    case WEIR_INT64:
    case WEIR_FLOAT64:
    case WEIR_TIMESTAMP_MILLIS:
        return 9;
    case WEIR_UTF8:
    case WEIR_BINARY:
        return 5 + value->as.utf8.len;
    }
    return 1;
}

uint8_t *weir__write_value(uint8_t *p, const weir_value *value) {
    *p++ = (uint8_t)value->type;
    switch (value->type) {
    case WEIR_NULL:
        break;
    case WEIR_BOOLEAN:
        *p++ = value->as.boolean ? 1 : 0;
        break;
    case WEIR_INT64:
    case WEIR_TIMESTAMP_MILLIS:
        weir__put_u64(p, (uint64_t)value->as.int64);
        p += 8;
        break;
    case WEIR_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &value->as.float64, 8);
        weir__put_u64(p, bits);
        p += 8;
        break;
    }
    case WEIR_UTF8:
    case WEIR_BINARY:
        weir__put_u32(p, (uint32_t)value->as.utf8.len);
        p += 4;
        if (value->as.utf8.len > 0)
            memcpy(p, value->as.utf8.ptr, value->as.utf8.len);
        p += value->as.utf8.len;
        break;
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* Input rows                                                                */
/* ------------------------------------------------------------------------ */

struct weir_rows {
    weir_value *values; /* row-major: len * columns */
    size_t cap;
    size_t len;
    const weir_schema *schema;
    /* Where each row starts in the batch, and where the last one ends
     * (len + 1 entries): what weir_output_row copies. */
    const uint8_t *batch;
    size_t *offsets;
    size_t offsets_cap;
};

weir_rows *weir_rows_new(void) {
    return calloc(1, sizeof(weir_rows));
}

void weir_rows_free(weir_rows *rows) {
    if (rows == NULL)
        return;
    free(rows->values);
    free(rows->offsets);
    free(rows);
}

size_t weir_rows_len(const weir_rows *rows) {
    return rows->len;
}

const weir_schema *weir_rows_schema(const weir_rows *rows) {
    return rows->schema;
}

weir_row weir_rows_get(const weir_rows *rows, size_t index) {
    weir_row row;
    size_t columns = rows->schema->len;
    row.values = rows->values == NULL ? NULL : rows->values + index * columns;
    row.len = columns;
    row.schema = rows->schema;
    if (columns > 0 && rows->offsets != NULL) {
        row.encoded_ = rows->batch + rows->offsets[index];
        row.encoded_len_ = rows->offsets[index + 1] - rows->offsets[index];
    } else {
        row.encoded_ = NULL;
        row.encoded_len_ = 0;
    }
    return row;
}

/* A decoding failure, worded like the Rust codec's:
 * "malformed input batch: <what> (byte N, row R, column C)". */
static weir_status malformed(weir_error *err, size_t offset, size_t value_index, size_t columns,
                             const char *fmt, ...) WEIR_PRINTF(5, 6);
static weir_status malformed(weir_error *err, size_t offset, size_t value_index, size_t columns,
                             const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *what = weir__formatv(fmt, args);
    va_end(args);
    if (columns > 0 && value_index != SIZE_MAX) {
        weir_error_set(err, WEIR_ERR_INVALID_INPUT,
                       "malformed input batch: %s (byte %zu, row %zu, column %zu)",
                       what == NULL ? "?" : what, offset, value_index / columns,
                       value_index % columns);
    } else {
        weir_error_set(err, WEIR_ERR_INVALID_INPUT, "malformed input batch: %s (byte %zu)",
                       what == NULL ? "?" : what, offset);
    }
    free(what);
    return WEIR_ERR_INVALID_INPUT;
}

weir_status weir_rows_decode(weir_rows *rows, const weir_schema *schema, const uint8_t *data,
                             size_t len, weir_error *err) {
    rows->len = 0;
    rows->schema = schema;
    size_t columns = schema->len;
    if (len < 8)
        return malformed(err, 0, SIZE_MAX, 0, "batch shorter than its 8-byte header");
    uint32_t row_count = weir__get_u32(data);
    uint32_t column_count = weir__get_u32(data + 4);
    if (column_count != columns) {
        return malformed(err, 4, SIZE_MAX, 0, "batch has %" PRIu32 " columns, the schema has %zu",
                         column_count, columns);
    }
    /* The header's row count is untrusted: every value takes at least one
     * byte, so the data length bounds what is worth allocating. */
    size_t total = 0;
    if (columns > 0) {
        if ((uint64_t)row_count * columns > (uint64_t)(len - 8)) {
            return malformed(err, len, SIZE_MAX, 0,
                             "batch ends inside a value: %" PRIu32
                             " rows of %zu columns need more than %zu bytes",
                             row_count, columns, len - 8);
        }
        total = (size_t)row_count * columns;
        if ((size_t)row_count + 1 > rows->offsets_cap) {
            size_t *offsets = realloc(rows->offsets, ((size_t)row_count + 1) * sizeof(size_t));
            if (offsets == NULL)
                return weir_error_set(err, WEIR_ERR_INTERNAL,
                                      "out of memory decoding a batch of %" PRIu32 " rows",
                                      row_count);
            rows->offsets = offsets;
            rows->offsets_cap = (size_t)row_count + 1;
        }
        if (total > rows->cap) {
            weir_value *values = realloc(rows->values, total * sizeof(weir_value));
            if (values == NULL)
                return weir_error_set(err, WEIR_ERR_INTERNAL,
                                      "out of memory decoding a batch of %" PRIu32 " rows",
                                      row_count);
            rows->values = values;
            rows->cap = total;
        }
    }
    size_t pos = 8;
    size_t column = 0;
    size_t row = 0;
    for (size_t i = 0; i < total; i++) {
        size_t start = pos;
        const weir_field *field = &schema->fields[column];
        weir_value *v = &rows->values[i];
        if (column == 0)
            rows->offsets[row] = pos;
        if (pos >= len)
            return malformed(err, start, i, columns, "batch ends inside a value");
        uint8_t tag = data[pos++];
        switch (tag) {
        case WEIR_NULL:
            v->type = WEIR_NULL;
            v->as.int64 = 0;
            break;
        case WEIR_BOOLEAN:
            if (len - pos < 1)
                return malformed(err, start, i, columns, "batch ends inside a value");
            if (data[pos] > 1)
                return malformed(err, pos, i, columns, "boolean byte %u is neither 0 nor 1",
                                 (unsigned)data[pos]);
            v->type = WEIR_BOOLEAN;
            v->as.boolean = data[pos] == 1;
            pos += 1;
            break;
        case WEIR_INT64:
        case WEIR_TIMESTAMP_MILLIS:
            if (len - pos < 8)
                return malformed(err, start, i, columns, "batch ends inside a value");
            v->type = (weir_type)tag;
            v->as.int64 = (int64_t)weir__get_u64(data + pos);
            pos += 8;
            break;
        case WEIR_FLOAT64: {
            if (len - pos < 8)
                return malformed(err, start, i, columns, "batch ends inside a value");
            uint64_t bits = weir__get_u64(data + pos);
            v->type = WEIR_FLOAT64;
            memcpy(&v->as.float64, &bits, 8);
            pos += 8;
            break;
        }
        case WEIR_UTF8:
        case WEIR_BINARY: {
            if (len - pos < 4)
                return malformed(err, start, i, columns, "batch ends inside a value");
            uint32_t n = weir__get_u32(data + pos);
            pos += 4;
            if (len - pos < n)
                return malformed(err, start, i, columns, "batch ends inside a value");
            if (tag == WEIR_UTF8 && !weir_utf8_valid((const char *)data + pos, n))
                return malformed(err, start, i, columns, "utf8 value is not valid UTF-8");
            v->type = (weir_type)tag;
            v->as.utf8.ptr = (const char *)data + pos;
            v->as.utf8.len = n;
            pos += n;
            break;
        }
        default:
            return malformed(err, start, i, columns, "unknown value tag %u", (unsigned)tag);
        }
        if (!weir_field_accepts(field, v)) {
            char expected[40];
            return weir_error_set(err, WEIR_ERR_INVALID_INPUT,
                                  "malformed input batch: row %zu, column `%s`: expected %s, "
                                  "found %s",
                                  row, field->name, field_describe(field, expected, sizeof expected),
                                  weir_type_name(v->type));
        }
        if (++column == columns) {
            column = 0;
            row++;
        }
    }
    if (pos != len)
        return malformed(err, pos, SIZE_MAX, 0, "%zu bytes after the last value", len - pos);
    if (columns > 0)
        rows->offsets[row_count] = pos;
    rows->batch = data;
    rows->len = row_count;
    return WEIR_OK;
}

/* ------------------------------------------------------------------------ */
/* Row getters                                                               */
/* ------------------------------------------------------------------------ */

const weir_value *weir_row_value(const weir_row *row, size_t column) {
    return column < row->len ? &row->values[column] : NULL;
}

bool weir_row_is_null(const weir_row *row, size_t column) {
    return column < row->len && row->values[column].type == WEIR_NULL;
}

static const char *column_name(const weir_schema *schema, size_t column) {
    return column < schema->len ? schema->fields[column].name : "?";
}

/* The value of `column` if it has type `type` (or is null and `nullable`),
 * else an error naming the column and both types. */
static weir_status row_get(const weir_row *row, size_t column, weir_type type, bool nullable,
                           const weir_value **out, weir_error *err) {
    if (column >= row->len) {
        char *columns = column_list(row->schema);
        weir_error_set(err, WEIR_ERR_INTERNAL,
                       "column index %zu is out of range: the input has %zu columns (%s)", column,
                       row->len, columns == NULL ? "?" : columns);
        free(columns);
        return WEIR_ERR_INTERNAL;
    }
    const weir_value *v = &row->values[column];
    if (v->type == type || (nullable && v->type == WEIR_NULL)) {
        *out = v;
        return WEIR_OK;
    }
    return weir_error_set(err, WEIR_ERR_INVALID_INPUT, "column `%s`: expected %s, found %s",
                          column_name(row->schema, column), weir_type_name(type),
                          weir_type_name(v->type));
}

#define ROW_GETTERS(suffix, ctype, weir_t, member)                                              \
    weir_status weir_row_##suffix(const weir_row *row, size_t column, ctype *out,               \
                                  weir_error *err) {                                            \
        const weir_value *v;                                                                    \
        WEIR_TRY(row_get(row, column, weir_t, false, &v, err));                                 \
        *out = v->as.member;                                                                    \
        return WEIR_OK;                                                                         \
    }                                                                                           \
    weir_status weir_row_opt_##suffix(const weir_row *row, size_t column, ctype *out,           \
                                      bool *present, weir_error *err) {                         \
        const weir_value *v;                                                                    \
        WEIR_TRY(row_get(row, column, weir_t, true, &v, err));                                  \
        *present = v->type != WEIR_NULL;                                                        \
        if (*present)                                                                           \
            *out = v->as.member;                                                                \
        return WEIR_OK;                                                                         \
    }

ROW_GETTERS(bool, bool, WEIR_BOOLEAN, boolean)
ROW_GETTERS(int64, int64_t, WEIR_INT64, int64)
ROW_GETTERS(float64, double, WEIR_FLOAT64, float64)
ROW_GETTERS(utf8, weir_str, WEIR_UTF8, utf8)
ROW_GETTERS(binary, weir_str, WEIR_BINARY, binary)
ROW_GETTERS(timestamp_millis, int64_t, WEIR_TIMESTAMP_MILLIS, timestamp_millis)

weir_status weir_row_key(const weir_row *row, const size_t *columns, size_t column_count,
                         weir_buffer *key, weir_error *err) {
    for (size_t i = 0; i < column_count; i++) {
        const weir_value *v = weir_row_value(row, columns[i]);
        if (v == NULL) {
            return weir_error_set(err, WEIR_ERR_INTERNAL,
                                  "key column index %zu is out of range: the input has %zu "
                                  "columns",
                                  columns[i], row->len);
        }
        size_t size = weir__value_size(v);
        if (weir_buffer_reserve(key, size) != WEIR_OK)
            return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory building a key");
        weir__write_value((uint8_t *)key->data + key->len, v);
        key->len += size;
    }
    return WEIR_OK;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

struct weir_output {
    const weir_schema *schema;
    /* The batch being written, header included; data NULL between batches. */
    weir_buffer current;
    uint32_t current_rows;
    /* The column the next appended value goes to. */
    size_t column;
    /* Finished batches of the current call. */
    weir_bytes *batches;
    size_t batch_count;
    size_t batch_cap;
    uint64_t emitted;
    size_t target_bytes;
    /* What the last batch needed, so the next one starts big enough. */
    size_t capacity_hint;
    /* The first failed append of the call: it fails the call. */
    char *error;
    /* The input schema whose records weir_output_row may copy as bytes. */
    const weir_schema *compatible_input;
};

static void output_init(weir_output *out, const weir_schema *schema) {
    memset(out, 0, sizeof *out);
    out->schema = schema;
    out->target_bytes = WEIR_TARGET_BATCH_BYTES;
    out->capacity_hint = 4096;
}

static void output_discard(weir_output *out) {
    weir_buffer_free(&out->current);
    out->current_rows = 0;
    for (size_t i = 0; i < out->batch_count; i++)
        free(out->batches[i].ptr);
    out->batch_count = 0;
    out->column = 0;
    out->emitted = 0;
    free(out->error);
    out->error = NULL;
}

static void output_release(weir_output *out) {
    output_discard(out);
    free(out->batches);
    out->batches = NULL;
    out->batch_cap = 0;
}

static weir_status output_fail(weir_output *out, const char *fmt, ...) WEIR_PRINTF(2, 3);
static weir_status output_fail(weir_output *out, const char *fmt, ...) {
    if (out->error == NULL) {
        va_list args;
        va_start(args, fmt);
        out->error = weir__formatv(fmt, args);
        va_end(args);
        if (out->error == NULL)
            out->error = weir__strndup("out of memory", 13);
    }
    return WEIR_ERR_INTERNAL;
}

/* Closes the current batch, so that the next record starts a new one. */
static weir_status output_flush(weir_output *out) {
    if (out->current.data == NULL)
        return WEIR_OK;
    if (out->batch_count == out->batch_cap) {
        size_t cap = out->batch_cap == 0 ? 4 : out->batch_cap * 2;
        weir_bytes *batches = realloc(out->batches, cap * sizeof(weir_bytes));
        if (batches == NULL)
            return output_fail(out, "out of memory finishing an output batch");
        out->batches = batches;
        out->batch_cap = cap;
    }
    weir__put_u32((uint8_t *)out->current.data, out->current_rows);
    out->batches[out->batch_count].ptr = (uint8_t *)out->current.data;
    out->batches[out->batch_count].len = out->current.len;
    out->batch_count++;
    size_t hint = out->current.len + out->current.len / 8;
    out->capacity_hint = hint < 4096 ? 4096 : hint;
    out->current.data = NULL;
    out->current.len = 0;
    out->current.cap = 0;
    out->current_rows = 0;
    return WEIR_OK;
}

/* Checks `value` against `field`; a failure is remembered in the output. */
static weir_status output_check(weir_output *out, const weir_field *field, const weir_value *value) {
    if (!weir_field_accepts(field, value)) {
        char expected[40];
        return output_fail(out, "emitted a record whose column `%s` is %s, the output schema says %s",
                           field->name, weir_type_name(value->type),
                           field_describe(field, expected, sizeof expected));
    }
    if (value->type == WEIR_UTF8 || value->type == WEIR_BINARY) {
        if (value->as.utf8.len > UINT32_MAX) {
            return output_fail(out,
                               "column `%s`: a value of %zu bytes exceeds the 4 GiB limit of the "
                               "row encoding",
                               field->name, value->as.utf8.len);
        }
        if (value->as.utf8.len > 0 && value->as.utf8.ptr == NULL)
            return output_fail(out, "column `%s`: a value of %zu bytes at NULL", field->name,
                               value->as.utf8.len);
        if (value->type == WEIR_UTF8 && !weir_utf8_valid(value->as.utf8.ptr, value->as.utf8.len))
            return output_fail(out, "column `%s`: emitted text that is not valid UTF-8",
                               field->name);
    }
    return WEIR_OK;
}

/* Room for `size` more bytes of the current batch, which starts (header
 * written) if there is none; NULL when memory runs out. */
static uint8_t *output_room(weir_output *out, size_t size) {
    if (out->current.data == NULL) {
        size_t initial = out->capacity_hint;
        if (size > SIZE_MAX - 8)
            return NULL;
        if (initial < 8 + size)
            initial = 8 + size;
        if (weir_buffer_reserve(&out->current, initial) != WEIR_OK)
            return NULL;
        uint8_t *header = (uint8_t *)out->current.data;
        weir__put_u32(header, 0);
        weir__put_u32(header + 4, (uint32_t)out->schema->len);
        out->current.len = 8;
    }
    if (weir_buffer_reserve(&out->current, size) != WEIR_OK)
        return NULL;
    return (uint8_t *)out->current.data + out->current.len;
}

static weir_status out_of_room(weir_output *out, size_t size) {
    return output_fail(out, "out of memory growing an output batch of %zu bytes by %zu",
                       out->current.len, size);
}

/* A record is complete: count it, and close the batch once it is big
 * enough. Every row takes at least one byte and batches end near
 * target_bytes, so the row count cannot wrap for the runtime's targets. */
static weir_status output_record_done(weir_output *out) {
    out->current_rows++;
    out->emitted++;
    if (out->current.len >= out->target_bytes)
        return output_flush(out);
    return WEIR_OK;
}

static weir_status output_append(weir_output *out, const weir_value *value) {
    if (out->error != NULL)
        return WEIR_ERR_INTERNAL;
    size_t columns = out->schema->len;
    if (columns == 0)
        return output_fail(out, "cannot emit records: the output schema has no columns");
    WEIR_TRY(output_check(out, &out->schema->fields[out->column], value));
    size_t size = weir__value_size(value);
    uint8_t *p = output_room(out, size);
    if (p == NULL)
        return out_of_room(out, size);
    weir__write_value(p, value);
    out->current.len += size;
    if (++out->column < columns)
        return WEIR_OK;
    out->column = 0;
    return output_record_done(out);
}

weir_status weir_output_value(weir_output *out, const weir_value *value) {
    return output_append(out, value);
}

weir_status weir_output_null(weir_output *out) {
    weir_value v = weir_value_null();
    return output_append(out, &v);
}

weir_status weir_output_bool(weir_output *out, bool value) {
    weir_value v = weir_value_bool(value);
    return output_append(out, &v);
}

weir_status weir_output_int64(weir_output *out, int64_t value) {
    weir_value v = weir_value_int64(value);
    return output_append(out, &v);
}

weir_status weir_output_float64(weir_output *out, double value) {
    weir_value v = weir_value_float64(value);
    return output_append(out, &v);
}

weir_status weir_output_utf8(weir_output *out, const char *ptr, size_t len) {
    weir_value v = weir_value_utf8(ptr, len);
    return output_append(out, &v);
}

weir_status weir_output_cstr(weir_output *out, const char *text) {
    if (text == NULL)
        return output_fail(out, "weir_output_cstr was given NULL (use weir_output_null)");
    weir_value v = weir_value_utf8(text, strlen(text));
    return output_append(out, &v);
}

weir_status weir_output_binary(weir_output *out, const void *ptr, size_t len) {
    weir_value v = weir_value_binary(ptr, len);
    return output_append(out, &v);
}

weir_status weir_output_timestamp_millis(weir_output *out, int64_t value) {
    weir_value v = weir_value_timestamp_millis(value);
    return output_append(out, &v);
}

weir_status weir_output_emit(weir_output *out, const weir_value *values, size_t count) {
    if (out->error != NULL)
        return WEIR_ERR_INTERNAL;
    size_t columns = out->schema->len;
    if (columns == 0)
        return output_fail(out, "cannot emit records: the output schema has no columns");
    if (out->column != 0) {
        return output_fail(out,
                           "weir_output_emit called with a record begun value by value still "
                           "incomplete (%zu of %zu values)",
                           out->column, columns);
    }
    if (count != columns) {
        char *list = column_list(out->schema);
        output_fail(out, "emitted a record of %zu values, the output schema has %zu columns (%s)",
                    count, columns, list == NULL ? "?" : list);
        free(list);
        return WEIR_ERR_INTERNAL;
    }
    /* Check the whole record first, so that a bad one leaves nothing half
     * written, then write it in one go. */
    size_t size = 0;
    for (size_t i = 0; i < count; i++) {
        WEIR_TRY(output_check(out, &out->schema->fields[i], &values[i]));
        size_t value_size = weir__value_size(&values[i]);
        if (value_size > SIZE_MAX - size)
            return out_of_room(out, SIZE_MAX);
        size += value_size;
    }
    uint8_t *p = output_room(out, size);
    if (p == NULL)
        return out_of_room(out, size);
    for (size_t i = 0; i < count; i++)
        p = weir__write_value(p, &values[i]);
    out->current.len += size;
    return output_record_done(out);
}

weir_status weir_output_row(weir_output *out, const weir_row *row) {
    /* A record of the instance's own input, whose schema the output schema
     * accepts column for column, was validated when its batch was decoded:
     * its bytes can be copied as they are. */
    if (row->encoded_ != NULL && row->schema == out->compatible_input && out->error == NULL &&
        out->column == 0) {
        uint8_t *p = output_room(out, row->encoded_len_);
        if (p == NULL)
            return out_of_room(out, row->encoded_len_);
        memcpy(p, row->encoded_, row->encoded_len_);
        out->current.len += row->encoded_len_;
        return output_record_done(out);
    }
    return weir_output_emit(out, row->values, row->len);
}

uint64_t weir_output_emitted(const weir_output *out) {
    return out->emitted;
}

const weir_schema *weir_output_schema(const weir_output *out) {
    return out->schema;
}

/* After a callback: fails the call for a remembered append error or an
 * incomplete record, else closes the last batch. */
static weir_status output_finish(weir_output *out) {
    if (out->error == NULL && out->column != 0) {
        output_fail(out,
                    "a record was left incomplete: %zu of its %zu values were appended (the next "
                    "one is `%s`)",
                    out->column, out->schema->len, out->schema->fields[out->column].name);
    }
    if (out->error != NULL)
        return WEIR_ERR_INTERNAL;
    return output_flush(out);
}

weir_status weir_batch_encode(const weir_schema *schema, const weir_value *values,
                              size_t row_count, uint8_t **batch, size_t *len, weir_error *err) {
    *batch = NULL;
    *len = 0;
    if (row_count > UINT32_MAX)
        return weir_error_set(err, WEIR_ERR_INTERNAL, "more than 4294967295 rows in one batch");
    weir_output out;
    output_init(&out, schema);
    out.target_bytes = SIZE_MAX;
    size_t columns = schema->len;
    for (size_t r = 0; r < row_count && columns > 0; r++) {
        if (weir_output_emit(&out, values + r * columns, columns) != WEIR_OK)
            break;
    }
    if (output_finish(&out) != WEIR_OK) {
        weir_error_set(err, WEIR_ERR_INTERNAL, "%s", out.error);
        output_release(&out);
        return WEIR_ERR_INTERNAL;
    }
    if (out.batch_count == 1) {
        *batch = out.batches[0].ptr;
        *len = out.batches[0].len;
        out.batch_count = 0;
    } else {
        /* No values: no columns, or no rows. The header alone says how many
         * rows there are. */
        uint8_t *header = malloc(8);
        if (header == NULL) {
            output_release(&out);
            return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory");
        }
        weir__put_u32(header, (uint32_t)(columns == 0 ? row_count : 0));
        weir__put_u32(header + 4, (uint32_t)columns);
        *batch = header;
        *len = 8;
    }
    output_release(&out);
    return WEIR_OK;
}

/* ------------------------------------------------------------------------ */
/* Instances                                                                 */
/* ------------------------------------------------------------------------ */

struct weir_instance {
    const weir_operator *op;
    bool open;
    void *state;
    /* Deep copies of the open context, alive as long as the instance. */
    weir_open_context ctx;
    char *operator_name;
    char *config_json;
    weir_schema *input_schema;
    char **key_fields;
    weir_schema *output_schema;
    weir_output output;
    weir_rows rows;
    /* The output of the last call. */
    weir_bytes *batches;
    size_t batch_count;
};

weir_instance *weir_instance_new(const weir_operator *op) {
    weir_instance *inst = calloc(1, sizeof(weir_instance));
    if (inst != NULL)
        inst->op = op;
    return inst;
}

static void instance_free_batches(weir_instance *inst) {
    for (size_t i = 0; i < inst->batch_count; i++)
        free(inst->batches[i].ptr);
    free(inst->batches);
    inst->batches = NULL;
    inst->batch_count = 0;
}

/* Forgets the operator's state and the context, back to never opened. */
static void instance_reset(weir_instance *inst) {
    if (inst->state != NULL && inst->op->destroy != NULL)
        inst->op->destroy(inst->state);
    inst->state = NULL;
    inst->open = false;
    output_release(&inst->output);
    instance_free_batches(inst);
    free(inst->rows.values);
    free(inst->rows.offsets);
    memset(&inst->rows, 0, sizeof inst->rows);
    weir_schema_free(inst->output_schema);
    inst->output_schema = NULL;
    weir_schema_free(inst->input_schema);
    inst->input_schema = NULL;
    if (inst->key_fields != NULL) {
        for (size_t i = 0; i < inst->ctx.key_field_count; i++)
            free(inst->key_fields[i]);
        free(inst->key_fields);
        inst->key_fields = NULL;
    }
    free(inst->operator_name);
    inst->operator_name = NULL;
    free(inst->config_json);
    inst->config_json = NULL;
    memset(&inst->ctx, 0, sizeof inst->ctx);
}

void weir_instance_free(weir_instance *inst) {
    if (inst == NULL)
        return;
    instance_reset(inst);
    free(inst);
}

static weir_status copy_context(weir_instance *inst, const weir_open_context *from) {
    const char *name = from->operator_name == NULL ? "" : from->operator_name;
    inst->operator_name = weir__strndup(name, strlen(name));
    const char *config = from->config_json == NULL ? "{}" : from->config_json;
    size_t config_len = from->config_json == NULL ? 2 : from->config_json_len;
    inst->config_json = weir__strndup(config, config_len);
    inst->input_schema = weir_schema_new();
    if (inst->operator_name == NULL || inst->config_json == NULL || inst->input_schema == NULL)
        return WEIR_ERR_INTERNAL;
    if (from->input_schema != NULL) {
        /* Input names come from the runtime and were valid there; copying
         * them field by field keeps even names the output checks would
         * refuse. */
        const weir_schema *in = from->input_schema;
        inst->input_schema->fields = calloc(in->len == 0 ? 1 : in->len, sizeof(weir_field));
        if (inst->input_schema->fields == NULL)
            return WEIR_ERR_INTERNAL;
        inst->input_schema->cap = in->len;
        for (size_t i = 0; i < in->len; i++) {
            char *field_name = weir__strndup(in->fields[i].name, strlen(in->fields[i].name));
            if (field_name == NULL)
                return WEIR_ERR_INTERNAL;
            inst->input_schema->fields[i] = in->fields[i];
            inst->input_schema->fields[i].name = field_name;
            inst->input_schema->len = i + 1;
        }
    }
    if (from->key_field_count > 0) {
        inst->key_fields = calloc(from->key_field_count, sizeof(char *));
        if (inst->key_fields == NULL)
            return WEIR_ERR_INTERNAL;
        inst->ctx.key_field_count = from->key_field_count;
        for (size_t i = 0; i < from->key_field_count; i++) {
            inst->key_fields[i] = weir__strndup(from->key_fields[i], strlen(from->key_fields[i]));
            if (inst->key_fields[i] == NULL)
                return WEIR_ERR_INTERNAL;
        }
    }
    inst->ctx.operator_name = inst->operator_name;
    inst->ctx.config_json = inst->config_json;
    inst->ctx.config_json_len = config_len;
    inst->ctx.input_schema = inst->input_schema;
    inst->ctx.key_fields = (const char *const *)inst->key_fields;
    inst->ctx.subtask_index = from->subtask_index;
    inst->ctx.parallelism = from->parallelism;
    inst->ctx.attempt = from->attempt;
    return WEIR_OK;
}

/* Turns what a callback returned into the call's status, making sure a
 * failure always carries a message and a success never hides one. */
static weir_status instance_finish(weir_instance *inst, const char *callback, weir_status status,
                                   weir_error *err) {
    weir_output *out = &inst->output;
    if (status == WEIR_OK) {
        if (output_finish(out) != WEIR_OK) {
            weir_error_set(err, WEIR_ERR_INTERNAL, "%s", out->error);
            output_discard(out);
            return WEIR_ERR_INTERNAL;
        }
        inst->batches = out->batches;
        inst->batch_count = out->batch_count;
        out->batches = NULL;
        out->batch_count = 0;
        out->batch_cap = 0;
        out->emitted = 0;
        return WEIR_OK;
    }
    if (status < WEIR_ERR_INVALID_CONFIG || status > WEIR_ERR_INTERNAL) {
        weir_error_set(err, WEIR_ERR_INTERNAL, "%s returned the unknown status %d", callback,
                       (int)status);
        status = WEIR_ERR_INTERNAL;
    } else if (weir_error_message(err)[0] == '\0') {
        if (out->error != NULL)
            weir_error_set(err, status, "%s", out->error);
        else
            weir_error_set(err, status, "%s failed (%s) without setting a message", callback,
                           weir_status_name(status));
    } else if (err != NULL) {
        /* The status returned wins over a kind set earlier. */
        err->kind = status;
    }
    output_discard(out);
    return status;
}

/* Whether every record of `in` is a valid record of `out`: same columns
 * in order (names aside), nulls only where `out` allows them. */
static bool schema_fits(const weir_schema *in, const weir_schema *out) {
    if (in->len != out->len || in->len == 0)
        return false;
    for (size_t i = 0; i < in->len; i++) {
        if (in->fields[i].type != out->fields[i].type ||
            (in->fields[i].nullable && !out->fields[i].nullable))
            return false;
    }
    return true;
}

weir_status weir_instance_open(weir_instance *inst, const weir_open_context *ctx, weir_error *err) {
    instance_reset(inst);
    weir_error_clear(err);
    const weir_operator *op = inst->op;
    if (op == NULL || op->open == NULL)
        return weir_error_set(err, WEIR_ERR_INTERNAL, "the operator defines no `open` callback");
    if (op->process == NULL && op->process_batch == NULL)
        return weir_error_set(err, WEIR_ERR_INTERNAL,
                              "the operator defines neither `process` nor `process_batch`");
    inst->output_schema = weir_schema_new();
    if (copy_context(inst, ctx) != WEIR_OK || inst->output_schema == NULL) {
        instance_reset(inst);
        return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory opening the operator");
    }
    weir_status status = op->open(&inst->ctx, inst->output_schema, &inst->state, err);
    if (status == WEIR_OK && inst->output_schema->error != NULL)
        status = weir_error_set(err, WEIR_ERR_INTERNAL, "%s", inst->output_schema->error);
    if (status != WEIR_OK) {
        if (status < WEIR_ERR_INVALID_CONFIG || status > WEIR_ERR_INTERNAL) {
            weir_error_set(err, WEIR_ERR_INTERNAL, "open returned the unknown status %d",
                           (int)status);
            status = WEIR_ERR_INTERNAL;
        } else if (weir_error_message(err)[0] == '\0') {
            weir_error_set(err, status, "open failed (%s) without setting a message",
                           weir_status_name(status));
        } else if (err != NULL) {
            err->kind = status;
        }
        instance_reset(inst);
        return status;
    }
    output_init(&inst->output, inst->output_schema);
    if (schema_fits(inst->input_schema, inst->output_schema))
        inst->output.compatible_input = inst->input_schema;
    inst->open = true;
    return WEIR_OK;
}

static weir_status instance_begin(weir_instance *inst, weir_error *err) {
    instance_free_batches(inst);
    weir_error_clear(err);
    if (!inst->open)
        return weir_error_set(err, WEIR_ERR_INTERNAL,
                              "the operator was called before `open` succeeded");
    return WEIR_OK;
}

weir_status weir_instance_process(weir_instance *inst, const uint8_t *batch, size_t len,
                                  weir_error *err) {
    WEIR_TRY(instance_begin(inst, err));
    WEIR_TRY(weir_rows_decode(&inst->rows, inst->input_schema, batch, len, err));
    const weir_operator *op = inst->op;
    weir_status status = WEIR_OK;
    if (op->process_batch != NULL) {
        status = op->process_batch(inst->state, &inst->rows, &inst->output, err);
        return instance_finish(inst, "process_batch", status, err);
    }
    size_t n = inst->rows.len;
    for (size_t i = 0; i < n && status == WEIR_OK; i++) {
        weir_row row = weir_rows_get(&inst->rows, i);
        status = op->process(inst->state, &row, &inst->output, err);
    }
    return instance_finish(inst, "process", status, err);
}

weir_status weir_instance_on_watermark(weir_instance *inst, int64_t watermark, weir_error *err) {
    WEIR_TRY(instance_begin(inst, err));
    weir_status status = WEIR_OK;
    if (inst->op->on_watermark != NULL)
        status = inst->op->on_watermark(inst->state, watermark, &inst->output, err);
    return instance_finish(inst, "on_watermark", status, err);
}

weir_status weir_instance_on_timers(weir_instance *inst, const weir_timer *timers, size_t count,
                                    weir_error *err) {
    WEIR_TRY(instance_begin(inst, err));
    weir_status status = WEIR_OK;
    for (size_t i = 0; i < count && status == WEIR_OK && inst->op->on_timer != NULL; i++)
        status = inst->op->on_timer(inst->state, &timers[i], &inst->output, err);
    return instance_finish(inst, "on_timer", status, err);
}

weir_status weir_instance_close(weir_instance *inst, weir_error *err) {
    WEIR_TRY(instance_begin(inst, err));
    weir_status status = WEIR_OK;
    if (inst->op->close != NULL)
        status = inst->op->close(inst->state, &inst->output, err);
    return instance_finish(inst, "close", status, err);
}

const weir_schema *weir_instance_output_schema(const weir_instance *inst) {
    return inst->output_schema;
}

size_t weir_instance_batch_count(const weir_instance *inst) {
    return inst->batch_count;
}

const uint8_t *weir_instance_batch(const weir_instance *inst, size_t index, size_t *len) {
    if (index >= inst->batch_count) {
        *len = 0;
        return NULL;
    }
    *len = inst->batches[index].len;
    return inst->batches[index].ptr;
}

void weir_instance_take_batches(weir_instance *inst, weir_bytes **batches, size_t *count) {
    *batches = inst->batch_count == 0 ? NULL : inst->batches;
    *count = inst->batch_count;
    if (inst->batch_count == 0)
        free(inst->batches);
    inst->batches = NULL;
    inst->batch_count = 0;
}
