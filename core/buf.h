/* Growable byte buffer for encoders and builders. */
#ifndef VGL_BUF_H
#define VGL_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vgl_buf {
    char *data;  /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t limit; /* 0 = unlimited; appends past it fail */
    bool failed;  /* sticky: an append failed (NOMEM or over limit) */
} vgl_buf;

void vgl_buf_init(vgl_buf *b, size_t limit);
void vgl_buf_free(vgl_buf *b);
void vgl_buf_reset(vgl_buf *b); /* len = 0, failed = false, memory kept */
bool vgl_buf_reserve(vgl_buf *b, size_t extra);
bool vgl_buf_append(vgl_buf *b, const void *p, size_t n);
bool vgl_buf_putc(vgl_buf *b, char c);
bool vgl_buf_puts(vgl_buf *b, const char *s);
bool vgl_buf_printf(vgl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (quotes, escapes; invalid UTF-8
 * bytes become U+FFFD). */
bool vgl_buf_json_str(vgl_buf *b, const char *s, size_t n);

#endif
