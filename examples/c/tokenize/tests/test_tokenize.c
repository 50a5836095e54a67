/*
 * Native unit tests of the tokenizer: the rule, the configuration, a batch
 * through the operator, and agreement with the example's expected counts.
 * Built and run by `make -C operators-sdk/c test`.
 */
#include "check.h"
#include "tokenize.h"

typedef struct words {
    char list[64][32];
    size_t count;
} words;

static weir_status collect(void *arg, const char *word, size_t len) {
    words *w = arg;
    if (w->count < 64 && len < 32) {
        memcpy(w->list[w->count], word, len);
        w->list[w->count][len] = '\0';
    }
    w->count++;
    return WEIR_OK;
}

/* The words of `text`, joined by '|'. */
static const char *tokenize(const char *text, bool lowercase, int64_t min_length) {
    static char joined[2048];
    words w = {.count = 0};
    tokenize_config config = {lowercase, min_length};
    weir_buffer lowered = {0};
    weir_error *err = weir_error_new();
    CHECK(tokenize_words(text, strlen(text), &config, &lowered, collect, &w, err) == WEIR_OK);
    weir_error_free(err);
    weir_buffer_free(&lowered);
    joined[0] = '\0';
    for (size_t i = 0; i < w.count && i < 64; i++) {
        if (i > 0)
            strcat(joined, "|");
        strcat(joined, w.list[i]);
    }
    return joined;
}

static void test_rule(void) {
    CHECK_STR(tokenize("The weir's 'gate', mill-race & 1890s!", true, 1),
              "the|weir's|gate|mill|race|1890s");
    CHECK_STR(tokenize(" '' -- ' ", true, 1), "");
    CHECK_STR(tokenize("A Weir on the R\xc3\xado", false, 3), "Weir|the|R\xc3\xado");
    /* Unicode letters and digits are word characters; lowercasing is
     * Unicode too, and the length counts characters, not bytes. */
    CHECK_STR(tokenize("\xc3\x89T\xc3\x89 \xd0\x9c\xd0\x98\xd0\xa0 \xe6\x97\xa5\xe6\x9c\xac", true, 1),
              "\xc3\xa9t\xc3\xa9|\xd0\xbc\xd0\xb8\xd1\x80|\xe6\x97\xa5\xe6\x9c\xac");
    CHECK_STR(tokenize("\xc3\xa9t\xc3\xa9 ab", true, 3), "\xc3\xa9t\xc3\xa9");
    /* İ lowercases to two characters: i and a combining dot. */
    CHECK_STR(tokenize("\xc4\xb0", true, 2), "i\xcc\x87");
    CHECK_STR(tokenize("\xc4\xb0", false, 2), "");
    CHECK_STR(tokenize("tab\tand\nnewline \xf0\x9f\x8c\x8a emoji", true, 1), "tab|and|newline|emoji");
}

static const char *open_message(const char *config) {
    static char message[512];
    weir_schema *schema = weir_schema_new();
    weir_schema_add(schema, "line", WEIR_UTF8, true);
    weir_open_context ctx = weir_open_context_make("tokenize", schema, config);
    weir_instance *inst = weir_instance_new(&tokenize_operator);
    weir_error *err = weir_error_new();
    weir_status status = weir_instance_open(inst, &ctx, err);
    snprintf(message, sizeof message, "%s", status == WEIR_OK ? "" : weir_error_message(err));
    weir_error_free(err);
    weir_instance_free(inst);
    weir_schema_free(schema);
    return message;
}

static void test_config(void) {
    CHECK_STR(open_message("{}"), "");
    CHECK_STR(open_message("{\"lowercase\": false, \"minLength\": 0}"), "");
    CHECK_CONTAINS(open_message("{\"lowercase\": true, \"minLen\": 2}"), "minLen");
    CHECK_STR(open_message("{\"minLength\": -1}"),
              "invalid config of operator `tokenize`: field `minLength`: -1 is out of range (0 to "
              "9223372036854775807)");
    CHECK_STR(open_message("{\"lowercase\": 1}"),
              "invalid config of operator `tokenize`: field `lowercase`: expected a boolean, found "
              "a number");
}

