/* What the SDK's own sources share beyond the public header. */
#ifndef WEIR_INTERNAL_H
#define WEIR_INTERNAL_H

#include "weir_operator.h"

/* Hands over the message of `err` (malloc'd, not NUL-terminated as far as
 * the caller is concerned, `*len` bytes; NULL when empty) and clears the
 * error. Used by the component glue, which passes the message to the host
 * without copying it. */
char *weir__error_take_message(weir_error *err, size_t *len);

/* Like snprintf into a fresh malloc'd string; NULL when memory runs out. */
char *weir__format(const char *fmt, ...) WEIR_PRINTF(1, 2);
char *weir__formatv(const char *fmt, va_list args);

/* A malloc'd NUL-terminated copy of `len` bytes; NULL when memory runs out. */
char *weir__strndup(const char *text, size_t len);

/* Little-endian reads and writes of the row encoding. */
static inline void weir__put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void weir__put_u64(uint8_t *p, uint64_t v) {
    weir__put_u32(p, (uint32_t)v);
    weir__put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t weir__get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t weir__get_u64(const uint8_t *p) {
    return (uint64_t)weir__get_u32(p) | (uint64_t)weir__get_u32(p + 4) << 32;
}

/* The size of the row encoding of `value` (tag included). */
size_t weir__value_size(const weir_value *value);
/* Writes the row encoding of `value` at `p`, which has room for
 * weir__value_size(value) bytes; returns the end. */
uint8_t *weir__write_value(uint8_t *p, const weir_value *value);

#endif
