/* The JSON parser and the configuration reader, malformed input included. */
#include <float.h>
#include <math.h>

#include "check.h"
#include "weir_operator.h"

static weir_error *err;

/* Parses `text`; returns the error message, or "" when it parsed. */
static const char *parse_message(const char *text) {
    weir_json *root = NULL;
    weir_error_clear(err);
    weir_status status = weir_json_parse(text, strlen(text), &root, err);
    weir_json_free(root);
    if (status == WEIR_OK)
        return "";
    CHECK(status == WEIR_ERR_INVALID_INPUT);
    CHECK(root == NULL);
    return weir_error_message(err);
}

static void test_accepts(void) {
    const char *valid[] = {
        "{}", "[]", " \t\r\n{ } ", "0", "-0", "1.5e-3", "-12.25E+2", "true", "false", "null",
        "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\ud83c\\udf0a\"",
        "[1, [2, [3, {\"a\": [null]}]]]", "{\"a\": 1, \"a\": 2}", "\"Zo\xc3\xab\"",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const char *message = parse_message(valid[i]);
        if (message[0] != '\0')
            fprintf(stderr, "rejected %s: %s\n", valid[i], message);
        CHECK(message[0] == '\0');
    }
}

static void test_rejects(void) {
    struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"", "malformed JSON at line 1, column 1: expected a value, found the end of the text"},
        {"{", "malformed JSON at line 1, column 2: expected a string key"},
        {"{\"a\" 1}", "malformed JSON at line 1, column 6: expected ':' after a key"},
        {"{\"a\": 1,}", "malformed JSON at line 1, column 9: expected a string key"},
        {"{\"a\": 1", "malformed JSON at line 1, column 1: unterminated object"},
        {"[1 2]", "malformed JSON at line 1, column 4: expected ',' or ']'"},
        {"[1,]", "malformed JSON at line 1, column 4: expected a value"},
        {"{'a': 1}", "malformed JSON at line 1, column 2: expected a string key"},
        {"{\"a\": tru}", "malformed JSON at line 1, column 7: expected a value"},
        {"{\"a\":\n  01}", "malformed JSON at line 2, column 3: invalid number (leading zero)"},
        {"1.", "malformed JSON at line 1, column 1: invalid number (no digit after the decimal point)"},
        {"1e", "malformed JSON at line 1, column 1: invalid number (no digit in the exponent)"},
        {"-", "malformed JSON at line 1, column 1: invalid number"},
        {"+1", "malformed JSON at line 1, column 1: expected a value"},
        {".5", "malformed JSON at line 1, column 1: expected a value"},
        {"NaN", "malformed JSON at line 1, column 1: expected a value"},
        {"1e999", "malformed JSON at line 1, column 1: number out of range"},
        {"{} {}", "malformed JSON at line 1, column 4: trailing characters after the value"},
        {"\"abc", "malformed JSON at line 1, column 1: unterminated string"},
        {"\"a\tb\"", "malformed JSON at line 1, column 3: control character in a string (escape it)"},
        {"\"\\x\"", "malformed JSON at line 1, column 2: invalid escape in a string"},
        {"\"\\u12g4\"", "malformed JSON at line 1, column 2: \\u must be followed by 4 hex digits"},
        {"\"\\ud800\"", "malformed JSON at line 1, column 2: unpaired high surrogate in a \\u escape"},
        {"\"\\udc00\"", "malformed JSON at line 1, column 2: unpaired low surrogate in a \\u escape"},
        {"\"\xc3\x28\"", "malformed JSON: not valid UTF-8"},
        {"// comment\n{}", "malformed JSON at line 1, column 1: expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_STR(parse_message(cases[i].text), cases[i].message);

    /* Nesting is bounded: 64 levels parse, 65 do not. */
    char deep[2 * (WEIR_JSON_MAX_DEPTH + 1) + 1];
    for (int depth = WEIR_JSON_MAX_DEPTH; depth <= WEIR_JSON_MAX_DEPTH + 1; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        deep[2 * depth] = '\0';
        const char *message = parse_message(deep);
        if (depth == WEIR_JSON_MAX_DEPTH)
            CHECK_STR(message, "");
        else
            CHECK_CONTAINS(message, "nested deeper than 64 levels");
    }
}

