/* The row codec against the shared vectors (operators-sdk/testdata/
 * row-vectors.json) and against malformed batches; the typed getters; keys. */
#include <inttypes.h>
#include <math.h>

#include "check.h"
#include "weir_operator.h"

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Lowercase hex to bytes (malloc'd); NULL on a malformed string. */
static uint8_t *from_hex(const char *hex, size_t hex_len, size_t *len) {
    if (hex_len % 2 != 0)
        return NULL;
    uint8_t *out = malloc(hex_len / 2 + 1);
    for (size_t i = 0; i < hex_len / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = hex_len / 2;
    return out;
}

static weir_type type_from_name(const char *name) {
    static const weir_type types[] = {WEIR_BOOLEAN, WEIR_INT64,  WEIR_FLOAT64,
                                      WEIR_UTF8,    WEIR_BINARY, WEIR_TIMESTAMP_MILLIS};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(weir_type_name(types[i]), name) == 0)
            return types[i];
    }
    return WEIR_NULL;
}

/* The value a vector's JSON describes for a column of `type`. Text and
 * bytes point into the document or into `arena` (binary). */
static weir_value value_from_json(const weir_json *j, weir_type type, uint8_t **arena) {
    if (weir_json_type_of(j) == WEIR_JSON_NULL)
        return weir_value_null();
    size_t len;
    const char *s = weir_json_string(j, &len);
    switch (type) {
    case WEIR_BOOLEAN:
        return weir_value_bool(weir_json_bool(j));
    case WEIR_INT64:
        return weir_value_int64(strtoll(s, NULL, 10));
    case WEIR_TIMESTAMP_MILLIS:
        return weir_value_timestamp_millis(strtoll(s, NULL, 10));
    case WEIR_FLOAT64:
        return weir_value_float64(strtod(s, NULL));
    case WEIR_UTF8:
        return weir_value_utf8(s, len);
    case WEIR_BINARY: {
        size_t n = 0;
        *arena = from_hex(s, len, &n);
        return weir_value_binary(*arena, n);
    }
    default:
        return weir_value_null();
    }
}

static bool values_equal(const weir_value *a, const weir_value *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case WEIR_NULL:
        return true;
    case WEIR_BOOLEAN:
        return a->as.boolean == b->as.boolean;
    case WEIR_INT64:
    case WEIR_TIMESTAMP_MILLIS:
        return a->as.int64 == b->as.int64;
    case WEIR_FLOAT64:
        /* Bit-exact, so -0.0 differs from 0.0. */
        return memcmp(&a->as.float64, &b->as.float64, sizeof(double)) == 0;
    case WEIR_UTF8:
    case WEIR_BINARY:
        return a->as.utf8.len == b->as.utf8.len &&
               (a->as.utf8.len == 0 || memcmp(a->as.utf8.ptr, b->as.utf8.ptr, a->as.utf8.len) == 0);
    }
    return false;
}

