/*
 * A bounded JSON parser for JSON text embedded in a string field (Sentinel's
 * SecurityAlert.Entities and .ExtendedProperties). It builds a small
 * read-only tree in a caller-owned buffer allocated once: no allocation
 * per parse, a fixed maximum of input bytes, values and nesting, and every
 * error names the byte where it happened.
 */
#ifndef VGL_EMBEDDED_JSON_H
#define VGL_EMBEDDED_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ej_type { EJ_NULL, EJ_BOOL, EJ_NUMBER, EJ_STRING, EJ_ARRAY, EJ_OBJECT } ej_type;

typedef struct ej_member ej_member;

/* A value. STRING: s/n (unescaped UTF-8, NUL-terminated); NUMBER: s/n is
 * the number's text; BOOL: b; ARRAY/OBJECT: n members (arrays have
 * key == NULL). */
typedef struct ej_value {
    ej_type type;
    bool b;
    uint32_t n;
    const char *s;
    ej_member *members;
} ej_value;

struct ej_member {
    const char *key; /* NULL in arrays */
    uint32_t klen;
    ej_value v;
};

typedef struct ej_parser {
    size_t max_bytes;  /* longest text accepted */
    uint32_t max_depth;
    uint32_t max_values;
    /* buffers, sized from the limits at ej_init */
    ej_member *stack;  /* children of the open containers */
    ej_member *nodes;  /* finished containers' members */
    char *text;        /* unescaped strings */
    uint32_t nstack, nnodes;
    size_t ntext;
} ej_parser;

/* Allocate the buffers for these limits; false on out of memory. */
bool ej_init(ej_parser *p, size_t max_bytes, uint32_t max_depth, uint32_t max_values);
void ej_free(ej_parser *p);

/* Parse s[0..len) into *out (valid until the next ej_parse). On error
 * fills err: "invalid JSON at byte 17: expected ',' or ']'", "nesting
 * deeper than 32 at byte 40", "more than 16384 values at byte 9000",
 * "2097152 bytes exceed the limit of 524288 bytes". */
bool ej_parse(ej_parser *p, const char *s, size_t len, ej_value *out, char *err, size_t errlen);

/* Member of an object by key, ASCII case-insensitive; NULL when absent. */
const ej_value *ej_get(const ej_value *obj, const char *key);

#endif
