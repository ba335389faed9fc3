/*
 * A small bounded JSON parser (RFC 8259) for STIX bundles: builds a tree in
 * its own arena, with limits on the input size, the nesting depth and the
 * length of one string, and errors that name "PATH:LINE:COL: ...".
 * Numbers are kept as doubles; strings are decoded to UTF-8 (\u escapes,
 * surrogate pairs) and may hold NUL bytes (use len).
 */
#ifndef VGL_PLUGIN_JSON_H
#define VGL_PLUGIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
typedef struct json_member json_member;

struct json_value {
    json_type type;
    uint32_t line;           /* 1-based line where the value starts */
    size_t n;                /* ARRAY: items, OBJECT: members, STRING: bytes */
    union {
        bool b;
        double num;
        const char *s;       /* NUL-terminated */
        json_value *items;
        json_member *members;
    } u;
};

struct json_member {
    const char *key;
    size_t klen;
    json_value v;
};

typedef struct json_limits {
    size_t max_bytes;   /* input */
    unsigned max_depth; /* nesting */
    size_t max_string;  /* bytes of one decoded string */
} json_limits;

typedef struct json_doc json_doc;

/* Parse buf[0..len) (name is used in messages). NULL with the error in err. */
json_doc *json_parse(const char *name, const char *buf, size_t len, const json_limits *lim,
                     char *err, size_t errlen);
const json_value *json_root(const json_doc *d);
void json_free(json_doc *d);

/* The member named key of an object, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
/* The string of v, or NULL when v is not a string. */
const char *json_str(const json_value *v);

#endif