static void test_vector(const weir_json *vector) {
    const char *name = weir_json_string(weir_json_get(vector, "name"), NULL);
    const weir_json *fields = weir_json_get(vector, "schema");
    const weir_json *rows_json = weir_json_get(vector, "rows");
    size_t hex_len;
    const char *hex = weir_json_string(weir_json_get(vector, "hex"), &hex_len);
    CHECK(name != NULL && fields != NULL && rows_json != NULL && hex != NULL);
    if (name == NULL || fields == NULL || rows_json == NULL || hex == NULL)
        return;

    weir_schema *schema = weir_schema_new();
    for (size_t i = 0; i < weir_json_length(fields); i++) {
        const weir_json *f = weir_json_at(fields, i);
        CHECK(weir_schema_add(schema, weir_json_string(weir_json_get(f, "name"), NULL),
                              type_from_name(weir_json_string(weir_json_get(f, "type"), NULL)),
                              weir_json_bool(weir_json_get(f, "nullable"))) == WEIR_OK);
    }
    size_t columns = weir_schema_len(schema);
    size_t row_count = weir_json_length(rows_json);
    size_t total = row_count * columns;
    weir_value *expected = calloc(total + 1, sizeof(weir_value));
    uint8_t **arenas = calloc(total + 1, sizeof(uint8_t *));
    for (size_t r = 0; r < row_count; r++) {
        const weir_json *row = weir_json_at(rows_json, r);
        CHECK(weir_json_length(row) == columns);
        for (size_t c = 0; c < columns && c < weir_json_length(row); c++)
            expected[r * columns + c] = value_from_json(
                weir_json_at(row, c), weir_schema_field(schema, c)->type, &arenas[r * columns + c]);
    }
    size_t bytes_len;
    uint8_t *bytes = from_hex(hex, hex_len, &bytes_len);
    CHECK(bytes != NULL);

    /* Decoding the bytes gives the rows. */
    weir_error *err = weir_error_new();
    weir_rows *rows = weir_rows_new();
    weir_status status = weir_rows_decode(rows, schema, bytes, bytes_len, err);
    if (status != WEIR_OK)
        fprintf(stderr, "vector %s: %s\n", name, weir_error_message(err));
    CHECK(status == WEIR_OK);
    CHECK(weir_rows_len(rows) == row_count);
    for (size_t r = 0; r < row_count && r < weir_rows_len(rows); r++) {
        weir_row row = weir_rows_get(rows, r);
        CHECK(row.len == columns);
        for (size_t c = 0; c < columns; c++) {
            bool same = values_equal(weir_row_value(&row, c), &expected[r * columns + c]);
            if (!same)
                fprintf(stderr, "vector %s: row %zu column %zu differs\n", name, r, c);
            CHECK(same);
        }
    }

    /* Encoding the rows gives exactly the bytes. */
    uint8_t *encoded;
    size_t encoded_len;
    status = weir_batch_encode(schema, expected, row_count, &encoded, &encoded_len, err);
    CHECK(status == WEIR_OK);
    CHECK(encoded_len == bytes_len && memcmp(encoded, bytes, bytes_len) == 0);

    free(encoded);
    weir_rows_free(rows);
    weir_error_free(err);
    free(bytes);
    for (size_t i = 0; i < total; i++)
        free(arenas[i]);
    free(arenas);
    free(expected);
    weir_schema_free(schema);
}

static void test_shared_vectors(const char *path) {
    size_t len;
    char *text = check_read_file(path, &len);
    weir_error *err = weir_error_new();
    weir_json *doc;
    CHECK(weir_json_parse(text, len, &doc, err) == WEIR_OK);
    const weir_json *vectors = weir_json_get(doc, "vectors");
    CHECK(vectors != NULL && weir_json_length(vectors) >= 4);
    for (size_t i = 0; vectors != NULL && i < weir_json_length(vectors); i++)
        test_vector(weir_json_at(vectors, i));
    weir_json_free(doc);
    weir_error_free(err);
    free(text);
}

/* Decodes `len` bytes as a batch of `schema` and returns the error message
 * ("" on success). */
static const char *decode_message(const weir_schema *schema, const uint8_t *data, size_t len,
                                  weir_status *status) {
    static weir_error *err;
    static weir_rows *rows;
    if (err == NULL) {
        err = weir_error_new();
        rows = weir_rows_new();
    }
    weir_error_clear(err);
    *status = weir_rows_decode(rows, schema, data, len, err);
    return weir_error_message(err);
}

static void test_malformed_batches(void) {
    weir_schema *schema = weir_schema_new();
    weir_schema_add(schema, "word", WEIR_UTF8, false);
    weir_schema_add(schema, "count", WEIR_INT64, true);
    weir_status status;

    const uint8_t short_header[] = {1, 0, 0};
    CHECK_STR(decode_message(schema, short_header, sizeof short_header, &status),
              "malformed input batch: batch shorter than its 8-byte header (byte 0)");
    CHECK(status == WEIR_ERR_INVALID_INPUT);

    const uint8_t wrong_columns[] = {0, 0, 0, 0, 3, 0, 0, 0};
    CHECK_STR(decode_message(schema, wrong_columns, sizeof wrong_columns, &status),
              "malformed input batch: batch has 3 columns, the schema has 2 (byte 4)");

    /* A row count the data cannot hold is refused before allocating. */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0};
    CHECK_CONTAINS(decode_message(schema, huge, sizeof huge, &status), "batch ends inside a value");
    CHECK(status == WEIR_ERR_INVALID_INPUT);

    const uint8_t truncated[] = {1, 0, 0, 0, 2, 0, 0, 0, 4, 5, 0, 0, 0, 'a', 'b', 0};
    CHECK_STR(decode_message(schema, truncated, sizeof truncated, &status),
              "malformed input batch: batch ends inside a value (byte 8, row 0, column 0)");

    const uint8_t unknown_tag[] = {1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0, 9, 0};
    CHECK_STR(decode_message(schema, unknown_tag, sizeof unknown_tag, &status),
              "malformed input batch: unknown value tag 9 (byte 13, row 0, column 1)");

    const uint8_t bad_utf8[] = {1, 0, 0, 0, 2, 0, 0, 0, 4, 2, 0, 0, 0, 0xc3, 0x28, 0};
    CHECK_STR(decode_message(schema, bad_utf8, sizeof bad_utf8, &status),
              "malformed input batch: utf8 value is not valid UTF-8 (byte 8, row 0, column 0)");

    const uint8_t wrong_type[] = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0};
    CHECK_STR(decode_message(schema, wrong_type, sizeof wrong_type, &status),
              "malformed input batch: row 0, column `word`: expected utf8, found null");

    const uint8_t trailing[] = {1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0, 0, 7, 7};
    CHECK_STR(decode_message(schema, trailing, sizeof trailing, &status),
              "malformed input batch: 2 bytes after the last value (byte 14)");

    weir_schema *flags = weir_schema_new();
    weir_schema_add(flags, "flag", WEIR_BOOLEAN, false);
    const uint8_t bad_bool[] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 2};
    CHECK_STR(decode_message(flags, bad_bool, sizeof bad_bool, &status),
              "malformed input batch: boolean byte 2 is neither 0 nor 1 (byte 9, row 0, column 0)");

    /* Rows without columns: the header alone. */
    weir_schema *empty = weir_schema_new();
    const uint8_t no_columns[] = {3, 0, 0, 0, 0, 0, 0, 0};
    CHECK_STR(decode_message(empty, no_columns, sizeof no_columns, &status), "");
    CHECK(status == WEIR_OK);

    weir_schema_free(empty);
    weir_schema_free(flags);
    weir_schema_free(schema);
}

