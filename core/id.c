/* Deterministic 128-bit ids: two independent 64-bit mixes over the input. */
#include "id.h"

#include <string.h>

static inline uint64_t mix64(uint64_t x)
{
    /* splitmix64 finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void vgl_idhash_init(vgl_idhash *h, const char *domain)
{
    h->a = 0xcbf29ce484222325ULL;
    h->b = 0x84222325cbf29ce4ULL;
    vgl_idhash_add_str(h, domain);
}

void vgl_idhash_add(vgl_idhash *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t a = h->a, b = h->b;
    for (size_t i = 0; i < n; i++) {
        a = (a ^ s[i]) * 0x100000001b3ULL;
        b = (b + s[i] + 1) * 0x9e3779b97f4a7c15ULL;
        b ^= b >> 29;
    }
    h->a = a;
    h->b = b;
}

void vgl_idhash_add_str(vgl_idhash *h, const char *s)
{
    uint64_t n = s ? strlen(s) : UINT64_MAX;
    vgl_idhash_add_i64(h, (int64_t)n);
    if (s)
        vgl_idhash_add(h, s, (size_t)n);
}

void vgl_idhash_add_i64(vgl_idhash *h, int64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (8 * i));
    vgl_idhash_add(h, b, 8);
}

void vgl_idhash_hex(const vgl_idhash *h, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = mix64(h->a ^ mix64(h->b)), b = mix64(h->b ^ 0x5851f42d4c957f2dULL ^ h->a);
    for (int i = 0; i < 16; i++) {
        out[i] = hex[(a >> (60 - 4 * i)) & 0xf];
        out[16 + i] = hex[(b >> (60 - 4 * i)) & 0xf];
    }
    out[32] = '\0';
}