static void test_tree(void) {
    const char *text = "{\"s\": \"a\\u0000b\\n\\u00e9\\ud83c\\udf0a\", \"i\": -9223372036854775808,"
                       " \"big\": 9223372036854775808, \"f\": 2.5, \"e\": 1e2, \"b\": true,"
                       " \"n\": null, \"list\": [1, \"x\", {}], \"s\": \"second\"}";
    weir_json *root;
    CHECK(weir_json_parse(text, strlen(text), &root, err) == WEIR_OK);
    CHECK(weir_json_type_of(root) == WEIR_JSON_OBJECT);
    CHECK(weir_json_length(root) == 9);

    size_t len;
    const char *s = weir_json_string(weir_json_get(root, "s"), &len);
    /* The first of two members with one name wins. */
    CHECK(len == 10 && memcmp(s, "a\0b\n\xc3\xa9\xf0\x9f\x8c\x8a", 10) == 0);

    int64_t i;
    CHECK(weir_json_int64(weir_json_get(root, "i"), &i) && i == INT64_MIN);
    CHECK(!weir_json_int64(weir_json_get(root, "big"), &i));
    CHECK(weir_json_number(weir_json_get(root, "big")) == 9223372036854775808.0);
    CHECK(!weir_json_int64(weir_json_get(root, "f"), &i));
    CHECK(weir_json_number(weir_json_get(root, "f")) == 2.5);
    CHECK(!weir_json_int64(weir_json_get(root, "e"), &i));
    CHECK(weir_json_number(weir_json_get(root, "e")) == 100.0);
    CHECK(weir_json_bool(weir_json_get(root, "b")));
    CHECK(weir_json_type_of(weir_json_get(root, "n")) == WEIR_JSON_NULL);
    CHECK(weir_json_get(root, "missing") == NULL);

    const weir_json *list = weir_json_get(root, "list");
    CHECK(weir_json_type_of(list) == WEIR_JSON_ARRAY && weir_json_length(list) == 3);
    CHECK(weir_json_int64(weir_json_at(list, 0), &i) && i == 1);
    CHECK_STR(weir_json_string(weir_json_at(list, 1), NULL), "x");
    CHECK(weir_json_type_of(weir_json_at(list, 2)) == WEIR_JSON_OBJECT);
    CHECK(weir_json_at(list, 3) == NULL);
    CHECK_STR(weir_json_key_at(root, 7, &len), "list");
    CHECK(weir_json_key_at(root, 9, &len) == NULL);
    weir_json_free(root);
}

typedef struct config {
    bool lowercase;
    int64_t min_length;
    double min_score;
    char *prefix;
    int64_t fail_on_id;
    bool has_fail_on_id;
} config;

/* Reads `json` into a config with defaults; returns the error message or "". */
static const char *read_config(const char *json, config *c) {
    weir_schema *schema = weir_schema_new();
    weir_open_context ctx = weir_open_context_make("op", schema, json);
    c->lowercase = true;
    c->min_length = 1;
    c->min_score = 50;
    c->prefix = NULL;
    c->fail_on_id = 0;
    c->has_fail_on_id = false;
    const weir_config_field fields[] = {
        WEIR_CONFIG_BOOL("lowercase", &c->lowercase),
        WEIR_CONFIG_INT_RANGE("minLength", &c->min_length, 0, 1000),
        WEIR_CONFIG_NUMBER("minScore", &c->min_score),
        WEIR_CONFIG_STRING("prefix", &c->prefix),
        WEIR_CONFIG_INT_OPT("failOnId", &c->fail_on_id, &c->has_fail_on_id),
    };
    weir_error_clear(err);
    weir_status status = weir_config_read(&ctx, fields, WEIR_COUNT(fields), err);
    weir_schema_free(schema);
    if (status == WEIR_OK)
        return "";
    CHECK(status == WEIR_ERR_INVALID_CONFIG);
    CHECK(c->prefix == NULL);
    return weir_error_message(err);
}

static void test_config(void) {
    config c;
    CHECK_STR(read_config("{}", &c), "");
    CHECK(c.lowercase && c.min_length == 1 && c.min_score == 50 && c.prefix == NULL &&
          !c.has_fail_on_id);
    CHECK_STR(read_config("  \n", &c), "");

    CHECK_STR(read_config("{\"lowercase\": false, \"minLength\": 3, \"minScore\": 1.5e1,"
                          " \"prefix\": \"t:\", \"failOnId\": -4}",
                          &c),
              "");
    CHECK(!c.lowercase && c.min_length == 3 && c.min_score == 15 && c.has_fail_on_id &&
          c.fail_on_id == -4);
    CHECK_STR(c.prefix, "t:");
    free(c.prefix);

    /* An integer is a number too. */
    CHECK_STR(read_config("{\"minScore\": 7}", &c), "");
    CHECK(c.min_score == 7);

    /* Null means absent for optional fields only. */
    CHECK_STR(read_config("{\"failOnId\": null}", &c), "");
    CHECK(!c.has_fail_on_id);
    CHECK_STR(read_config("{\"lowercase\": null}", &c),
              "invalid config of operator `op`: field `lowercase`: expected a boolean, found null");

    CHECK_STR(read_config("{\"minLen\": 2}", &c),
              "invalid config of operator `op`: unknown field `minLen`; the known fields are "
              "`lowercase`, `minLength`, `minScore`, `prefix` and `failOnId`");
    CHECK_STR(read_config("{\"prefix\": \"a\", \"prefix\": \"b\"}", &c),
              "invalid config of operator `op`: duplicate field `prefix`");
    CHECK_STR(read_config("{\"lowercase\": \"yes\"}", &c),
              "invalid config of operator `op`: field `lowercase`: expected a boolean, found a "
              "string");
    CHECK_STR(read_config("{\"minScore\": \"50\"}", &c),
              "invalid config of operator `op`: field `minScore`: expected a number, found a "
              "string");
    CHECK_STR(read_config("{\"prefix\": 1}", &c),
              "invalid config of operator `op`: field `prefix`: expected a string, found a number");
    CHECK_STR(read_config("{\"minLength\": 2.5}", &c),
              "invalid config of operator `op`: field `minLength`: expected an integer, found a "
              "number with a fraction or an exponent (2.5)");
    CHECK_STR(read_config("{\"minLength\": -1}", &c),
              "invalid config of operator `op`: field `minLength`: -1 is out of range (0 to 1000)");
    CHECK_STR(read_config("{\"failOnId\": 99999999999999999999}", &c),
              "invalid config of operator `op`: field `failOnId`: 1e+20 is out of range "
              "(-9223372036854775808 to 9223372036854775807)");
    CHECK_STR(read_config("{\"prefix\": \"a\\u0000b\"}", &c),
              "invalid config of operator `op`: field `prefix`: the string contains a NUL "
              "character");
    CHECK_STR(read_config("[]", &c),
              "invalid config of operator `op`: expected a JSON object, found an array");
    CHECK_STR(read_config("{\"lowercase\": true", &c),
              "invalid config of operator `op`: malformed JSON at line 1, column 1: unterminated "
              "object");

    /* A failure after a string field leaves no string behind (ASan checks
     * the leak) and no target changed. */
    CHECK_STR(read_config("{\"prefix\": \"kept?\", \"lowercase\": 0}", &c),
              "invalid config of operator `op`: field `lowercase`: expected a boolean, found a "
              "number");
    CHECK(c.lowercase);
}

