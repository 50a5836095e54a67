/*
 * The component's exports: converts between the generated bindings of the
 * WIT contract and the SDK's instance, which holds the operator.
 *
 * Ownership follows the canonical ABI as wit-bindgen's C generator sets it
 * up: arguments (the open context, input batches, fired timers) belong to
 * the callee, which frees them; results (schemas, batches, error messages)
 * are malloc'd here and freed by the generated post-return functions after
 * the host has copied them.
 */
#ifdef __wasm__

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"
#include "weir_internal.h"

/* A component holds one operator instance, created on the first `open`. */
static weir_instance *instance;
static weir_error *error;

static weir_operator_types_error_kind_t wit_error_kind(weir_status status) {
    switch (status) {
    case WEIR_ERR_INVALID_CONFIG:
        return WEIR_OPERATOR_TYPES_ERROR_KIND_INVALID_CONFIG;
    case WEIR_ERR_INVALID_INPUT:
        return WEIR_OPERATOR_TYPES_ERROR_KIND_INVALID_INPUT;
    case WEIR_ERR_HOST:
        return WEIR_OPERATOR_TYPES_ERROR_KIND_HOST;
    default:
        return WEIR_OPERATOR_TYPES_ERROR_KIND_INTERNAL;
    }
}

/* What the operator printed during the call reaches the runtime's logs
 * now, not whenever the buffer happens to fill. */
static void flush_output(void) {
    fflush(stdout);
}

/* Fills the WIT error from the SDK's, handing its message over. */
static bool fail(weir_status status, exports_weir_operator_handler_operator_error_t *err) {
    size_t len;
    err->kind = wit_error_kind(status);
    err->message.ptr = (uint8_t *)weir__error_take_message(error, &len);
    err->message.len = len;
    return false;
}

/* Fails with a fixed message, for failures before the instance exists. */
static bool fail_with(const char *message, exports_weir_operator_handler_operator_error_t *err) {
    size_t len = strlen(message);
    err->kind = WEIR_OPERATOR_TYPES_ERROR_KIND_INTERNAL;
    err->message.ptr = (uint8_t *)weir__strndup(message, len);
    err->message.len = err->message.ptr == NULL ? 0 : len;
    return false;
}

static char *dup_wit(const operator_string_t *s) {
    return weir__strndup((const char *)s->ptr, s->len);
}

static weir_type from_wit_type(weir_operator_types_data_type_t t) {
    switch (t) {
    case WEIR_OPERATOR_TYPES_DATA_TYPE_BOOLEAN:
        return WEIR_BOOLEAN;
    case WEIR_OPERATOR_TYPES_DATA_TYPE_INT64:
        return WEIR_INT64;
    case WEIR_OPERATOR_TYPES_DATA_TYPE_FLOAT64:
        return WEIR_FLOAT64;
    case WEIR_OPERATOR_TYPES_DATA_TYPE_UTF8:
        return WEIR_UTF8;
    case WEIR_OPERATOR_TYPES_DATA_TYPE_BINARY:
        return WEIR_BINARY;
    case WEIR_OPERATOR_TYPES_DATA_TYPE_TIMESTAMP_MILLIS:
        return WEIR_TIMESTAMP_MILLIS;
    }
    return WEIR_NULL;
}

static weir_operator_types_data_type_t to_wit_type(weir_type t) {
    switch (t) {
    case WEIR_BOOLEAN:
        return WEIR_OPERATOR_TYPES_DATA_TYPE_BOOLEAN;
    case WEIR_INT64:
        return WEIR_OPERATOR_TYPES_DATA_TYPE_INT64;
    case WEIR_FLOAT64:
        return WEIR_OPERATOR_TYPES_DATA_TYPE_FLOAT64;
    case WEIR_UTF8:
        return WEIR_OPERATOR_TYPES_DATA_TYPE_UTF8;
    case WEIR_BINARY:
        return WEIR_OPERATOR_TYPES_DATA_TYPE_BINARY;
    case WEIR_TIMESTAMP_MILLIS:
    case WEIR_NULL:
        break;
    }
    return WEIR_OPERATOR_TYPES_DATA_TYPE_TIMESTAMP_MILLIS;
}

