/*
 * The host imports behind logs, metrics, keyed state and timers: the
 * generated bindings inside a component, stand-ins outside wasm.
 *
 * The stand-ins let an operator's native unit tests run: logs go to stderr,
 * metrics are dropped, and state and timers report themselves unavailable,
 * exactly as a runtime does for an operator without a keyed input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weir_internal.h"

void weir_bytes_free(weir_bytes *bytes) {
    if (bytes == NULL)
        return;
    free(bytes->ptr);
    bytes->ptr = NULL;
    bytes->len = 0;
}

void weir_opt_bytes_array_free(weir_opt_bytes *values, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (values[i].present)
            weir_bytes_free(&values[i].value);
        values[i].present = false;
    }
}

void weir_bytes_list_array_free(weir_bytes_list *lists, size_t count) {
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < lists[i].len; j++)
            weir_bytes_free(&lists[i].items[j]);
        free(lists[i].items);
        lists[i].items = NULL;
        lists[i].len = 0;
    }
}

void weir_map_entries_free(weir_map_entry *entries, size_t count) {
    for (size_t i = 0; i < count; i++) {
        weir_bytes_free(&entries[i].user_key);
        weir_bytes_free(&entries[i].value);
    }
    free(entries);
}

/* Formats a log message into `stack` when it fits, else into the heap. */
static char *format_message(char *stack, size_t size, const char *fmt, va_list args, size_t *len) {
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(stack, size, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    if ((size_t)n < size)
        return stack;
    char *heap = malloc((size_t)n + 1);
    if (heap != NULL)
        vsnprintf(heap, (size_t)n + 1, fmt, args);
    return heap;
}

#ifdef __wasm__

#include "operator.h"

/* ------------------------------------------------------------------------ */
/* Inside a component                                                        */
/* ------------------------------------------------------------------------ */

static operator_string_t wit_str(const char *text) {
    operator_string_t s;
    s.ptr = (uint8_t *)text;
    s.len = strlen(text);
    return s;
}

bool weir_log_enabled(weir_log_level level) {
    return weir_operator_log_enabled((weir_operator_log_level_t)level);
}

void weir_log(weir_log_level level, const char *fmt, ...) {
    if (!weir_operator_log_enabled((weir_operator_log_level_t)level))
        return;
    char stack[512];
    size_t len = 0;
    va_list args;
    va_start(args, fmt);
    char *text = format_message(stack, sizeof stack, fmt, args, &len);
    va_end(args);
    if (text == NULL)
        return;
    operator_string_t message = {(uint8_t *)text, len};
    weir_operator_log_log((weir_operator_log_level_t)level, &message);
    if (text != stack)
        free(text);
}

void weir_metrics_counter_add(const char *name, uint64_t delta) {
    operator_string_t s = wit_str(name);
    weir_operator_metrics_counter_add(&s, delta);
}

void weir_metrics_gauge_set(const char *name, double value) {
    operator_string_t s = wit_str(name);
    weir_operator_metrics_gauge_set(&s, value);
}

/* A host error as an operator error of kind host, keeping the host's
 * message; frees the host's strings. */
static weir_status host_error(weir_error *err, weir_operator_types_host_error_t *e,
                              const char *what, const char *name) {
    const char *cause = "unknown host error";
    operator_string_t *m = NULL;
    switch (e->tag) {
    case WEIR_OPERATOR_TYPES_HOST_ERROR_UNAVAILABLE:
        cause = "unavailable";
        m = &e->val.unavailable;
        break;
    case WEIR_OPERATOR_TYPES_HOST_ERROR_LIMIT_EXCEEDED:
        cause = "limit exceeded";
        m = &e->val.limit_exceeded;
        break;
    case WEIR_OPERATOR_TYPES_HOST_ERROR_INVALID_ARGUMENT:
        cause = "invalid argument";
        m = &e->val.invalid_argument;
        break;
    }
    int len = m == NULL ? 0 : (int)m->len;
    const char *text = m == NULL ? "" : (const char *)m->ptr;
    if (name != NULL)
        weir_error_set(err, WEIR_ERR_HOST, "%s `%s`: %s: %.*s", what, name, cause, len, text);
    else
        weir_error_set(err, WEIR_ERR_HOST, "%s: %s: %.*s", what, cause, len, text);
    weir_operator_types_host_error_free(e);
    return WEIR_ERR_HOST;
}

static weir_status out_of_memory(weir_error *err, const char *what) {
    return weir_error_set(err, WEIR_ERR_INTERNAL, "out of memory calling %s", what);
}

static weir_status count_mismatch(weir_error *err, const char *what, const char *name,
                                  size_t got, size_t want) {
    return weir_error_set(err, WEIR_ERR_INTERNAL,
                          "%s `%s`: the runtime answered %zu values for %zu keys", what, name, got,
                          want);
}

/* A list lifted from the host: memory from cabi_realloc (malloc), except
 * that an empty list's pointer is not an allocation. */
static weir_bytes take_list(operator_list_u8_t *list) {
    weir_bytes b;
    b.ptr = list->len == 0 ? NULL : list->ptr;
    b.len = list->len;
    list->ptr = NULL;
    list->len = 0;
    return b;
}

static weir_operator_keyed_state_key_t wit_key(weir_slice s) {
    weir_operator_keyed_state_key_t k;
    k.ptr = (uint8_t *)s.ptr;
    k.len = s.len;
    return k;
}

static operator_list_u8_t wit_bytes(weir_slice s) {
    operator_list_u8_t b;
    b.ptr = (uint8_t *)s.ptr;
    b.len = s.len;
    return b;
}

static operator_option_list_u8_t wit_opt_bytes(const weir_opt_slice *s) {
    operator_option_list_u8_t o;
    o.is_some = s->present;
    o.val = wit_bytes(s->value);
    return o;
}

/* Builds the list<key> argument of a batched call; NULL when out of memory. */
static weir_operator_keyed_state_key_t *wit_keys(const weir_slice *keys, size_t count) {
    weir_operator_keyed_state_key_t *list = malloc((count == 0 ? 1 : count) * sizeof *list);
    if (list != NULL) {
        for (size_t i = 0; i < count; i++)
            list[i] = wit_key(keys[i]);
    }
    return list;
}

/* Moves list<option<list<u8>>> into caller-owned values, freeing the rest. */
static weir_status take_opt_values(operator_list_option_list_u8_t *got, weir_opt_bytes *values,
                                   size_t count, const char *what, const char *name,
                                   weir_error *err) {
    if (got->len != count) {
        size_t n = got->len;
        operator_list_option_list_u8_free(got);
        return count_mismatch(err, what, name, n, count);
    }
    for (size_t i = 0; i < count; i++) {
        values[i].present = got->ptr[i].is_some;
        if (values[i].present) {
            values[i].value = take_list(&got->ptr[i].val);
        } else {
            values[i].value.ptr = NULL;
            values[i].value.len = 0;
        }
    }
    if (got->len > 0)
        free(got->ptr);
    return WEIR_OK;
}

struct weir_value_state {
    weir_operator_keyed_state_own_value_state_t handle;
    char *name;
};
struct weir_map_state {
    weir_operator_keyed_state_own_map_state_t handle;
    char *name;
};
struct weir_list_state {
    weir_operator_keyed_state_own_list_state_t handle;
    char *name;
};

/* Allocates a handle struct holding a copy of its name. */
#define STATE_NEW(type, out, name, err, what)                                  \
    do {                                                                       \
        (out) = calloc(1, sizeof(type));                                       \
        if ((out) != NULL)                                                     \
            (out)->name = weir__strndup((name), strlen(name));                 \
        if ((out) == NULL || (out)->name == NULL) {                            \
            free(out);                                                         \
            return out_of_memory((err), (what));                               \
        }                                                                      \
    } while (0)

weir_status weir_value_state_open(const char *name, weir_value_state **state, weir_error *err) {
    *state = NULL;
    operator_string_t s = wit_str(name);
    weir_operator_keyed_state_own_value_state_t handle;
    weir_operator_keyed_state_host_error_t e;
    if (!weir_operator_keyed_state_static_value_state_open(&s, &handle, &e))
        return host_error(err, &e, "value state", name);
    weir_value_state *st;
    STATE_NEW(weir_value_state, st, name, err, "value state");
    st->handle = handle;
    *state = st;
    return WEIR_OK;
}

void weir_value_state_close(weir_value_state *state) {
    if (state == NULL)
        return;
    weir_operator_keyed_state_value_state_drop_own(state->handle);
    free(state->name);
    free(state);
}

weir_status weir_value_state_get(weir_value_state *state, const weir_slice *keys, size_t count,
                                 weir_opt_bytes *values, weir_error *err) {
    weir_operator_keyed_state_key_t *list = wit_keys(keys, count);
    if (list == NULL)
        return out_of_memory(err, "value state get");
    weir_operator_keyed_state_list_key_t arg = {list, count};
    operator_list_option_list_u8_t got;
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_value_state_get(
        weir_operator_keyed_state_borrow_value_state(state->handle), &arg, &got, &e);
    free(list);
    if (!ok)
        return host_error(err, &e, "value state", state->name);
    return take_opt_values(&got, values, count, "value state", state->name, err);
}

weir_status weir_value_state_put(weir_value_state *state, const weir_slice *keys,
                                 const weir_opt_slice *values, size_t count, weir_error *err) {
    weir_operator_keyed_state_tuple2_key_option_list_u8_t *list =
        malloc((count == 0 ? 1 : count) * sizeof *list);
    if (list == NULL)
        return out_of_memory(err, "value state put");
    for (size_t i = 0; i < count; i++) {
        list[i].f0 = wit_key(keys[i]);
        list[i].f1 = wit_opt_bytes(&values[i]);
    }
    weir_operator_keyed_state_list_tuple2_key_option_list_u8_t arg = {list, count};
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_value_state_put(
        weir_operator_keyed_state_borrow_value_state(state->handle), &arg, &e);
    free(list);
    return ok ? WEIR_OK : host_error(err, &e, "value state", state->name);
}

weir_status weir_map_state_open(const char *name, weir_map_state **state, weir_error *err) {
    *state = NULL;
    operator_string_t s = wit_str(name);
    weir_operator_keyed_state_own_map_state_t handle;
    weir_operator_keyed_state_host_error_t e;
    if (!weir_operator_keyed_state_static_map_state_open(&s, &handle, &e))
        return host_error(err, &e, "map state", name);
    weir_map_state *st;
    STATE_NEW(weir_map_state, st, name, err, "map state");
    st->handle = handle;
    *state = st;
    return WEIR_OK;
}

void weir_map_state_close(weir_map_state *state) {
    if (state == NULL)
        return;
    weir_operator_keyed_state_map_state_drop_own(state->handle);
    free(state->name);
    free(state);
}

weir_status weir_map_state_get(weir_map_state *state, const weir_slice *keys,
                               const weir_slice *user_keys, size_t count, weir_opt_bytes *values,
                               weir_error *err) {
    weir_operator_keyed_state_tuple2_key_list_u8_t *list =
        malloc((count == 0 ? 1 : count) * sizeof *list);
    if (list == NULL)
        return out_of_memory(err, "map state get");
    for (size_t i = 0; i < count; i++) {
        list[i].f0 = wit_key(keys[i]);
        list[i].f1 = wit_bytes(user_keys[i]);
    }
    weir_operator_keyed_state_list_tuple2_key_list_u8_t arg = {list, count};
    operator_list_option_list_u8_t got;
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_map_state_get(
        weir_operator_keyed_state_borrow_map_state(state->handle), &arg, &got, &e);
    free(list);
    if (!ok)
        return host_error(err, &e, "map state", state->name);
    return take_opt_values(&got, values, count, "map state", state->name, err);
}

weir_status weir_map_state_put(weir_map_state *state, const weir_slice *keys,
                               const weir_slice *user_keys, const weir_opt_slice *values,
                               size_t count, weir_error *err) {
    weir_operator_keyed_state_tuple3_key_list_u8_option_list_u8_t *list =
        malloc((count == 0 ? 1 : count) * sizeof *list);
    if (list == NULL)
        return out_of_memory(err, "map state put");
    for (size_t i = 0; i < count; i++) {
        list[i].f0 = wit_key(keys[i]);
        list[i].f1 = wit_bytes(user_keys[i]);
        list[i].f2 = wit_opt_bytes(&values[i]);
    }
    weir_operator_keyed_state_list_tuple3_key_list_u8_option_list_u8_t arg = {list, count};
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_map_state_put(
        weir_operator_keyed_state_borrow_map_state(state->handle), &arg, &e);
    free(list);
    return ok ? WEIR_OK : host_error(err, &e, "map state", state->name);
}

weir_status weir_map_state_entries(weir_map_state *state, weir_slice key,
                                   weir_map_entry **entries, size_t *count, weir_error *err) {
    *entries = NULL;
    *count = 0;
    weir_operator_keyed_state_key_t k = wit_key(key);
    operator_list_tuple2_list_u8_list_u8_t got;
    weir_operator_keyed_state_host_error_t e;
    if (!weir_operator_keyed_state_method_map_state_entries(
            weir_operator_keyed_state_borrow_map_state(state->handle), &k, &got, &e))
        return host_error(err, &e, "map state", state->name);
    if (got.len == 0)
        return WEIR_OK;
    weir_map_entry *out = malloc(got.len * sizeof *out);
    if (out == NULL) {
        operator_list_tuple2_list_u8_list_u8_free(&got);
        return out_of_memory(err, "map state entries");
    }
    for (size_t i = 0; i < got.len; i++) {
        out[i].user_key = take_list(&got.ptr[i].f0);
        out[i].value = take_list(&got.ptr[i].f1);
    }
    free(got.ptr);
    *entries = out;
    *count = got.len;
    return WEIR_OK;
}

weir_status weir_map_state_clear(weir_map_state *state, const weir_slice *keys, size_t count,
                                 weir_error *err) {
    weir_operator_keyed_state_key_t *list = wit_keys(keys, count);
    if (list == NULL)
        return out_of_memory(err, "map state clear");
    weir_operator_keyed_state_list_key_t arg = {list, count};
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_map_state_clear(
        weir_operator_keyed_state_borrow_map_state(state->handle), &arg, &e);
    free(list);
    return ok ? WEIR_OK : host_error(err, &e, "map state", state->name);
}

weir_status weir_list_state_open(const char *name, weir_list_state **state, weir_error *err) {
    *state = NULL;
    operator_string_t s = wit_str(name);
    weir_operator_keyed_state_own_list_state_t handle;
    weir_operator_keyed_state_host_error_t e;
    if (!weir_operator_keyed_state_static_list_state_open(&s, &handle, &e))
        return host_error(err, &e, "list state", name);
    weir_list_state *st;
    STATE_NEW(weir_list_state, st, name, err, "list state");
    st->handle = handle;
    *state = st;
    return WEIR_OK;
}

void weir_list_state_close(weir_list_state *state) {
    if (state == NULL)
        return;
    weir_operator_keyed_state_list_state_drop_own(state->handle);
    free(state->name);
    free(state);
}

weir_status weir_list_state_get(weir_list_state *state, const weir_slice *keys, size_t count,
                                weir_bytes_list *lists, weir_error *err) {
    weir_operator_keyed_state_key_t *list = wit_keys(keys, count);
    if (list == NULL)
        return out_of_memory(err, "list state get");
    weir_operator_keyed_state_list_key_t arg = {list, count};
    operator_list_list_list_u8_t got;
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_list_state_get(
        weir_operator_keyed_state_borrow_list_state(state->handle), &arg, &got, &e);
    free(list);
    if (!ok)
        return host_error(err, &e, "list state", state->name);
    if (got.len != count) {
        size_t n = got.len;
        operator_list_list_list_u8_free(&got);
        return count_mismatch(err, "list state", state->name, n, count);
    }
    for (size_t i = 0; i < count; i++) {
        operator_list_list_u8_t *values = &got.ptr[i];
        lists[i].len = values->len;
        lists[i].items = NULL;
        if (values->len == 0)
            continue;
        lists[i].items = malloc(values->len * sizeof(weir_bytes));
        if (lists[i].items == NULL) {
            weir_bytes_list_array_free(lists, i);
            operator_list_list_list_u8_free(&got);
            return out_of_memory(err, "list state get");
        }
        for (size_t j = 0; j < values->len; j++)
            lists[i].items[j] = take_list(&values->ptr[j]);
        free(values->ptr);
        values->ptr = NULL;
        values->len = 0;
    }
    if (got.len > 0)
        free(got.ptr);
    return WEIR_OK;
}

weir_status weir_list_state_append(weir_list_state *state, const weir_slice *keys,
                                   const weir_slice *values, size_t count, weir_error *err) {
    weir_operator_keyed_state_tuple2_key_list_u8_t *list =
        malloc((count == 0 ? 1 : count) * sizeof *list);
    if (list == NULL)
        return out_of_memory(err, "list state append");
    for (size_t i = 0; i < count; i++) {
        list[i].f0 = wit_key(keys[i]);
        list[i].f1 = wit_bytes(values[i]);
    }
    weir_operator_keyed_state_list_tuple2_key_list_u8_t arg = {list, count};
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_list_state_append(
        weir_operator_keyed_state_borrow_list_state(state->handle), &arg, &e);
    free(list);
    return ok ? WEIR_OK : host_error(err, &e, "list state", state->name);
}

weir_status weir_list_state_clear(weir_list_state *state, const weir_slice *keys, size_t count,
                                  weir_error *err) {
    weir_operator_keyed_state_key_t *list = wit_keys(keys, count);
    if (list == NULL)
        return out_of_memory(err, "list state clear");
    weir_operator_keyed_state_list_key_t arg = {list, count};
    weir_operator_keyed_state_host_error_t e;
    bool ok = weir_operator_keyed_state_method_list_state_clear(
        weir_operator_keyed_state_borrow_list_state(state->handle), &arg, &e);
    free(list);
    return ok ? WEIR_OK : host_error(err, &e, "list state", state->name);
}

/* Builds the list<timer> argument; NULL when out of memory. */
static weir_operator_timers_timer_t *wit_timers(const weir_timer *timers, size_t count) {
    weir_operator_timers_timer_t *list = malloc((count == 0 ? 1 : count) * sizeof *list);
    if (list != NULL) {
        for (size_t i = 0; i < count; i++) {
            list[i].key.ptr = (uint8_t *)timers[i].key;
            list[i].key.len = timers[i].key_len;
            list[i].timestamp = timers[i].timestamp;
            list[i].domain = (weir_operator_timers_time_domain_t)timers[i].domain;
        }
    }
    return list;
}

weir_status weir_timers_register(const weir_timer *timers, size_t count, weir_error *err) {
    weir_operator_timers_timer_t *list = wit_timers(timers, count);
    if (list == NULL)
        return out_of_memory(err, "timers register");
    weir_operator_timers_list_timer_t arg = {list, count};
    weir_operator_timers_host_error_t e;
    bool ok = weir_operator_timers_register(&arg, &e);
    free(list);
    return ok ? WEIR_OK : host_error(err, &e, "registering timers", NULL);
}

weir_status weir_timers_delete(const weir_timer *timers, size_t count, weir_error *err) {
    weir_operator_timers_timer_t *list = wit_timers(timers, count);
    if (list == NULL)
        return out_of_memory(err, "timers delete");
    weir_operator_timers_list_timer_t arg = {list, count};
    weir_operator_timers_host_error_t e;
    bool ok = weir_operator_timers_delete(&arg, &e);
    free(list);
    return ok ? WEIR_OK : host_error(err, &e, "deleting timers", NULL);
}

bool weir_timers_current_watermark(int64_t *watermark) {
    int64_t value;
    if (!weir_operator_timers_current_watermark(&value))
        return false;
    *watermark = value;
    return true;
}

int64_t weir_timers_current_processing_time(void) {
    return weir_operator_timers_current_processing_time();
}

#else /* not __wasm__ */

/* ------------------------------------------------------------------------ */
/* Outside a Weir runtime: native unit tests                                 */
/* ------------------------------------------------------------------------ */

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error"};

bool weir_log_enabled(weir_log_level level) {
    (void)level;
    return true;
}

void weir_log(weir_log_level level, const char *fmt, ...) {
    char stack[512];
    size_t len = 0;
    va_list args;
    va_start(args, fmt);
    char *text = format_message(stack, sizeof stack, fmt, args, &len);
    va_end(args);
    if (text == NULL)
        return;
    unsigned index = (unsigned)level < 5 ? (unsigned)level : 4;
    fprintf(stderr, "[%s] %.*s\n", level_names[index], (int)len, text);
    if (text != stack)
        free(text);
}

void weir_metrics_counter_add(const char *name, uint64_t delta) {
    (void)name;
    (void)delta;
}

void weir_metrics_gauge_set(const char *name, double value) {
    (void)name;
    (void)value;
}

static weir_status outside_runtime(weir_error *err, const char *what, const char *name) {
    const char *reason = "keyed state and timers exist only inside a Weir runtime";
    if (name != NULL)
        return weir_error_set(err, WEIR_ERR_HOST, "%s `%s`: unavailable: %s", what, name, reason);
    return weir_error_set(err, WEIR_ERR_HOST, "%s: unavailable: %s", what, reason);
}

/* The handle types exist only inside a runtime; opening one always fails
 * here, so the other operations are reached only through a NULL handle. */
struct weir_value_state {
    int unused;
};
struct weir_map_state {
    int unused;
};
struct weir_list_state {
    int unused;
};

weir_status weir_value_state_open(const char *name, weir_value_state **state, weir_error *err) {
    *state = NULL;
    return outside_runtime(err, "value state", name);
}
void weir_value_state_close(weir_value_state *state) {
    (void)state;
}
weir_status weir_value_state_get(weir_value_state *state, const weir_slice *keys, size_t count,
                                 weir_opt_bytes *values, weir_error *err) {
    (void)state, (void)keys, (void)count, (void)values;
    return outside_runtime(err, "value state", NULL);
}
weir_status weir_value_state_put(weir_value_state *state, const weir_slice *keys,
                                 const weir_opt_slice *values, size_t count, weir_error *err) {
    (void)state, (void)keys, (void)values, (void)count;
    return outside_runtime(err, "value state", NULL);
}

weir_status weir_map_state_open(const char *name, weir_map_state **state, weir_error *err) {
    *state = NULL;
    return outside_runtime(err, "map state", name);
}
void weir_map_state_close(weir_map_state *state) {
    (void)state;
}
weir_status weir_map_state_get(weir_map_state *state, const weir_slice *keys,
                               const weir_slice *user_keys, size_t count, weir_opt_bytes *values,
                               weir_error *err) {
    (void)state, (void)keys, (void)user_keys, (void)count, (void)values;
    return outside_runtime(err, "map state", NULL);
}
weir_status weir_map_state_put(weir_map_state *state, const weir_slice *keys,
                               const weir_slice *user_keys, const weir_opt_slice *values,
                               size_t count, weir_error *err) {
    (void)state, (void)keys, (void)user_keys, (void)values, (void)count;
    return outside_runtime(err, "map state", NULL);
}
weir_status weir_map_state_entries(weir_map_state *state, weir_slice key,
                                   weir_map_entry **entries, size_t *count, weir_error *err) {
    (void)state, (void)key;
    *entries = NULL;
    *count = 0;
    return outside_runtime(err, "map state", NULL);
}
weir_status weir_map_state_clear(weir_map_state *state, const weir_slice *keys, size_t count,
                                 weir_error *err) {
    (void)state, (void)keys, (void)count;
    return outside_runtime(err, "map state", NULL);
}

weir_status weir_list_state_open(const char *name, weir_list_state **state, weir_error *err) {
    *state = NULL;
    return outside_runtime(err, "list state", name);
}
void weir_list_state_close(weir_list_state *state) {
    (void)state;
}
weir_status weir_list_state_get(weir_list_state *state, const weir_slice *keys, size_t count,
                                weir_bytes_list *lists, weir_error *err) {
    (void)state, (void)keys, (void)count, (void)lists;
    return outside_runtime(err, "list state", NULL);
}
weir_status weir_list_state_append(weir_list_state *state, const weir_slice *keys,
                                   const weir_slice *values, size_t count, weir_error *err) {
    (void)state, (void)keys, (void)values, (void)count;
    return outside_runtime(err, "list state", NULL);
}
weir_status weir_list_state_clear(weir_list_state *state, const weir_slice *keys, size_t count,
                                  weir_error *err) {
    (void)state, (void)keys, (void)count;
    return outside_runtime(err, "list state", NULL);
}

weir_status weir_timers_register(const weir_timer *timers, size_t count, weir_error *err) {
    (void)timers, (void)count;
    return outside_runtime(err, "registering timers", NULL);
}

weir_status weir_timers_delete(const weir_timer *timers, size_t count, weir_error *err) {
    (void)timers, (void)count;
    return outside_runtime(err, "deleting timers", NULL);
}

bool weir_timers_current_watermark(int64_t *watermark) {
    (void)watermark;
    return false;
}

int64_t weir_timers_current_processing_time(void) {
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