static void test_getters(void) {
    weir_schema *schema = weir_schema_new();
    weir_schema_add(schema, "id", WEIR_INT64, false);
    weir_schema_add(schema, "name", WEIR_UTF8, true);
    weir_schema_add(schema, "score", WEIR_FLOAT64, true);
    weir_value values[] = {weir_value_int64(7), weir_value_null(), weir_value_float64(1.5)};
    weir_row row = weir_row_make(values, 3, schema);
    weir_error *err = weir_error_new();

    int64_t id = 0;
    CHECK(weir_row_int64(&row, 0, &id, err) == WEIR_OK && id == 7);

    weir_str name = {"untouched", 9};
    bool present = true;
    CHECK(weir_row_opt_utf8(&row, 1, &name, &present, err) == WEIR_OK);
    CHECK(!present && name.len == 9);
    CHECK(weir_row_is_null(&row, 1));
    CHECK(!weir_row_is_null(&row, 0));

    CHECK(weir_row_utf8(&row, 1, &name, err) == WEIR_ERR_INVALID_INPUT);
    CHECK_STR(weir_error_message(err), "column `name`: expected utf8, found null");
    CHECK(weir_row_bool(&row, 0, &present, err) == WEIR_ERR_INVALID_INPUT);
    CHECK_STR(weir_error_message(err), "column `id`: expected boolean, found int64");

    double score = 0;
    CHECK(weir_row_opt_float64(&row, 2, &score, &present, err) == WEIR_OK && present &&
          score == 1.5);
    CHECK(weir_row_int64(&row, 3, &id, err) == WEIR_ERR_INTERNAL);
    CHECK_CONTAINS(weir_error_message(err), "column index 3 is out of range: the input has 3 columns");
    CHECK_CONTAINS(weir_error_message(err), "`name` (utf8 or null)");
    CHECK(weir_row_value(&row, 3) == NULL);

    size_t index;
    CHECK(weir_schema_index_of(schema, "score", &index, err) == WEIR_OK && index == 2);
    CHECK(weir_schema_index_of(schema, "line", &index, err) == WEIR_ERR_INVALID_CONFIG);
    CHECK_STR(weir_error_message(err),
              "the input has no column `line`; its columns are: `id` (int64), `name` (utf8 or "
              "null), `score` (float64 or null)");
    CHECK(weir_schema_index_of_type(schema, "name", WEIR_INT64, &index, err) ==
          WEIR_ERR_INVALID_CONFIG);
    CHECK_STR(weir_error_message(err), "input column `name` is utf8, expected int64");

    weir_error_free(err);
    weir_schema_free(schema);
}

