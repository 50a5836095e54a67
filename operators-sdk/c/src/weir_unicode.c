/* UTF-8 decoding, encoding and validation, and the two Unicode properties
 * Weir's text operators need (alphanumeric, lowercase). */
#include <string.h>

#include "weir_internal.h"
#include "weir_unicode_tables.h"

/* The length of a well-formed sequence at s[0..len), or 0 (RFC 3629: no
 * overlongs, no surrogates, nothing past U+10FFFF). */
static size_t sequence_length(const unsigned char *s, size_t len) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return len >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (len < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (len < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] > 0x8F)
            return 0; /* past U+10FFFF */
        return 4;
    }
    return 0;
}

bool weir_utf8_valid(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        /* Text is mostly ASCII: skip it eight bytes at a time. */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (word & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i == len)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = sequence_length(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

uint32_t weir_utf8_next(const char *text, size_t len, size_t *pos) {
    const unsigned char *s = (const unsigned char *)text + *pos;
    size_t n = sequence_length(s, len - *pos);
    uint32_t cp;
    switch (n) {
    case 1:
        cp = s[0];
        break;
    case 2:
        cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        break;
    case 3:
        cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        break;
    case 4:
        cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
             (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        break;
    default:
        *pos += 1;
        return 0xFFFD;
    }
    *pos += n;
    return cp;
}

size_t weir_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

bool weir_unicode_is_alphanumeric(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    size_t lo = 0, hi = sizeof weir_alnum_ranges / sizeof weir_alnum_ranges[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < weir_alnum_ranges[mid][0])
            hi = mid;
        else if (cp > weir_alnum_ranges[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

size_t weir_unicode_to_lower(uint32_t cp, uint32_t out[3]) {
    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    for (size_t i = 0; i < sizeof weir_lower_multis / sizeof weir_lower_multis[0]; i++) {
        if (weir_lower_multis[i].cp == cp) {
            memcpy(out, weir_lower_multis[i].lower, sizeof(uint32_t) * 3);
            return weir_lower_multis[i].count;
        }
    }
    /* The last run starting at or before cp. */
    size_t lo = 0, hi = sizeof weir_lower_runs / sizeof weir_lower_runs[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (weir_lower_runs[mid].start <= cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    out[0] = cp;
    if (lo > 0) {
        const struct weir_lower_run *run = &weir_lower_runs[lo - 1];
        uint32_t offset = cp - run->start;
        if (offset % run->stride == 0 && offset / run->stride < run->count)
            out[0] = (uint32_t)((int64_t)cp + run->delta);
    }
    return 1;
}

const char *weir_unicode_version(void) {
    return WEIR_UNICODE_VERSION;
}
