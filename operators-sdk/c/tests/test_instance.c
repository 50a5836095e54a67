/* The operator instance as the runtime drives it: callbacks, output
 * batches and their growth, error handling; plus the native stand-ins of
 * state and timers, and the Unicode helpers. */
#include <inttypes.h>

#include "check.h"
#include "weir_operator.h"

/* ---- A pass-through operator with knobs ---------------------------------- */

typedef enum behaviour {
    PASS,
    FAIL_WITH_MESSAGE,   /* invalid-input with a message */
    FAIL_SILENTLY,       /* returns an error kind without a message */
    BAD_STATUS,          /* returns a value that is no status */
    IGNORE_BAD_APPEND,   /* appends a wrong type, ignores the status, returns OK */
    LEAVE_INCOMPLETE,    /* appends half a record */
    EMIT_AFTER_FAILURE   /* emits records, then fails */
} behaviour;

typedef struct probe {
    behaviour mode;
    int *destroyed;
    int64_t watermark;
    size_t timers;
} probe;

static behaviour next_mode;
static int destroyed;

static weir_status probe_open(const weir_open_context *ctx, weir_schema *out, void **state,
                              weir_error *err) {
    char *mode = NULL;
    const weir_config_field fields[] = {WEIR_CONFIG_STRING("mode", &mode)};
    WEIR_TRY(weir_config_read(ctx, fields, 1, err));
    bool fail = mode != NULL && strcmp(mode, "fail") == 0;
    free(mode);
    probe *p = calloc(1, sizeof *p);
    p->mode = next_mode;
    p->destroyed = &destroyed;
    *state = p;
    if (fail)
        return weir_error_set(err, WEIR_ERR_INVALID_CONFIG, "probe: asked to fail");
    return weir_schema_add_all(out, ctx->input_schema);
}

static weir_status probe_process(void *state, const weir_row *row, weir_output *out,
                                 weir_error *err) {
    probe *p = state;
    switch (p->mode) {
    case PASS:
        return weir_output_row(out, row);
    case FAIL_WITH_MESSAGE:
        return weir_error_set(err, WEIR_ERR_INVALID_INPUT, "probe: bad record");
    case FAIL_SILENTLY:
        return WEIR_ERR_HOST;
    case BAD_STATUS:
        return (weir_status)42;
    case IGNORE_BAD_APPEND:
        weir_output_cstr(out, "not an int");
        return WEIR_OK;
    case LEAVE_INCOMPLETE:
        weir_output_int64(out, 1);
        return WEIR_OK;
    case EMIT_AFTER_FAILURE:
        WEIR_TRY(weir_output_row(out, row));
        return weir_error_set(err, WEIR_ERR_INTERNAL, "probe: failed after emitting");
    }
    return WEIR_OK;
}

static weir_status probe_on_watermark(void *state, int64_t watermark, weir_output *out,
                                      weir_error *err) {
    (void)out, (void)err;
    ((probe *)state)->watermark = watermark;
    return WEIR_OK;
}

static weir_status probe_on_timer(void *state, const weir_timer *timer, weir_output *out,
                                  weir_error *err) {
    probe *p = state;
    p->timers++;
    if (timer->timestamp < 0)
        return weir_error_set(err, WEIR_ERR_INTERNAL, "probe: timer in the past");
    weir_value values[] = {weir_value_int64(timer->timestamp), weir_value_utf8("timer", 5)};
    return weir_output_emit(out, values, 2);
}

static weir_status probe_close(void *state, weir_output *out, weir_error *err) {
    (void)state, (void)err;
    weir_value values[] = {weir_value_int64(-1), weir_value_null()};
    return weir_output_emit(out, values, 2);
}

static void probe_destroy(void *state) {
    probe *p = state;
    (*p->destroyed)++;
    free(p);
}

static const weir_operator probe_operator = {
    .open = probe_open,
    .process = probe_process,
    .on_watermark = probe_on_watermark,
    .on_timer = probe_on_timer,
    .close = probe_close,
    .destroy = probe_destroy,
};

static weir_schema *id_name_schema(void) {
    weir_schema *schema = weir_schema_new();
    weir_schema_add(schema, "id", WEIR_INT64, false);
    weir_schema_add(schema, "name", WEIR_UTF8, true);
    return schema;
}