/* The context's strings, NUL-terminated, for the duration of `open`. */
typedef struct open_args {
    weir_open_context ctx;
    char *name;
    char *config;
    weir_schema *schema;
    char **keys;
    size_t key_count;
} open_args;

static void open_args_free(open_args *a) {
    free(a->name);
    free(a->config);
    weir_schema_free(a->schema);
    for (size_t i = 0; i < a->key_count; i++)
        free(a->keys[i]);
    free(a->keys);
}

static const char *open_args_init(open_args *a, const exports_weir_operator_handler_open_context_t *c) {
    memset(a, 0, sizeof *a);
    a->name = dup_wit(&c->operator_name);
    a->config = dup_wit(&c->config);
    a->schema = weir_schema_new();
    if (a->name == NULL || a->config == NULL || a->schema == NULL)
        return "out of memory opening the operator";
    const weir_operator_types_list_field_t *fields = &c->input_schema.fields;
    for (size_t i = 0; i < fields->len; i++) {
        char *field_name = dup_wit(&fields->ptr[i].name);
        if (field_name == NULL)
            return "out of memory opening the operator";
        weir_status s = weir_schema_add(a->schema, field_name, from_wit_type(fields->ptr[i].data_type),
                                        fields->ptr[i].nullable);
        free(field_name);
        if (s != WEIR_OK)
            return "the runtime sent an input schema with an empty, duplicate or non-UTF-8 "
                   "column name, or an unknown type";
    }
    a->key_count = c->key_fields.len;
    if (a->key_count > 0) {
        a->keys = calloc(a->key_count, sizeof(char *));
        if (a->keys == NULL) {
            a->key_count = 0;
            return "out of memory opening the operator";
        }
        for (size_t i = 0; i < a->key_count; i++) {
            a->keys[i] = dup_wit(&c->key_fields.ptr[i]);
            if (a->keys[i] == NULL)
                return "out of memory opening the operator";
        }
    }
    a->ctx.operator_name = a->name;
    a->ctx.config_json = a->config;
    a->ctx.config_json_len = c->config.len;
    a->ctx.input_schema = a->schema;
    a->ctx.key_fields = (const char *const *)a->keys;
    a->ctx.key_field_count = a->key_count;
    a->ctx.subtask_index = c->subtask_index;
    a->ctx.parallelism = c->parallelism;
    a->ctx.attempt = c->attempt;
    return NULL;
}

/* The output schema as the contract's list<field>, malloc'd for the
 * post-return function to free. */
static bool wit_schema(const weir_schema *schema, weir_operator_types_list_field_t *out) {
    size_t n = weir_schema_len(schema);
    out->ptr = NULL;
    out->len = 0;
    if (n == 0)
        return true;
    weir_operator_types_field_t *fields = calloc(n, sizeof *fields);
    if (fields == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        const weir_field *f = weir_schema_field(schema, i);
        size_t len = strlen(f->name);
        fields[i].name.ptr = (uint8_t *)weir__strndup(f->name, len);
        fields[i].name.len = len;
        fields[i].data_type = to_wit_type(f->type);
        fields[i].nullable = f->nullable;
        if (fields[i].name.ptr == NULL) {
            for (size_t j = 0; j < i; j++)
                free(fields[j].name.ptr);
            free(fields);
            return false;
        }
    }
    out->ptr = fields;
    out->len = n;
    return true;
}

bool exports_weir_operator_handler_open(exports_weir_operator_handler_open_context_t *context,
                                        exports_weir_operator_handler_open_result_t *ret,
                                        exports_weir_operator_handler_operator_error_t *err) {
    open_args args;
    const char *problem = open_args_init(&args, context);
    exports_weir_operator_handler_open_context_free(context);
    if (problem == NULL && instance == NULL) {
        instance = weir_instance_new(weir_exported_operator());
        error = weir_error_new();
        if (instance == NULL || error == NULL)
            problem = "out of memory opening the operator";
    }
    if (problem != NULL) {
        open_args_free(&args);
        return fail_with(problem, err);
    }
    weir_status status = weir_instance_open(instance, &args.ctx, error);
    open_args_free(&args);
    flush_output();
    if (status != WEIR_OK)
        return fail(status, err);
    if (!wit_schema(weir_instance_output_schema(instance), &ret->output_schema.fields))
        return fail_with("out of memory returning the output schema", err);
    ret->encoding = WEIR_OPERATOR_TYPES_ENCODING_ROWS;
    return true;
}

