/* Bump allocator backing per-event memory (see arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_KEEP_BLOCKS 4

struct vgl_arena_block {
    vgl_arena_block *next;
    size_t size; /* usable bytes in data[] */
    size_t off;
    _Alignas(16) unsigned char data[];
};

void vgl_arena_init(vgl_arena *a, size_t block_size, size_t limit)
{
    memset(a, 0, sizeof(*a));
    a->block_size = block_size ? block_size : 8192;
    a->limit = limit;
}

void vgl_arena_free(vgl_arena *a)
{
    vgl_arena_block *b = a->first;
    while (b) {
        vgl_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->first = a->head = NULL;
    a->used = a->reserved = 0;
}

void vgl_arena_reset(vgl_arena *a)
{
    vgl_arena_block *b = a->first, *prev = NULL;
    int kept = 0;
    while (b) {
        vgl_arena_block *n = b->next;
        if (kept < ARENA_KEEP_BLOCKS && b->size == a->block_size) {
            b->off = 0;
            if (prev)
                prev->next = b;
            else
                a->first = b;
            prev = b;
            kept++;
        } else {
            a->reserved -= b->size;
            free(b);
        }
        b = n;
    }
    if (prev)
        prev->next = NULL;
    else
        a->first = NULL;
    a->head = a->first;
    a->used = 0;
}

static vgl_arena_block *new_block(vgl_arena *a, size_t need)
{
    size_t size = need > a->block_size ? need : a->block_size;
    vgl_arena_block *b = malloc(sizeof(*b) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->off = 0;
    a->reserved += size;
    return b;
}

void *vgl_arena_alloc(vgl_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - 16)
        return NULL;
    n = (n + 7) & ~(size_t)7;
    if (a->limit && a->used + n > a->limit)
        return NULL;
    vgl_arena_block *b = a->head;
    while (b && b->size - b->off < n) {
        /* A later retained block may still be empty and big enough. */
        if (!b->next)
            break;
        b = b->next;
        a->head = b;
    }
    if (!b || b->size - b->off < n) {
        vgl_arena_block *nb = new_block(a, n);
        if (!nb)
            return NULL;
        if (b) {
            nb->next = b->next;
            b->next = nb;
        } else {
            a->first = nb;
        }
        a->head = b = nb;
    }
    void *p = b->data + b->off;
    b->off += n;
    a->used += n;
    return p;
}

char *vgl_arena_strndup(vgl_arena *a, const char *s, size_t len)
{
    char *p = vgl_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