/* A batch of `n` records (i, "name-i"), malloc'd. */
static uint8_t *make_batch(const weir_schema *schema, size_t n, size_t *len) {
    weir_value *values = calloc(2 * n + 1, sizeof(weir_value));
    char(*names)[32] = calloc(n + 1, 32);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], 32, "name-%zu", i);
        values[2 * i] = weir_value_int64((int64_t)i);
        values[2 * i + 1] = i % 3 == 2 ? weir_value_null() : weir_value_utf8(names[i], strlen(names[i]));
    }
    uint8_t *batch;
    weir_error *err = weir_error_new();
    CHECK(weir_batch_encode(schema, values, n, &batch, len, err) == WEIR_OK);
    weir_error_free(err);
    free(names);
    free(values);
    return batch;
}

/* Decodes every output batch of the last call; returns the record count and
 * checks the ids run from `first`. */
static size_t check_output(weir_instance *inst, int64_t first) {
    weir_rows *rows = weir_rows_new();
    weir_error *err = weir_error_new();
    size_t total = 0;
    bool ok = true;
    for (size_t b = 0; b < weir_instance_batch_count(inst) && ok; b++) {
        size_t len;
        const uint8_t *batch = weir_instance_batch(inst, b, &len);
        ok = weir_rows_decode(rows, weir_instance_output_schema(inst), batch, len, err) == WEIR_OK;
        for (size_t r = 0; r < weir_rows_len(rows) && ok; r++) {
            weir_row row = weir_rows_get(rows, r);
            int64_t id = -2;
            ok = weir_row_int64(&row, 0, &id, err) == WEIR_OK && id == first + (int64_t)total;
            total += ok;
        }
    }
    CHECK(ok);
    weir_error_free(err);
    weir_rows_free(rows);
    return total;
}

static void test_lifecycle(void) {
    weir_schema *schema = id_name_schema();
    weir_error *err = weir_error_new();
    weir_instance *inst = weir_instance_new(&probe_operator);
    size_t len;
    uint8_t *batch = make_batch(schema, 10, &len);

    /* Before open. */
    CHECK(weir_instance_process(inst, batch, len, err) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err), "the operator was called before `open` succeeded");

    /* A failing open destroys the state it set and leaves the instance closed. */
    destroyed = 0;
    weir_open_context ctx = weir_open_context_make("probe", schema, "{\"mode\": \"fail\"}");
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_ERR_INVALID_CONFIG);
    CHECK_STR(weir_error_message(err), "probe: asked to fail");
    CHECK(destroyed == 1);
    CHECK(weir_instance_process(inst, batch, len, err) == WEIR_ERR_INTERNAL);

    ctx = weir_open_context_make("probe", schema, "{\"modus\": 1}");
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_ERR_INVALID_CONFIG);
    CHECK_CONTAINS(weir_error_message(err), "unknown field `modus`");

    next_mode = PASS;
    ctx = weir_open_context_make("probe", schema, NULL);
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_OK);
    CHECK(weir_schema_len(weir_instance_output_schema(inst)) == 2);
    CHECK(weir_instance_process(inst, batch, len, err) == WEIR_OK);
    CHECK(weir_instance_batch_count(inst) == 1);
    CHECK(check_output(inst, 0) == 10);
    /* A pass-through is byte-exact. */
    size_t out_len;
    const uint8_t *out = weir_instance_batch(inst, 0, &out_len);
    CHECK(out_len == len && memcmp(out, batch, len) == 0);

    /* Empty batches produce nothing. */
    size_t empty_len;
    uint8_t *empty = make_batch(schema, 0, &empty_len);
    CHECK(weir_instance_process(inst, empty, empty_len, err) == WEIR_OK);
    CHECK(weir_instance_batch_count(inst) == 0);
    free(empty);

    /* A malformed batch is invalid input. */
    CHECK(weir_instance_process(inst, batch, len - 1, err) == WEIR_ERR_INVALID_INPUT);
    CHECK_CONTAINS(weir_error_message(err), "malformed input batch");

    CHECK(weir_instance_on_watermark(inst, 1234, err) == WEIR_OK);
    CHECK(weir_instance_batch_count(inst) == 0);

    weir_timer timers[] = {{NULL, 0, 5, WEIR_EVENT_TIME}, {NULL, 0, 6, WEIR_PROCESSING_TIME}};
    CHECK(weir_instance_on_timers(inst, timers, 2, err) == WEIR_OK);
    CHECK(check_output(inst, 5) == 2);
    weir_timer late = {NULL, 0, -5, WEIR_EVENT_TIME};
    CHECK(weir_instance_on_timers(inst, &late, 1, err) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err), "probe: timer in the past");

    CHECK(weir_instance_close(inst, err) == WEIR_OK);
    CHECK(check_output(inst, -1) == 1);

    /* Re-opening destroys the old state. */
    destroyed = 0;
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_OK);
    CHECK(destroyed == 1);
    weir_instance_free(inst);
    CHECK(destroyed == 2);

    free(batch);
    weir_error_free(err);
    weir_schema_free(schema);
}