/* The batches of the call just made, as the contract's list<batch>. */
static bool take_batches(exports_weir_operator_handler_list_batch_t *ret,
                         exports_weir_operator_handler_operator_error_t *err) {
    weir_bytes *batches;
    size_t count;
    weir_instance_take_batches(instance, &batches, &count);
    ret->ptr = NULL;
    ret->len = 0;
    if (count == 0)
        return true;
    exports_weir_operator_handler_batch_t *list = malloc(count * sizeof *list);
    if (list == NULL) {
        for (size_t i = 0; i < count; i++)
            free(batches[i].ptr);
        free(batches);
        return fail_with("out of memory returning output batches", err);
    }
    for (size_t i = 0; i < count; i++) {
        list[i].ptr = batches[i].ptr;
        list[i].len = batches[i].len;
    }
    free(batches);
    ret->ptr = list;
    ret->len = count;
    return true;
}

static bool not_open(exports_weir_operator_handler_operator_error_t *err) {
    return fail_with("the operator was called before `open` succeeded", err);
}

bool exports_weir_operator_handler_process(exports_weir_operator_handler_batch_t *input,
                                           exports_weir_operator_handler_list_batch_t *ret,
                                           exports_weir_operator_handler_operator_error_t *err) {
    if (instance == NULL) {
        exports_weir_operator_handler_batch_free(input);
        return not_open(err);
    }
    /* The rows point into the input: free it only after the call. */
    weir_status status = weir_instance_process(instance, input->ptr, input->len, error);
    exports_weir_operator_handler_batch_free(input);
    flush_output();
    if (status != WEIR_OK)
        return fail(status, err);
    return take_batches(ret, err);
}

bool exports_weir_operator_handler_on_watermark(int64_t watermark,
                                                exports_weir_operator_handler_list_batch_t *ret,
                                                exports_weir_operator_handler_operator_error_t *err) {
    if (instance == NULL)
        return not_open(err);
    weir_status status = weir_instance_on_watermark(instance, watermark, error);
    flush_output();
    if (status != WEIR_OK)
        return fail(status, err);
    return take_batches(ret, err);
}

bool exports_weir_operator_handler_on_timer(exports_weir_operator_handler_list_timer_t *fired,
                                            exports_weir_operator_handler_list_batch_t *ret,
                                            exports_weir_operator_handler_operator_error_t *err) {
    if (instance == NULL) {
        exports_weir_operator_handler_list_timer_free(fired);
        return not_open(err);
    }
    weir_timer *timers = malloc((fired->len == 0 ? 1 : fired->len) * sizeof *timers);
    if (timers == NULL) {
        exports_weir_operator_handler_list_timer_free(fired);
        return fail_with("out of memory receiving timers", err);
    }
    for (size_t i = 0; i < fired->len; i++) {
        timers[i].key = fired->ptr[i].key.len == 0 ? NULL : fired->ptr[i].key.ptr;
        timers[i].key_len = fired->ptr[i].key.len;
        timers[i].timestamp = fired->ptr[i].timestamp;
        timers[i].domain = fired->ptr[i].domain == WEIR_OPERATOR_TIMERS_TIME_DOMAIN_EVENT_TIME
                               ? WEIR_EVENT_TIME
                               : WEIR_PROCESSING_TIME;
    }
    weir_status status = weir_instance_on_timers(instance, timers, fired->len, error);
    flush_output();
    free(timers);
    exports_weir_operator_handler_list_timer_free(fired);
    if (status != WEIR_OK)
        return fail(status, err);
    return take_batches(ret, err);
}

bool exports_weir_operator_handler_close(exports_weir_operator_handler_list_batch_t *ret,
                                         exports_weir_operator_handler_operator_error_t *err) {
    if (instance == NULL)
        return not_open(err);
    weir_status status = weir_instance_close(instance, error);
    flush_output();
    if (status != WEIR_OK)
        return fail(status, err);
    return take_batches(ret, err);
}

#else
/* Native builds (unit tests) have no component to export. */
typedef int weir_glue_is_wasm_only;
#endif /* __wasm__ */
