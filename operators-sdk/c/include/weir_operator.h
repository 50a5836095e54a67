/*
 * weir_operator.h: write Weir stream operators in C.
 *
 * A Weir operator is a WebAssembly component that the runtime calls once per
 * batch of records. This SDK hides the component plumbing: fill in a
 * `weir_operator` table of callbacks, export it with `WEIR_EXPORT_OPERATOR`,
 * and build the project with `weir-build-c`. README.md walks through a
 * complete example; this header is the reference.
 *
 * Conventions:
 * - Every fallible function returns a `weir_status`: `WEIR_OK`, or the kind of
 *   the error. Functions that can fail for reasons worth explaining take a
 *   `weir_error *` and fill it in; `WEIR_TRY` propagates a failed status.
 * - Text is UTF-8. Strings handed to callbacks (`weir_str`) point into the
 *   batch being processed and are NOT NUL-terminated; they live until the
 *   callback returns. Names in schemas and the open context are
 *   NUL-terminated and live as long as the operator instance.
 * - Nothing is thread-safe: the runtime never calls an instance from two
 *   threads, and a component has one thread.
 */
#ifndef WEIR_OPERATOR_H
#define WEIR_OPERATOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WEIR_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define WEIR_NODISCARD __attribute__((warn_unused_result))
#else
#define WEIR_PRINTF(fmt_index, first_arg)
#define WEIR_NODISCARD
#endif

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                   */
/* ------------------------------------------------------------------------ */

/*
 * What a call returns. The error kinds are those of the WIT contract and tell
 * the runtime what to do:
 * - WEIR_ERR_INVALID_CONFIG: the configuration is unusable; the job fails at
 *   once, restarting cannot help.
 * - WEIR_ERR_INVALID_INPUT: a record could not be processed.
 * - WEIR_ERR_HOST: a host call (state, timers) failed and the operator gave up.
 * - WEIR_ERR_INTERNAL: anything else, a bug or an unexpected condition.
 * The last three fail the task; the job's restart strategy applies.
 */
typedef enum weir_status {
    WEIR_OK = 0,
    WEIR_ERR_INVALID_CONFIG = 1,
    WEIR_ERR_INVALID_INPUT = 2,
    WEIR_ERR_HOST = 3,
    WEIR_ERR_INTERNAL = 4
} weir_status;

/* The kind's name as the WIT contract spells it ("invalid-config", ...), or
 * "ok". */
const char *weir_status_name(weir_status status);

/* An error message being built for the runtime. The SDK owns it and passes it
 * to every callback; the callback fills it in and returns its kind. */
typedef struct weir_error weir_error;

/*
 * Sets the error's kind and message (printf-style) and returns `kind`, so that
 * a callback can fail in one statement:
 *
 *     return weir_error_set(err, WEIR_ERR_INVALID_INPUT, "bad id %lld", (long long)id);
 *
 * Say what was wrong and where; the runtime adds the operator's name. A later
 * call replaces an earlier message. `err` may be NULL (the message is then
 * dropped). If memory runs out the message becomes "out of memory".
 */
weir_status weir_error_set(weir_error *err, weir_status kind, const char *fmt, ...) WEIR_PRINTF(3, 4);
weir_status weir_error_setv(weir_error *err, weir_status kind, const char *fmt, va_list args);

/* Puts "<context>: " in front of the current message, e.g. to say which
 * field or record an error from a helper concerns. Returns the error's kind. */
weir_status weir_error_prefix(weir_error *err, const char *fmt, ...) WEIR_PRINTF(2, 3);

/* The kind set last (WEIR_OK if none), and the message ("" if none). */
weir_status weir_error_kind(const weir_error *err);
const char *weir_error_message(const weir_error *err);

/* An error object of one's own, for native tests and helper code. */
weir_error *weir_error_new(void);
void weir_error_clear(weir_error *err);
void weir_error_free(weir_error *err);