/* Opens a probe in `mode` and processes a batch of `n`; returns the status. */
static weir_status run_mode(behaviour mode, size_t n, weir_error *err, size_t *batches) {
    weir_schema *schema = id_name_schema();
    weir_instance *inst = weir_instance_new(&probe_operator);
    next_mode = mode;
    weir_open_context ctx = weir_open_context_make("probe", schema, NULL);
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_OK);
    size_t len;
    uint8_t *batch = make_batch(schema, n, &len);
    weir_status status = weir_instance_process(inst, batch, len, err);
    *batches = weir_instance_batch_count(inst);
    free(batch);
    weir_instance_free(inst);
    weir_schema_free(schema);
    return status;
}

static void test_errors(void) {
    weir_error *err = weir_error_new();
    size_t batches;

    CHECK(run_mode(FAIL_WITH_MESSAGE, 3, err, &batches) == WEIR_ERR_INVALID_INPUT);
    CHECK_STR(weir_error_message(err), "probe: bad record");

    CHECK(run_mode(FAIL_SILENTLY, 3, err, &batches) == WEIR_ERR_HOST);
    CHECK_STR(weir_error_message(err), "process failed (host) without setting a message");

    CHECK(run_mode(BAD_STATUS, 3, err, &batches) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err), "process returned the unknown status 42");

    /* An append error fails the call even when the callback says OK. */
    CHECK(run_mode(IGNORE_BAD_APPEND, 3, err, &batches) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err),
              "emitted a record whose column `id` is utf8, the output schema says int64");
    CHECK(batches == 0);

    CHECK(run_mode(LEAVE_INCOMPLETE, 1, err, &batches) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err),
              "a record was left incomplete: 1 of its 2 values were appended (the next one is "
              "`name`)");

    /* A failed call returns nothing of what it emitted. */
    CHECK(run_mode(EMIT_AFTER_FAILURE, 2, err, &batches) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err), "probe: failed after emitting");
    CHECK(batches == 0);

    weir_error_free(err);
}

static weir_status open_without_process(const weir_open_context *ctx, weir_schema *out,
                                        void **state, weir_error *err) {
    (void)ctx, (void)state, (void)err;
    weir_schema_add(out, "x", WEIR_INT64, false);
    weir_schema_add(out, "x", WEIR_INT64, false);
    return WEIR_OK;
}

static weir_status open_duplicate(const weir_open_context *ctx, weir_schema *out, void **state,
                                  weir_error *err) {
    return open_without_process(ctx, out, state, err);
}

static weir_status process_nothing(void *state, const weir_row *row, weir_output *out,
                                   weir_error *err) {
    (void)state, (void)row, (void)out, (void)err;
    return WEIR_OK;
}

/* Output: id not null, name NOT null either; records are forwarded with
 * weir_output_row, so a null name must be caught value by value. */
static weir_status strict_open(const weir_open_context *ctx, weir_schema *out, void **state,
                               weir_error *err) {
    (void)ctx, (void)state, (void)err;
    weir_schema_add(out, "id", WEIR_INT64, false);
    weir_schema_add(out, "name", WEIR_UTF8, false);
    return WEIR_OK;
}

static weir_status forward(void *state, const weir_row *row, weir_output *out, weir_error *err) {
    (void)state, (void)err;
    return weir_output_row(out, row);
}

