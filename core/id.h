/*
 * Deterministic record ids (alerts, incidents, actions): a 128-bit hash of
 * the identifying parts, printed as 32 hex digits. The same inputs give the
 * same id in every process and on every replay, so consumers can
 * deduplicate and compacted topics keep one record per id.
 */
#ifndef VGL_ID_H
#define VGL_ID_H

#include <stddef.h>
#include <stdint.h>

typedef struct vgl_idhash {
    uint64_t a, b;
} vgl_idhash;

void vgl_idhash_init(vgl_idhash *h, const char *domain);
void vgl_idhash_add(vgl_idhash *h, const void *p, size_t n);
void vgl_idhash_add_str(vgl_idhash *h, const char *s); /* length-prefixed; NULL ok */
void vgl_idhash_add_i64(vgl_idhash *h, int64_t v);
void vgl_idhash_hex(const vgl_idhash *h, char out[33]);

#endif