/* Returns from the enclosing function when `expr` is not WEIR_OK. */
#define WEIR_TRY(expr)                              \
    do {                                            \
        weir_status weir_try_status_ = (expr);      \
        if (weir_try_status_ != WEIR_OK)            \
            return weir_try_status_;                \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Types, values and schemas                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The column types of a Weir stream (each one Arrow type), and WEIR_NULL for
 * a null value. The numbers are the tags of the row encoding.
 */
typedef enum weir_type {
    WEIR_NULL = 0,
    WEIR_BOOLEAN = 1,          /* Arrow Boolean */
    WEIR_INT64 = 2,            /* Arrow Int64 */
    WEIR_FLOAT64 = 3,          /* Arrow Float64 */
    WEIR_UTF8 = 4,             /* Arrow Utf8: valid UTF-8 text */
    WEIR_BINARY = 5,           /* Arrow Binary: arbitrary bytes */
    WEIR_TIMESTAMP_MILLIS = 6  /* Arrow Timestamp(ms): milliseconds since the Unix epoch, UTC */
} weir_type;

/* "boolean", "int64", ..., "timestamp-millis", "null" (as the contract
 * spells them), or "unknown". */
const char *weir_type_name(weir_type type);

/* A string or byte slice that the SDK does not own. */
typedef struct weir_str {
    const char *ptr;
    size_t len;
} weir_str;

/* One value of a record. `type` says which member of `as` is set. */
typedef struct weir_value {
    weir_type type;
    union {
        bool boolean;
        int64_t int64;
        double float64;
        weir_str utf8;
        weir_str binary;
        int64_t timestamp_millis;
    } as;
} weir_value;

/* Value constructors, for weir_output_emit and tests. */
static inline weir_value weir_value_null(void) {
    weir_value v;
    v.type = WEIR_NULL;
    v.as.int64 = 0;
    return v;
}
static inline weir_value weir_value_bool(bool b) {
    weir_value v;
    v.type = WEIR_BOOLEAN;
    v.as.boolean = b;
    return v;
}
static inline weir_value weir_value_int64(int64_t i) {
    weir_value v;
    v.type = WEIR_INT64;
    v.as.int64 = i;
    return v;
}
static inline weir_value weir_value_float64(double f) {
    weir_value v;
    v.type = WEIR_FLOAT64;
    v.as.float64 = f;
    return v;
}
static inline weir_value weir_value_utf8(const char *ptr, size_t len) {
    weir_value v;
    v.type = WEIR_UTF8;
    v.as.utf8.ptr = ptr;
    v.as.utf8.len = len;
    return v;
}
static inline weir_value weir_value_cstr(const char *text) {
    return weir_value_utf8(text, strlen(text));
}
static inline weir_value weir_value_binary(const void *ptr, size_t len) {
    weir_value v;
    v.type = WEIR_BINARY;
    v.as.binary.ptr = (const char *)ptr;
    v.as.binary.len = len;
    return v;
}
static inline weir_value weir_value_timestamp_millis(int64_t ms) {
    weir_value v;
    v.type = WEIR_TIMESTAMP_MILLIS;
    v.as.timestamp_millis = ms;
    return v;
}

/* One column of a schema. The name is NUL-terminated and unique within its
 * schema (case-sensitive). */
typedef struct weir_field {
    const char *name;
    weir_type type;
    bool nullable;
} weir_field;

/* The columns of every batch of a stream, in order. */
typedef struct weir_schema weir_schema;

weir_schema *weir_schema_new(void);
void weir_schema_free(weir_schema *schema);

/*
 * Appends a column. Fails with WEIR_ERR_INTERNAL on a duplicate or empty
 * name, a type that is not a column type, or when memory runs out. In `open`,
 * the status need not be checked: the SDK fails `open` with the first such
 * error of the output schema.
 */
weir_status weir_schema_add(weir_schema *schema, const char *name, weir_type type, bool nullable);

/* Appends every column of `from` (a pass-through operator's output schema is
 * its input schema). Same failures as weir_schema_add. */
weir_status weir_schema_add_all(weir_schema *schema, const weir_schema *from);

size_t weir_schema_len(const weir_schema *schema);

/* The column at `index`, or NULL past the end. */
const weir_field *weir_schema_field(const weir_schema *schema, size_t index);

/*
 * Finds a column by name. A missing column is a WEIR_ERR_INVALID_CONFIG error
 * naming it and listing the columns that do exist; resolve the columns you
 * need once, in `open`.
 */
weir_status weir_schema_index_of(const weir_schema *schema, const char *name, size_t *index,
                                 weir_error *err);

/* Like weir_schema_index_of, also requiring the column's type (nullable or
 * not): a column of another type is a WEIR_ERR_INVALID_CONFIG error. */
weir_status weir_schema_index_of_type(const weir_schema *schema, const char *name, weir_type type,
                                      size_t *index, weir_error *err);

/* Whether `value` may be stored in `field`: its type, or null where the
 * field is nullable. */
bool weir_field_accepts(const weir_field *field, const weir_value *value);

/* ------------------------------------------------------------------------ */
/* Growable byte buffer                                                      */
/* ------------------------------------------------------------------------ */

/* A byte buffer that grows as needed; zero-initialize it (`= {0}`) and
 * release it with weir_buffer_free. `data` is not NUL-terminated unless
 * weir_buffer_cstr is used. */
typedef struct weir_buffer {
    char *data;
    size_t len;
    size_t cap;
} weir_buffer;

/* Each returns WEIR_ERR_INTERNAL when memory runs out (the buffer is then
 * unchanged). */
weir_status weir_buffer_reserve(weir_buffer *buf, size_t additional);
weir_status weir_buffer_append(weir_buffer *buf, const void *data, size_t len);
weir_status weir_buffer_append_byte(weir_buffer *buf, uint8_t byte);
weir_status weir_buffer_printf(weir_buffer *buf, const char *fmt, ...) WEIR_PRINTF(2, 3);
/* A NUL-terminated view of the contents (the NUL is not counted in len);
 * NULL when memory runs out. */
const char *weir_buffer_cstr(weir_buffer *buf);
static inline void weir_buffer_clear(weir_buffer *buf) { buf->len = 0; }
void weir_buffer_free(weir_buffer *buf);

/* ------------------------------------------------------------------------ */
/* The open context and configuration                                        */
/* ------------------------------------------------------------------------ */

/* What the runtime tells an operator instance when it opens. Everything
 * lives as long as the instance. */
typedef struct weir_open_context {
    /* The operator's name in the job spec. */
    const char *operator_name;
    /* The operator's `config` from the job spec, as JSON text, NUL-terminated
     * ("{}" when the spec has none). Read it with weir_config_read, or parse
     * it with weir_json_parse for nested values. */
    const char *config_json;
    size_t config_json_len;
    /* The schema of the batches `process` will receive. */
    const weir_schema *input_schema;
    /* The columns the input is keyed by, in order (none when the input is not
     * keyed). Keyed state and timers need a keyed input. */
    const char *const *key_fields;
    size_t key_field_count;
    /* This instance's subtask, from 0 to parallelism - 1. */
    uint32_t subtask_index;
    uint32_t parallelism;
    /* How many times the task has been restarted (0 on the first run). */
    uint32_t attempt;
} weir_open_context;

/* A context as the runtime would pass it for the first run of subtask 0 of
 * 1, with the configuration "{}" and no key: for native tests. */
weir_open_context weir_open_context_make(const char *operator_name, const weir_schema *input_schema,
                                         const char *config_json);

/* The input column indexes of the key fields, in order, written to
 * `indexes` (room for key_field_count entries). For weir_row_key. */
weir_status weir_open_context_key_indexes(const weir_open_context *ctx, size_t *indexes,
                                          weir_error *err);

/* How weir_config_read stores a configuration field. */
typedef enum weir_config_kind {
    WEIR_CONFIG_KIND_BOOL,    /* JSON true/false into bool */
    WEIR_CONFIG_KIND_INT,     /* JSON integer (no fraction or exponent) into int64_t */
    WEIR_CONFIG_KIND_NUMBER,  /* any JSON number into double */
    WEIR_CONFIG_KIND_STRING   /* JSON string into a malloc'd, NUL-terminated char * */
} weir_config_kind;

/* One field of a configuration object; build them with the macros below. */
typedef struct weir_config_field {
    const char *name;
    weir_config_kind kind;
    void *target;
    /* When not NULL, set to whether the field was given; a JSON null then
     * counts as not given. When NULL, null is a type error. */
    bool *present;
    /* Inclusive bounds of a WEIR_CONFIG_KIND_INT field. */
    int64_t min;
    int64_t max;
} weir_config_field;

/* Checks at compile time that `target` points to `type` (a mismatch is a
 * "pointer type mismatch" diagnostic). */
#define WEIR_CONFIG_TARGET_(type, target) (1 ? (target) : (type *)0)

#define WEIR_CONFIG_BOOL(name, target) \
    { (name), WEIR_CONFIG_KIND_BOOL, WEIR_CONFIG_TARGET_(bool, target), NULL, 0, 0 }
#define WEIR_CONFIG_INT(name, target) \
    { (name), WEIR_CONFIG_KIND_INT, WEIR_CONFIG_TARGET_(int64_t, target), NULL, INT64_MIN, INT64_MAX }
#define WEIR_CONFIG_INT_RANGE(name, target, lo, hi) \
    { (name), WEIR_CONFIG_KIND_INT, WEIR_CONFIG_TARGET_(int64_t, target), NULL, (lo), (hi) }
#define WEIR_CONFIG_NUMBER(name, target) \
    { (name), WEIR_CONFIG_KIND_NUMBER, WEIR_CONFIG_TARGET_(double, target), NULL, 0, 0 }
#define WEIR_CONFIG_STRING(name, target) \
    { (name), WEIR_CONFIG_KIND_STRING, WEIR_CONFIG_TARGET_(char *, target), NULL, 0, 0 }
/* Optional variants: `*present` says whether the field was given (null
 * allowed). */
#define WEIR_CONFIG_BOOL_OPT(name, target, present) \
    { (name), WEIR_CONFIG_KIND_BOOL, WEIR_CONFIG_TARGET_(bool, target), (present), 0, 0 }
#define WEIR_CONFIG_INT_OPT(name, target, present) \
    { (name), WEIR_CONFIG_KIND_INT, WEIR_CONFIG_TARGET_(int64_t, target), (present), INT64_MIN, INT64_MAX }
#define WEIR_CONFIG_NUMBER_OPT(name, target, present) \
    { (name), WEIR_CONFIG_KIND_NUMBER, WEIR_CONFIG_TARGET_(double, target), (present), 0, 0 }
#define WEIR_CONFIG_STRING_OPT(name, target, present) \
    { (name), WEIR_CONFIG_KIND_STRING, WEIR_CONFIG_TARGET_(char *, target), (present), 0, 0 }

/*
 * Reads the operator's configuration (ctx->config_json, a JSON object) into
 * `fields`. Fields absent from the JSON keep the values their targets already
 * hold, so set the defaults first. String targets receive a malloc'd copy
 * that the caller frees; initialize them to NULL.
 *
 * Every failure is WEIR_ERR_INVALID_CONFIG with a message naming the
 * operator and the field: malformed JSON (with line and column), a
 * configuration that is not an object, an unknown field (listing the known
 * ones), a duplicate field, a value of the wrong type, an integer out of
 * range, a string containing a NUL character. Empty or blank text counts as
 * "{}". On failure no string is left allocated.
 */
weir_status weir_config_read(const weir_open_context *ctx, const weir_config_field *fields,
                             size_t field_count, weir_error *err);

/* Number of elements of a fixed-size array, e.g. for weir_config_read. */
#define WEIR_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */
/* ------------------------------------------------------------------------ */

/*
 * A parsed JSON document (RFC 8259): strict grammar, UTF-8 input, nesting at
 * most WEIR_JSON_MAX_DEPTH deep. Nodes live until weir_json_free(root).
 */
#define WEIR_JSON_MAX_DEPTH 64

typedef enum weir_json_type {
    WEIR_JSON_NULL,
    WEIR_JSON_BOOL,
    WEIR_JSON_NUMBER,
    WEIR_JSON_STRING,
    WEIR_JSON_ARRAY,
    WEIR_JSON_OBJECT
} weir_json_type;

typedef struct weir_json weir_json;

/* Parses `len` bytes of `text`. Malformed JSON is a WEIR_ERR_INVALID_INPUT
 * error saying what was expected at which line and column. */
weir_status weir_json_parse(const char *text, size_t len, weir_json **root, weir_error *err);
/* Frees a document; only for the root returned by weir_json_parse. */
void weir_json_free(weir_json *root);

weir_json_type weir_json_type_of(const weir_json *node);
/* "null", "a boolean", "a number", "a string", "an array", "an object". */
const char *weir_json_type_name(weir_json_type type);
bool weir_json_bool(const weir_json *node);
double weir_json_number(const weir_json *node);
/* Whether the number was written as an integer (no fraction, no exponent)
 * that fits an int64_t, stored in *out if so. */
bool weir_json_int64(const weir_json *node, int64_t *out);
/* A string's text (NUL-terminated; may contain NULs written as \u0000, so
 * `len` is authoritative). */
const char *weir_json_string(const weir_json *node, size_t *len);
/* The number of elements of an array or members of an object (0 otherwise). */
size_t weir_json_length(const weir_json *node);
/* The element of an array, or the value of the member of an object, at
 * `index` (in document order); NULL past the end. */
const weir_json *weir_json_at(const weir_json *node, size_t index);
/* The key of an object member at `index`; NULL past the end. */
const char *weir_json_key_at(const weir_json *node, size_t index, size_t *len);
/* The value of the first member named `key` of an object, or NULL. */
const weir_json *weir_json_get(const weir_json *node, const char *key);

/* ------------------------------------------------------------------------ */
/* Input records                                                             */
/* ------------------------------------------------------------------------ */

/*
 * One input record: its values in schema order. Pass it by pointer; the
 * members are read-only and valid until the callback returns.
 */
typedef struct weir_row {
    const weir_value *values;
    size_t len;
    const weir_schema *schema;
    /* Private: the record's bytes in its input batch (NULL for a row built
     * by hand), which lets weir_output_row copy it without re-encoding. */
    const uint8_t *encoded_;
    size_t encoded_len_;
} weir_row;

/* A record over `len` values of `schema`, e.g. to test an operator's
 * `process` natively. */
static inline weir_row weir_row_make(const weir_value *values, size_t len,
                                     const weir_schema *schema) {
    weir_row row;
    row.values = values;
    row.len = len;
    row.schema = schema;
    row.encoded_ = NULL;
    row.encoded_len_ = 0;
    return row;
}

/* The records of one input batch. */
typedef struct weir_rows weir_rows;

size_t weir_rows_len(const weir_rows *rows);
/* The record at `index` (index < weir_rows_len). */
weir_row weir_rows_get(const weir_rows *rows, size_t index);
const weir_schema *weir_rows_schema(const weir_rows *rows);

/* The value of `column` whatever its type, or NULL past the end. */
const weir_value *weir_row_value(const weir_row *row, size_t column);
/* Whether the value of `column` is null (false past the end). */
bool weir_row_is_null(const weir_row *row, size_t column);

/*
 * Typed getters. A value of another type, or a null, is a
 * WEIR_ERR_INVALID_INPUT error naming the column and both types; a column
 * past the end is WEIR_ERR_INTERNAL. Text and bytes point into the batch.
 */
weir_status weir_row_bool(const weir_row *row, size_t column, bool *out, weir_error *err);
weir_status weir_row_int64(const weir_row *row, size_t column, int64_t *out, weir_error *err);
weir_status weir_row_float64(const weir_row *row, size_t column, double *out, weir_error *err);
weir_status weir_row_utf8(const weir_row *row, size_t column, weir_str *out, weir_error *err);
weir_status weir_row_binary(const weir_row *row, size_t column, weir_str *out, weir_error *err);
weir_status weir_row_timestamp_millis(const weir_row *row, size_t column, int64_t *out,
                                      weir_error *err);

/* Nullable getters: like the above, but a null sets *present to false (and
 * leaves *out alone) instead of failing. */
weir_status weir_row_opt_bool(const weir_row *row, size_t column, bool *out, bool *present,
                              weir_error *err);
weir_status weir_row_opt_int64(const weir_row *row, size_t column, int64_t *out, bool *present,
                               weir_error *err);
weir_status weir_row_opt_float64(const weir_row *row, size_t column, double *out, bool *present,
                                 weir_error *err);
weir_status weir_row_opt_utf8(const weir_row *row, size_t column, weir_str *out, bool *present,
                              weir_error *err);
weir_status weir_row_opt_binary(const weir_row *row, size_t column, weir_str *out, bool *present,
                                weir_error *err);
weir_status weir_row_opt_timestamp_millis(const weir_row *row, size_t column, int64_t *out,
                                          bool *present, weir_error *err);

/* ------------------------------------------------------------------------ */
/* Output records                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Where a callback emits records. Values are appended one column at a time,
 * in output-schema order; a record is complete once its last column is
 * appended. Every value is checked against its column (type; null only where
 * nullable; valid UTF-8 for utf8): the runtime would reject a malformed batch
 * anyway, but only the SDK can say which column was wrong.
 *
 * A failed append returns WEIR_ERR_INTERNAL and is remembered: the call then
 * fails with that message even if the callback ignores the status and
 * returns WEIR_OK, and so does a record left incomplete when the callback
 * returns. Records are encoded as they are appended; a new output batch
 * starts every WEIR_TARGET_BATCH_BYTES or so.
 */
typedef struct weir_output weir_output;

#define WEIR_TARGET_BATCH_BYTES ((size_t)1 << 20)

weir_status weir_output_null(weir_output *out);
weir_status weir_output_bool(weir_output *out, bool value);
weir_status weir_output_int64(weir_output *out, int64_t value);
weir_status weir_output_float64(weir_output *out, double value);
weir_status weir_output_utf8(weir_output *out, const char *ptr, size_t len);
weir_status weir_output_cstr(weir_output *out, const char *text);
weir_status weir_output_binary(weir_output *out, const void *ptr, size_t len);
weir_status weir_output_timestamp_millis(weir_output *out, int64_t value);
weir_status weir_output_value(weir_output *out, const weir_value *value);

/* Appends one whole record of `count` values (count must equal the number
 * of output columns). */
weir_status weir_output_emit(weir_output *out, const weir_value *values, size_t count);

/* Appends all the values of `row`: forwards a record unchanged when the
 * input and output schemas are equal. */
weir_status weir_output_row(weir_output *out, const weir_row *row);

/* Records completed during the current call. */
uint64_t weir_output_emitted(const weir_output *out);
const weir_schema *weir_output_schema(const weir_output *out);

/* ------------------------------------------------------------------------ */
/* Defining an operator                                                      */
/* ------------------------------------------------------------------------ */

/* A timer that fired (see the timers section). `key` lives until the
 * callback returns. */
typedef enum weir_time_domain {
    WEIR_EVENT_TIME = 0,       /* fires when the watermark passes `timestamp` */
    WEIR_PROCESSING_TIME = 1   /* fires when the runtime's clock passes `timestamp` */
} weir_time_domain;

typedef struct weir_timer {
    const uint8_t *key;
    size_t key_len;
    int64_t timestamp; /* milliseconds since the Unix epoch */
    weir_time_domain domain;
} weir_timer;

/*
 * The callbacks of an operator. Only `open` and one of `process` or
 * `process_batch` are required; leave the others NULL.
 *
 * The runtime creates one instance per parallel subtask and calls `open`
 * once, then `process_batch` for every input batch, `on_watermark` when event
 * time advances, `on_timer` for due timers and `close` when the input ends.
 * Calls never overlap. An instance may be discarded and re-created between
 * two calls; the new one is opened with the same context. Memory is never
 * checkpointed: whatever must survive a failure belongs in keyed state.
 *
 * Every callback returns WEIR_OK or an error kind with a message set through
 * weir_error_set. Records emitted by a failed call are discarded.
 */
typedef struct weir_operator {
    /*
     * Validates the configuration, resolves input columns, declares the
     * output schema by adding columns to `output_schema` (initially empty)
     * and stores the operator's state in `*state` (NULL by default). A
     * WEIR_ERR_INVALID_CONFIG error fails the job before any record flows.
     */
    weir_status (*open)(const weir_open_context *ctx, weir_schema *output_schema, void **state,
                        weir_error *err);

    /* Processes one input record, emitting zero or more output records. */
    weir_status (*process)(void *state, const weir_row *row, weir_output *out, weir_error *err);

    /* Processes one input batch. When set, it replaces `process`: use it for
     * logic about a whole batch (per-batch metrics, one batched state call). */
    weir_status (*process_batch)(void *state, const weir_rows *rows, weir_output *out,
                                 weir_error *err);

    /* The event-time watermark advanced to `watermark` (ms since the epoch). */
    weir_status (*on_watermark)(void *state, int64_t watermark, weir_output *out, weir_error *err);

    /* A registered timer is due. Timers of one call arrive in timestamp order. */
    weir_status (*on_timer)(void *state, const weir_timer *timer, weir_output *out,
                            weir_error *err);

    /* The input has ended: emit what the operator still holds. */
    weir_status (*close)(void *state, weir_output *out, weir_error *err);

    /* Releases `state` when the instance is re-opened or freed. */
    void (*destroy)(void *state);
} weir_operator;

/*
 * Makes `operator_table` (a `weir_operator` variable) the component's
 * operator. Use it exactly once in a project, at file scope:
 *
 *     static const weir_operator tokenize = { .open = tokenize_open, .process = tokenize_process };
 *     WEIR_EXPORT_OPERATOR(tokenize)
 */
#define WEIR_EXPORT_OPERATOR(operator_table)                                             \
    const weir_operator *weir_exported_operator(void) { return &(operator_table); }

/* Defined by WEIR_EXPORT_OPERATOR. */
const weir_operator *weir_exported_operator(void);

/* ------------------------------------------------------------------------ */
/* Logs and metrics                                                          */
/* ------------------------------------------------------------------------ */

/*
 * Logs land in the runtime's logs, attributed to the operator instance, and
 * are rate-limited per instance: log per batch or on rare events, not per
 * record. stdout and stderr go to the same place, at info and warn. Outside a
 * Weir runtime (native tests) messages go to stderr.
 */
typedef enum weir_log_level {
    WEIR_LOG_TRACE = 0,
    WEIR_LOG_DEBUG = 1,
    WEIR_LOG_INFO = 2,
    WEIR_LOG_WARN = 3,
    WEIR_LOG_ERROR = 4
} weir_log_level;

/* Writes one log event, formatted printf-style (only when the level is
 * enabled, so an unread message costs no formatting). */
void weir_log(weir_log_level level, const char *fmt, ...) WEIR_PRINTF(2, 3);
/* Whether an event of `level` would be kept. */
bool weir_log_enabled(weir_log_level level);

#define weir_log_trace(...) weir_log(WEIR_LOG_TRACE, __VA_ARGS__)
#define weir_log_debug(...) weir_log(WEIR_LOG_DEBUG, __VA_ARGS__)
#define weir_log_info(...) weir_log(WEIR_LOG_INFO, __VA_ARGS__)
#define weir_log_warn(...) weir_log(WEIR_LOG_WARN, __VA_ARGS__)
#define weir_log_error(...) weir_log(WEIR_LOG_ERROR, __VA_ARGS__)

/*
 * User metrics, exported next to the runtime's own (names are
 * [a-zA-Z_:][a-zA-Z0-9_:]*, prefixed by the runtime with the job and
 * operator). Each call crosses into the host: call them per batch. Outside a
 * Weir runtime they do nothing.
 */
void weir_metrics_counter_add(const char *name, uint64_t delta);
void weir_metrics_gauge_set(const char *name, double value);

/* ------------------------------------------------------------------------ */
/* Keyed state and timers                                                    */
/* ------------------------------------------------------------------------ */

/*
 * State lives in the runtime, not in the component: it is checkpointed,
 * restored after a failure and redistributed when a job is rescaled. It is
 * scoped to a key of the operator's keyed input (`keyBy` in the job spec).
 * Every operation is batched: collect the keys of a batch, then make one
 * call. Values are opaque bytes.
 *
 * A failed host call is a WEIR_ERR_HOST error carrying the runtime's
 * message, e.g. "value state `counts`: unavailable: ..." on an input that is
 * not keyed. Outside a Weir runtime (native tests) state and timers report
 * themselves unavailable.
 */

/* Appends the key of `row` to `key`: the row encoding (tag and payload) of
 * the values of `columns`, in order (see weir_open_context_key_indexes). */
weir_status weir_row_key(const weir_row *row, const size_t *columns, size_t column_count,
                         weir_buffer *key, weir_error *err);

/* Bytes owned by the caller (from the host): release with weir_bytes_free. */
typedef struct weir_bytes {
    uint8_t *ptr;
    size_t len;
} weir_bytes;

/* An optional value read from state: `present` false where a key has none. */
typedef struct weir_opt_bytes {
    bool present;
    weir_bytes value;
} weir_opt_bytes;

/* A list of values (list state) or of (user key, value) pairs (map state). */
typedef struct weir_bytes_list {
    weir_bytes *items;
    size_t len;
} weir_bytes_list;

typedef struct weir_map_entry {
    weir_bytes user_key;
    weir_bytes value;
} weir_map_entry;

void weir_bytes_free(weir_bytes *bytes);
void weir_opt_bytes_array_free(weir_opt_bytes *values, size_t count);
void weir_bytes_list_array_free(weir_bytes_list *lists, size_t count);
void weir_map_entries_free(weir_map_entry *entries, size_t count);

/* Key and value arguments; `ptr` may be NULL when `len` is 0. */
typedef struct weir_slice {
    const uint8_t *ptr;
    size_t len;
} weir_slice;

/* The contents of a buffer (e.g. a key built by weir_row_key) as a slice. */
static inline weir_slice weir_buffer_slice(const weir_buffer *buf) {
    weir_slice s;
    s.ptr = (const uint8_t *)buf->data;
    s.len = buf->len;
    return s;
}

/* An optional value to store: `present` false clears or removes. */
typedef struct weir_opt_slice {
    bool present;
    weir_slice value;
} weir_opt_slice;

typedef struct weir_value_state weir_value_state;
typedef struct weir_map_state weir_map_state;
typedef struct weir_list_state weir_list_state;

/* Opening a state by name creates it on first use; the same name always
 * opens the same state, also after a restore. Open in `open`, keep the
 * handle, close it in `destroy`. */
weir_status weir_value_state_open(const char *name, weir_value_state **state, weir_error *err);
void weir_value_state_close(weir_value_state *state);
/* The value of each of `count` keys into `values` (room for `count`; free
 * them with weir_opt_bytes_array_free). */
weir_status weir_value_state_get(weir_value_state *state, const weir_slice *keys, size_t count,
                                 weir_opt_bytes *values, weir_error *err);
/* Sets each key's value; a value not present clears it. */
weir_status weir_value_state_put(weir_value_state *state, const weir_slice *keys,
                                 const weir_opt_slice *values, size_t count, weir_error *err);

weir_status weir_map_state_open(const char *name, weir_map_state **state, weir_error *err);
void weir_map_state_close(weir_map_state *state);
/* The value under each (keys[i], user_keys[i]), into `values`. */
weir_status weir_map_state_get(weir_map_state *state, const weir_slice *keys,
                               const weir_slice *user_keys, size_t count, weir_opt_bytes *values,
                               weir_error *err);
/* Sets, or with a value not present removes, the value under each pair. */
weir_status weir_map_state_put(weir_map_state *state, const weir_slice *keys,
                               const weir_slice *user_keys, const weir_opt_slice *values,
                               size_t count, weir_error *err);
/* Every (user key, value) of one key, in user-key byte order; free the
 * array with weir_map_entries_free. */
weir_status weir_map_state_entries(weir_map_state *state, weir_slice key,
                                   weir_map_entry **entries, size_t *count, weir_error *err);
/* Removes the whole map of each key. */
weir_status weir_map_state_clear(weir_map_state *state, const weir_slice *keys, size_t count,
                                 weir_error *err);

weir_status weir_list_state_open(const char *name, weir_list_state **state, weir_error *err);
void weir_list_state_close(weir_list_state *state);
/* The list of each key into `lists` (room for `count`; free them with
 * weir_bytes_list_array_free). */
weir_status weir_list_state_get(weir_list_state *state, const weir_slice *keys, size_t count,
                                weir_bytes_list *lists, weir_error *err);
/* Appends values[i] to the list of keys[i]. */
weir_status weir_list_state_append(weir_list_state *state, const weir_slice *keys,
                                   const weir_slice *values, size_t count, weir_error *err);
/* Empties the list of each key. */
weir_status weir_list_state_clear(weir_list_state *state, const weir_slice *keys, size_t count,
                                  weir_error *err);

/* Registers timers (the same key, timestamp and domain twice keeps one);
 * they fire through `on_timer`. */
weir_status weir_timers_register(const weir_timer *timers, size_t count, weir_error *err);
/* Deletes timers registered earlier. */
weir_status weir_timers_delete(const weir_timer *timers, size_t count, weir_error *err);
/* The operator's current watermark, if one has arrived. */
bool weir_timers_current_watermark(int64_t *watermark);
/* The runtime's clock in ms since the Unix epoch. Unlike the WASI clock,
 * which reads 0 unless the job grants it, this is always available. */
int64_t weir_timers_current_processing_time(void);

/* ------------------------------------------------------------------------ */
/* UTF-8 and Unicode                                                         */
/* ------------------------------------------------------------------------ */

/* Whether `len` bytes at `text` are valid UTF-8. */
bool weir_utf8_valid(const char *text, size_t len);

/* Decodes the code point at text[*pos] and advances *pos past it. An
 * invalid sequence yields U+FFFD and advances by one byte. *pos < len. */
uint32_t weir_utf8_next(const char *text, size_t len, size_t *pos);

/* Encodes `cp` into `out` (4 bytes of room), returning the byte count (0 for
 * a surrogate or a value past U+10FFFF). */
size_t weir_utf8_encode(uint32_t cp, char out[4]);

/* Unicode properties, the same as Rust's char::is_alphanumeric and
 * char::to_lowercase (Unicode WEIR_UNICODE_VERSION in weir_unicode.c). */
bool weir_unicode_is_alphanumeric(uint32_t cp);
/* Writes the lowercase mapping of `cp` (1 to 3 code points) to `out`,
 * returning how many. */
size_t weir_unicode_to_lower(uint32_t cp, uint32_t out[3]);
/* The Unicode version of the tables. */
const char *weir_unicode_version(void);

/* ------------------------------------------------------------------------ */
/* Driving an operator: the runtime glue, and native tests                   */
/* ------------------------------------------------------------------------ */

/*
 * An operator instance as the runtime drives it. The component glue uses it;
 * so can native unit tests of an operator: create one over the operator's
 * table, open it with weir_open_context_make, feed it batches built with
 * weir_batch_encode and read the output batches back with weir_rows_decode.
 */
typedef struct weir_instance weir_instance;

weir_instance *weir_instance_new(const weir_operator *op);
void weir_instance_free(weir_instance *inst);

/* Each call leaves its output batches (row encoding) in the instance until
 * the next call; on failure there are none. `err` receives the error. */
weir_status weir_instance_open(weir_instance *inst, const weir_open_context *ctx, weir_error *err);
weir_status weir_instance_process(weir_instance *inst, const uint8_t *batch, size_t len,
                                  weir_error *err);
weir_status weir_instance_on_watermark(weir_instance *inst, int64_t watermark, weir_error *err);
weir_status weir_instance_on_timers(weir_instance *inst, const weir_timer *timers, size_t count,
                                    weir_error *err);
weir_status weir_instance_close(weir_instance *inst, weir_error *err);

const weir_schema *weir_instance_output_schema(const weir_instance *inst);
size_t weir_instance_batch_count(const weir_instance *inst);
const uint8_t *weir_instance_batch(const weir_instance *inst, size_t index, size_t *len);
/* Hands the output batches over: `*batches` becomes a malloc'd array of
 * `*count` malloc'd batches, all the caller's to free. */
void weir_instance_take_batches(weir_instance *inst, weir_bytes **batches, size_t *count);

/* Encodes `row_count` records of `schema` (row_count * columns values, row
 * after row) as one batch in the row encoding, into a malloc'd buffer. A
 * value its column does not accept is a WEIR_ERR_INTERNAL error. */
weir_status weir_batch_encode(const weir_schema *schema, const weir_value *values,
                              size_t row_count, uint8_t **batch, size_t *len, weir_error *err);

/* Decodes a batch of `schema` into `rows` (which is reused from call to
 * call; text and bytes point into `batch`). A malformed batch is a
 * WEIR_ERR_INVALID_INPUT error saying where. */
weir_rows *weir_rows_new(void);
void weir_rows_free(weir_rows *rows);
weir_status weir_rows_decode(weir_rows *rows, const weir_schema *schema, const uint8_t *batch,
                             size_t len, weir_error *err);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_OPERATOR_H */