static void test_forwarding_checks_nullability(void) {
    weir_error *err = weir_error_new();
    weir_schema *schema = id_name_schema();
    const weir_operator strict = {.open = strict_open, .process = forward};
    weir_instance *inst = weir_instance_new(&strict);
    weir_open_context ctx = weir_open_context_make("strict", schema, NULL);
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_OK);
    size_t len;
    /* Rows 0 and 1 have names, row 2 a null. */
    uint8_t *two = make_batch(schema, 2, &len);
    CHECK(weir_instance_process(inst, two, len, err) == WEIR_OK);
    size_t out_len;
    const uint8_t *out = weir_instance_batch(inst, 0, &out_len);
    CHECK(out_len == len && memcmp(out, two, len) == 0);
    free(two);
    uint8_t *three = make_batch(schema, 3, &len);
    CHECK(weir_instance_process(inst, three, len, err) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err),
              "emitted a record whose column `name` is null, the output schema says utf8");
    free(three);
    weir_instance_free(inst);
    weir_schema_free(schema);
    weir_error_free(err);
}

static void test_definition_errors(void) {
    weir_error *err = weir_error_new();
    weir_schema *schema = id_name_schema();
    weir_open_context ctx = weir_open_context_make("bad", schema, NULL);

    const weir_operator no_process = {.open = open_without_process};
    weir_instance *inst = weir_instance_new(&no_process);
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err), "the operator defines neither `process` nor `process_batch`");
    weir_instance_free(inst);

    const weir_operator duplicate = {.open = open_duplicate, .process = process_nothing};
    inst = weir_instance_new(&duplicate);
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err), "the output schema has two columns named `x`");
    weir_instance_free(inst);

    weir_schema_free(schema);
    weir_error_free(err);
}

/* ---- Output growth --------------------------------------------------------- */

typedef struct grow {
    size_t copies;
    size_t text_len;
    char *text;
} grow;

static weir_status grow_open(const weir_open_context *ctx, weir_schema *out, void **state,
                             weir_error *err) {
    grow *g = calloc(1, sizeof *g);
    int64_t copies = 1, text_len = 10;
    const weir_config_field fields[] = {
        WEIR_CONFIG_INT("copies", &copies),
        WEIR_CONFIG_INT("textLen", &text_len),
    };
    *state = g;
    WEIR_TRY(weir_config_read(ctx, fields, 2, err));
    g->copies = (size_t)copies;
    g->text_len = (size_t)text_len;
    g->text = malloc(g->text_len + 1);
    memset(g->text, 'x', g->text_len);
    weir_schema_add(out, "id", WEIR_INT64, false);
    weir_schema_add(out, "text", WEIR_UTF8, false);
    return WEIR_OK;
}

static weir_status grow_process_batch(void *state, const weir_rows *rows, weir_output *out,
                                      weir_error *err) {
    grow *g = state;
    int64_t id = 0;
    for (size_t r = 0; r < weir_rows_len(rows); r++) {
        for (size_t c = 0; c < g->copies; c++) {
            WEIR_TRY(weir_output_int64(out, id++));
            WEIR_TRY(weir_output_utf8(out, g->text, g->text_len));
        }
    }
    (void)err;
    return WEIR_OK;
}

static void grow_destroy(void *state) {
    grow *g = state;
    free(g->text);
    free(g);
}

static const weir_operator grow_operator = {
    .open = grow_open,
    .process_batch = grow_process_batch,
    .destroy = grow_destroy,
};

