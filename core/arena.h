/*
 * Bump allocator for per-event memory: every field, string and container of
 * an event comes from its arena and is released in one go by a reset. Blocks
 * are kept across resets (up to a retention cap) so a recycled event
 * allocates nothing in steady state.
 */
#ifndef VGL_ARENA_H
#define VGL_ARENA_H

#include <stddef.h>

typedef struct vgl_arena_block vgl_arena_block;

typedef struct vgl_arena {
    vgl_arena_block *head;   /* block being filled */
    vgl_arena_block *first;  /* chain of all blocks, first to last */
    size_t block_size;       /* size of a regular block */
    size_t limit;            /* bytes allowed in use, 0 = unlimited */
    size_t used;             /* bytes handed out since the last reset */
    size_t reserved;         /* bytes held in blocks */
} vgl_arena;

/* block_size 0 picks 8 KiB; limit 0 means no cap. */
void vgl_arena_init(vgl_arena *a, size_t block_size, size_t limit);
/* Free every block. The arena may be re-initialized afterwards. */
void vgl_arena_free(vgl_arena *a);
/* Drop all allocations; keep up to 4 blocks for reuse. */
void vgl_arena_reset(vgl_arena *a);

/* 8-byte aligned memory, NULL when the limit is hit or malloc fails. */
void *vgl_arena_alloc(vgl_arena *a, size_t n);
/* Copy of s[0..len) with a NUL appended. */
char *vgl_arena_strndup(vgl_arena *a, const char *s, size_t len);

#endif