static void test_buffer(void) {
    weir_buffer buf = {0};
    for (int i = 0; i < 1000; i++)
        CHECK(weir_buffer_printf(&buf, "%d,", i) == WEIR_OK);
    CHECK(buf.len == 3890);
    CHECK(strncmp(buf.data, "0,1,2,", 6) == 0);
    CHECK(strcmp(weir_buffer_cstr(&buf) + buf.len - 4, "999,") == 0);
    weir_buffer_clear(&buf);
    CHECK(weir_buffer_append(&buf, "ab", 2) == WEIR_OK && buf.len == 2);
    weir_buffer_free(&buf);
    CHECK(buf.data == NULL && buf.len == 0 && buf.cap == 0);
}

static void test_errors(void) {
    weir_error *e = weir_error_new();
    CHECK(weir_error_kind(e) == WEIR_OK);
    CHECK_STR(weir_error_message(e), "");
    CHECK(weir_error_set(e, WEIR_ERR_INVALID_INPUT, "bad %s %d", "id", 7) == WEIR_ERR_INVALID_INPUT);
    CHECK_STR(weir_error_message(e), "bad id 7");
    CHECK(weir_error_prefix(e, "record %d", 3) == WEIR_ERR_INVALID_INPUT);
    CHECK_STR(weir_error_message(e), "record 3: bad id 7");
    CHECK(weir_error_set(NULL, WEIR_ERR_HOST, "dropped") == WEIR_ERR_HOST);
    CHECK_STR(weir_status_name(WEIR_ERR_INVALID_CONFIG), "invalid-config");
    CHECK_STR(weir_status_name(WEIR_ERR_INTERNAL), "internal");
    weir_error_free(e);
}

/* Every prefix and many single-byte corruptions of a valid document parse
 * or fail as invalid input; none may crash or read out of bounds. */
static void test_corrupted_json(void) {
    const char *doc = "{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\n\"], \"b\": {\"c\": \"Zo\xc3\xab\"}}";
    size_t len = strlen(doc);
    static const char replacements[] = {'\0', '"', '\\', '{', '}', '[', ']', ',', ':', '0', 'e', '-',
                                        'u', ' ', '\x80', '\xc3'};
    bool ok = true;
    weir_json *root;
    for (size_t cut = 0; cut <= len; cut++) {
        char *part = malloc(cut + 1);
        memcpy(part, doc, cut);
        weir_status status = weir_json_parse(part, cut, &root, err);
        ok &= (status == WEIR_OK) == (cut == len) && (status == WEIR_OK || status == WEIR_ERR_INVALID_INPUT);
        weir_json_free(root);
        free(part);
    }
    CHECK(ok);
    for (size_t at = 0; at < len; at++) {
        for (size_t r = 0; r < sizeof replacements; r++) {
            char *copy = malloc(len);
            memcpy(copy, doc, len);
            copy[at] = replacements[r];
            weir_status status = weir_json_parse(copy, len, &root, err);
            ok &= status == WEIR_OK || status == WEIR_ERR_INVALID_INPUT;
            weir_json_free(root);
            free(copy);
        }
    }
    CHECK(ok);
}

int main(void) {
    err = weir_error_new();
    test_accepts();
    test_rejects();
    test_tree();
    test_config();
    test_buffer();
    test_errors();
    test_corrupted_json();
    weir_error_free(err);
    return check_report("json");
}