static void test_growth(void) {
    weir_error *err = weir_error_new();
    weir_schema *schema = id_name_schema();
    size_t len;
    uint8_t *batch = make_batch(schema, 1, &len);

    /* 300,000 records of 9 + 5 + 100 bytes: about 34 MB, so the writer grows
     * its buffer and starts a new batch every mebibyte. */
    weir_instance *inst = weir_instance_new(&grow_operator);
    weir_open_context ctx =
        weir_open_context_make("grow", schema, "{\"copies\": 300000, \"textLen\": 100}");
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_OK);
    for (int call = 0; call < 2; call++) {
        CHECK(weir_instance_process(inst, batch, len, err) == WEIR_OK);
        size_t count = weir_instance_batch_count(inst);
        CHECK(count == 33);
        size_t total_bytes = 0;
        for (size_t b = 0; b < count; b++) {
            size_t blen;
            weir_instance_batch(inst, b, &blen);
            total_bytes += blen;
            /* Only the last batch may be smaller than the target. */
            if (b + 1 < count)
                CHECK(blen >= WEIR_TARGET_BATCH_BYTES && blen < WEIR_TARGET_BATCH_BYTES + 114);
        }
        CHECK(total_bytes == 300000 * 114 + 8 * count);
        CHECK(check_output(inst, 0) == 300000);
    }

    /* The batches can be taken over by the caller. */
    weir_bytes *taken;
    size_t taken_count;
    weir_instance_take_batches(inst, &taken, &taken_count);
    CHECK(taken_count == 33 && weir_instance_batch_count(inst) == 0);
    for (size_t i = 0; i < taken_count; i++)
        free(taken[i].ptr);
    free(taken);
    weir_instance_free(inst);

    /* One huge value makes a batch of its own size. */
    inst = weir_instance_new(&grow_operator);
    ctx = weir_open_context_make("grow", schema, "{\"copies\": 2, \"textLen\": 3000000}");
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_OK);
    CHECK(weir_instance_process(inst, batch, len, err) == WEIR_OK);
    CHECK(weir_instance_batch_count(inst) == 2);
    CHECK(check_output(inst, 0) == 2);
    weir_instance_free(inst);

    free(batch);
    weir_schema_free(schema);
    weir_error_free(err);
}

/* ---- Output checks on a bare output (through weir_batch_encode) ------------ */

static void test_encode_checks(void) {
    weir_error *err = weir_error_new();
    weir_schema *schema = id_name_schema();
    uint8_t *batch;
    size_t len;

    weir_value null_id[] = {weir_value_null(), weir_value_null()};
    CHECK(weir_batch_encode(schema, null_id, 1, &batch, &len, err) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err),
              "emitted a record whose column `id` is null, the output schema says int64");
    CHECK(batch == NULL);

    weir_value bad_text[] = {weir_value_int64(1), weir_value_utf8("\xff", 1)};
    CHECK(weir_batch_encode(schema, bad_text, 1, &batch, &len, err) == WEIR_ERR_INTERNAL);
    CHECK_STR(weir_error_message(err), "column `name`: emitted text that is not valid UTF-8");

    weir_value ok[] = {weir_value_int64(1), weir_value_utf8("", 0)};
    CHECK(weir_batch_encode(schema, ok, 1, &batch, &len, err) == WEIR_OK);
    const uint8_t want[] = {1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0};
    CHECK(len == sizeof want && memcmp(batch, want, len) == 0);
    free(batch);

    weir_schema_free(schema);
    weir_error_free(err);
}

/* ---- Host stand-ins ------------------------------------------------------- */

static void test_host_outside_runtime(void) {
    weir_error *err = weir_error_new();
    weir_value_state *vs = (weir_value_state *)1;
    CHECK(weir_value_state_open("counts", &vs, err) == WEIR_ERR_HOST);
    CHECK(vs == NULL);
    CHECK_STR(weir_error_message(err),
              "value state `counts`: unavailable: keyed state and timers exist only inside a "
              "Weir runtime");
    weir_map_state *ms;
    CHECK(weir_map_state_open("m", &ms, err) == WEIR_ERR_HOST);
    weir_list_state *ls;
    CHECK(weir_list_state_open("l", &ls, err) == WEIR_ERR_HOST);
    weir_timer t = {(const uint8_t *)"k", 1, 10, WEIR_EVENT_TIME};
    CHECK(weir_timers_register(&t, 1, err) == WEIR_ERR_HOST);
    CHECK_STR(weir_error_message(err),
              "registering timers: unavailable: keyed state and timers exist only inside a Weir "
              "runtime");
    CHECK(weir_timers_delete(&t, 1, err) == WEIR_ERR_HOST);
    int64_t wm = 77;
    CHECK(!weir_timers_current_watermark(&wm) && wm == 77);
    CHECK(weir_timers_current_processing_time() > INT64_C(1600000000000));
    CHECK(weir_log_enabled(WEIR_LOG_DEBUG));
    weir_metrics_counter_add("rows", 1);
    weir_metrics_gauge_set("size", 2.0);
    weir_error_free(err);
}

