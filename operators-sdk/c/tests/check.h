/* A minimal test harness: CHECK records a failure and goes on, so one run
 * reports every broken expectation; main returns the failure count. */
#ifndef WEIR_CHECK_H
#define WEIR_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                              \
    do {                                                                         \
        check_count++;                                                           \
        if (!(cond)) {                                                           \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_STR(got, want)                                                     \
    do {                                                                         \
        const char *check_got_ = (got);                                          \
        const char *check_want_ = (want);                                        \
        check_count++;                                                           \
        if (check_got_ == NULL || strcmp(check_got_, check_want_) != 0) {        \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__,    \
                    __LINE__, check_want_, check_got_ ? check_got_ : "(null)");  \
        }                                                                        \
    } while (0)

/* That `text` contains `part`. */
#define CHECK_CONTAINS(text, part)                                               \
    do {                                                                         \
        const char *check_text_ = (text);                                        \
        const char *check_part_ = (part);                                        \
        check_count++;                                                           \
        if (check_text_ == NULL || strstr(check_text_, check_part_) == NULL) {   \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, \
                    __LINE__, check_text_ ? check_text_ : "(null)", check_part_); \
        }                                                                        \
    } while (0)

static inline int check_report(const char *suite) {
    if (check_failures == 0)
        printf("%s: %d checks passed\n", suite, check_count);
    else
        printf("%s: %d of %d checks FAILED\n", suite, check_failures, check_count);
    return check_failures == 0 ? 0 : 1;
}

/* Reads a whole file; exits on failure (a missing fixture is a broken test). */
static inline char *check_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 4096, n = 0;
    char *data = malloc(cap);
    size_t got;
    while (data != NULL && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
    }
    fclose(f);
    if (data == NULL) {
        fprintf(stderr, "out of memory reading %s\n", path);
        exit(2);
    }
    data[n] = '\0';
    *len = n;
    return data;
}

#endif