static void test_keys(void) {
    weir_schema *schema = weir_schema_new();
    weir_schema_add(schema, "word", WEIR_UTF8, false);
    weir_schema_add(schema, "n", WEIR_INT64, true);
    weir_value values[] = {weir_value_utf8("hi", 2), weir_value_null()};
    weir_row row = weir_row_make(values, 2, schema);
    weir_error *err = weir_error_new();
    weir_buffer key = {0};
    const size_t columns[] = {0, 1};
    CHECK(weir_row_key(&row, columns, 2, &key, err) == WEIR_OK);
    /* docs/row-encoding.md: the key "hi" is 04 02 00 00 00 68 69. */
    const uint8_t want[] = {4, 2, 0, 0, 0, 'h', 'i', 0};
    CHECK(key.len == sizeof want && memcmp(key.data, want, sizeof want) == 0);
    weir_slice slice = weir_buffer_slice(&key);
    CHECK(slice.len == key.len && slice.ptr == (const uint8_t *)key.data);
    const size_t bad[] = {5};
    CHECK(weir_row_key(&row, bad, 1, &key, err) == WEIR_ERR_INTERNAL);

    weir_open_context ctx = weir_open_context_make("op", schema, NULL);
    const char *key_fields[] = {"n", "word"};
    ctx.key_fields = key_fields;
    ctx.key_field_count = 2;
    size_t indexes[2];
    CHECK(weir_open_context_key_indexes(&ctx, indexes, err) == WEIR_OK);
    CHECK(indexes[0] == 1 && indexes[1] == 0);

    weir_buffer_free(&key);
    weir_error_free(err);
    weir_schema_free(schema);
}

static void test_schema_checks(void) {
    weir_schema *schema = weir_schema_new();
    CHECK(weir_schema_add(schema, "a", WEIR_INT64, false) == WEIR_OK);
    CHECK(weir_schema_add(schema, "a", WEIR_UTF8, false) == WEIR_ERR_INTERNAL);
    CHECK(weir_schema_add(schema, "", WEIR_UTF8, false) == WEIR_ERR_INTERNAL);
    CHECK(weir_schema_add(schema, "n", WEIR_NULL, false) == WEIR_ERR_INTERNAL);
    CHECK(weir_schema_len(schema) == 1);
    CHECK(weir_schema_field(schema, 1) == NULL);
    weir_schema_free(schema);
}

/* Every truncation and many single-byte corruptions of a valid batch either
 * decode or fail as invalid input; none may crash or read out of bounds
 * (the sanitizer build checks the latter). */
static void test_corrupted_batches(void) {
    weir_schema *schema = weir_schema_new();
    weir_schema_add(schema, "b", WEIR_BOOLEAN, true);
    weir_schema_add(schema, "i", WEIR_INT64, false);
    weir_schema_add(schema, "s", WEIR_UTF8, true);
    weir_schema_add(schema, "bin", WEIR_BINARY, true);
    weir_value values[] = {
        weir_value_bool(true), weir_value_int64(-3), weir_value_cstr("Zo\xc3\xab"),
        weir_value_binary("\x00\xff", 2), weir_value_null(), weir_value_int64(9),
        weir_value_null(), weir_value_null(),
    };
    uint8_t *batch;
    size_t len;
    weir_error *err = weir_error_new();
    CHECK(weir_batch_encode(schema, values, 2, &batch, &len, err) == WEIR_OK);
    weir_rows *rows = weir_rows_new();
    bool ok = true;
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly `cut` bytes, so reading past it is caught. */
        uint8_t *part = malloc(cut + 1);
        memcpy(part, batch, cut);
        ok &= weir_rows_decode(rows, schema, part, cut, err) == WEIR_ERR_INVALID_INPUT;
        free(part);
    }
    CHECK(ok);
    static const uint8_t replacements[] = {0x00, 0x01, 0x02, 0x06, 0x07, 0x7f, 0x80, 0xc3, 0xff};
    size_t decoded = 0;
    for (size_t at = 0; at < len; at++) {
        for (size_t r = 0; r < sizeof replacements; r++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, batch, len);
            copy[at] = replacements[r];
            weir_status status = weir_rows_decode(rows, schema, copy, len, err);
            ok &= status == WEIR_OK || status == WEIR_ERR_INVALID_INPUT;
            decoded += status == WEIR_OK;
            free(copy);
        }
    }
    CHECK(ok);
    CHECK(decoded > 0);
    weir_rows_free(rows);
    weir_error_free(err);
    free(batch);
    weir_schema_free(schema);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s ROW_VECTORS_JSON\n", argv[0]);
        return 2;
    }
    test_shared_vectors(argv[1]);
    test_malformed_batches();
    test_getters();
    test_keys();
    test_schema_checks();
    test_corrupted_batches();
    return check_report("rows");
}