static void test_batch(void) {
    weir_schema *schema = weir_schema_new();
    weir_schema_add(schema, "line", WEIR_UTF8, true);
    weir_open_context ctx = weir_open_context_make("tokenize", schema, "{}");
    weir_instance *inst = weir_instance_new(&tokenize_operator);
    weir_error *err = weir_error_new();
    CHECK(weir_instance_open(inst, &ctx, err) == WEIR_OK);

    weir_value values[] = {weir_value_cstr("Water, water!"), weir_value_null(),
                           weir_value_cstr("Weir")};
    uint8_t *batch;
    size_t len;
    CHECK(weir_batch_encode(schema, values, 3, &batch, &len, err) == WEIR_OK);
    CHECK(weir_instance_process(inst, batch, len, err) == WEIR_OK);
    CHECK(weir_instance_batch_count(inst) == 1);

    weir_rows *rows = weir_rows_new();
    size_t out_len;
    const uint8_t *out = weir_instance_batch(inst, 0, &out_len);
    CHECK(weir_rows_decode(rows, weir_instance_output_schema(inst), out, out_len, err) == WEIR_OK);
    const char *want[] = {"water", "water", "weir"};
    CHECK(weir_rows_len(rows) == 3);
    for (size_t i = 0; i < weir_rows_len(rows) && i < 3; i++) {
        weir_row row = weir_rows_get(rows, i);
        weir_str word;
        CHECK(weir_row_utf8(&row, 0, &word, err) == WEIR_OK);
        CHECK(word.len == strlen(want[i]) && memcmp(word.ptr, want[i], word.len) == 0);
    }

    /* A line column of another type is refused at open. */
    weir_schema *numbers = weir_schema_new();
    weir_schema_add(numbers, "line", WEIR_INT64, false);
    weir_open_context bad = weir_open_context_make("tokenize", numbers, "{}");
    CHECK(weir_instance_open(inst, &bad, err) == WEIR_ERR_INVALID_CONFIG);
    CHECK_STR(weir_error_message(err), "input column `line` is int64, expected utf8");

    weir_schema_free(numbers);
    weir_rows_free(rows);
    free(batch);
    weir_error_free(err);
    weir_instance_free(inst);
    weir_schema_free(schema);
}

/* Counting the words of input.txt gives expected.txt: count descending,
 * then word ascending, "word\tcount" per line. */
typedef struct counter {
    char **words;
    size_t *counts;
    size_t len;
    size_t cap;
} counter;

static weir_status count_word(void *arg, const char *word, size_t len) {
    counter *c = arg;
    for (size_t i = 0; i < c->len; i++) {
        if (strlen(c->words[i]) == len && memcmp(c->words[i], word, len) == 0) {
            c->counts[i]++;
            return WEIR_OK;
        }
    }
    if (c->len == c->cap) {
        c->cap = c->cap == 0 ? 64 : c->cap * 2;
        c->words = realloc(c->words, c->cap * sizeof(char *));
        c->counts = realloc(c->counts, c->cap * sizeof(size_t));
    }
    c->words[c->len] = malloc(len + 1);
    memcpy(c->words[c->len], word, len);
    c->words[c->len][len] = '\0';
    c->counts[c->len++] = 1;
    return WEIR_OK;
}

static counter *sorting;

static int by_count_then_word(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (sorting->counts[i] != sorting->counts[j])
        return sorting->counts[i] > sorting->counts[j] ? -1 : 1;
    return strcmp(sorting->words[i], sorting->words[j]);
}

static void test_expected_counts(const char *input_path, const char *expected_path) {
    size_t input_len, expected_len;
    char *input = check_read_file(input_path, &input_len);
    char *expected = check_read_file(expected_path, &expected_len);
    counter c = {0};
    tokenize_config config = {true, 1};
    weir_buffer lowered = {0};
    weir_error *err = weir_error_new();
    for (char *line = input; *line != '\0';) {
        char *end = strchr(line, '\n');
        size_t len = end == NULL ? strlen(line) : (size_t)(end - line);
        CHECK(tokenize_words(line, len, &config, &lowered, count_word, &c, err) == WEIR_OK);
        line += len + (end != NULL);
    }
    size_t *order = malloc(c.len * sizeof(size_t));
    for (size_t i = 0; i < c.len; i++)
        order[i] = i;
    sorting = &c;
    qsort(order, c.len, sizeof(size_t), by_count_then_word);
    weir_buffer got = {0};
    for (size_t i = 0; i < c.len; i++)
        weir_buffer_printf(&got, "%s\t%zu\n", c.words[order[i]], c.counts[order[i]]);
    CHECK(got.len == expected_len && memcmp(got.data, expected, expected_len) == 0);

    weir_buffer_free(&got);
    free(order);
    for (size_t i = 0; i < c.len; i++)
        free(c.words[i]);
    free(c.words);
    free(c.counts);
    weir_buffer_free(&lowered);
    weir_error_free(err);
    free(input);
    free(expected);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT_TXT EXPECTED_TXT\n", argv[0]);
        return 2;
    }
    test_rule();
    test_config();
    test_batch();
    test_expected_counts(argv[1], argv[2]);
    return check_report("tokenize");
}