/* ---- UTF-8 and Unicode ---------------------------------------------------- */

static void test_unicode(void) {
    CHECK(weir_utf8_valid("", 0));
    CHECK(weir_utf8_valid("plain ascii text, longer than eight bytes", 41));
    CHECK(weir_utf8_valid("Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x8c\x8a", 13));
    CHECK(!weir_utf8_valid("\xc0\xaf", 2));          /* overlong */
    CHECK(!weir_utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
    CHECK(!weir_utf8_valid("\xf4\x90\x80\x80", 4));  /* past U+10FFFF */
    CHECK(!weir_utf8_valid("abcdefgh\xe6\x97", 10)); /* truncated after the fast path */
    CHECK(!weir_utf8_valid("\x80", 1));

    size_t pos = 0;
    const char *s = "a\xc3\xa9\xf0\x9f\x8c\x8a\xff";
    CHECK(weir_utf8_next(s, 9, &pos) == 'a' && pos == 1);
    CHECK(weir_utf8_next(s, 9, &pos) == 0xE9 && pos == 3);
    CHECK(weir_utf8_next(s, 9, &pos) == 0x1F30A && pos == 7);
    CHECK(weir_utf8_next(s, 9, &pos) == 0xFFFD && pos == 8);
    char out[4];
    CHECK(weir_utf8_encode(0x1F30A, out) == 4 && memcmp(out, "\xf0\x9f\x8c\x8a", 4) == 0);
    CHECK(weir_utf8_encode(0xD800, out) == 0);
    CHECK(weir_utf8_encode(0x110000, out) == 0);

    CHECK(weir_unicode_is_alphanumeric('a') && weir_unicode_is_alphanumeric('7'));
    CHECK(!weir_unicode_is_alphanumeric('\'') && !weir_unicode_is_alphanumeric('_'));
    CHECK(weir_unicode_is_alphanumeric(0xE9));     /* é */
    CHECK(weir_unicode_is_alphanumeric(0x65E5));   /* 日 */
    CHECK(weir_unicode_is_alphanumeric(0x0663));   /* ARABIC-INDIC DIGIT THREE */
    CHECK(weir_unicode_is_alphanumeric(0x00B2));   /* ², numeric (No) */
    CHECK(!weir_unicode_is_alphanumeric(0x1F30A)); /* 🌊 */
    CHECK(!weir_unicode_is_alphanumeric(0x00A0));  /* no-break space */

    uint32_t lower[3];
    CHECK(weir_unicode_to_lower('Q', lower) == 1 && lower[0] == 'q');
    CHECK(weir_unicode_to_lower(0xC9, lower) == 1 && lower[0] == 0xE9);     /* É */
    CHECK(weir_unicode_to_lower(0x0100, lower) == 1 && lower[0] == 0x0101); /* Ā, stride 2 */
    CHECK(weir_unicode_to_lower(0x0101, lower) == 1 && lower[0] == 0x0101);
    CHECK(weir_unicode_to_lower(0x03A3, lower) == 1 && lower[0] == 0x03C3); /* Σ */
    CHECK(weir_unicode_to_lower(0x0410, lower) == 1 && lower[0] == 0x0430); /* А */
    CHECK(weir_unicode_to_lower(0x212A, lower) == 1 && lower[0] == 'k');    /* Kelvin sign */
    CHECK(weir_unicode_to_lower(0x0130, lower) == 2 && lower[0] == 'i' && lower[1] == 0x0307);
    CHECK(weir_unicode_to_lower(0x10400, lower) == 1 && lower[0] == 0x10428); /* Deseret */
    CHECK(weir_unicode_to_lower(0x65E5, lower) == 1 && lower[0] == 0x65E5);
    CHECK(strlen(weir_unicode_version()) >= 5);
}

int main(void) {
    test_lifecycle();
    test_errors();
    test_definition_errors();
    test_forwarding_checks_nullability();
    test_growth();
    test_encode_checks();
    test_host_outside_runtime();
    test_unicode();
    return check_report("instance");
}
