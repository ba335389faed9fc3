/*
 * Logging in logfmt to stderr: `ts=... level=info msg="..." key=value ...`.
 * One write per line, so lines from several threads never interleave.
 *
 * The format is always a literal at the call site. Its conversions follow
 * printf (%s %.*s %d %i %u %ld %lu %lld %llu %zu %zd %x %g %f %c %%), except
 * that every %s / %.*s argument is written as a logfmt value: quoted when it
 * holds a space, '=' or '"', with control characters escaped, so hostile
 * event text can neither forge fields nor break lines.
 */
#ifndef VGL_LOG_H
#define VGL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vgl_log_level {
    VGL_LOG_ERROR = 0,
    VGL_LOG_WARN = 1,
    VGL_LOG_INFO = 2,
    VGL_LOG_DEBUG = 3
} vgl_log_level;

void vgl_log_set_level(vgl_log_level lvl);
vgl_log_level vgl_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; false on other text. */
bool vgl_log_level_parse(const char *s, vgl_log_level *out);
bool vgl_log_enabled(vgl_log_level lvl);

/* Redirect output (tests): fn receives each complete line, NUL-terminated
 * without the newline. NULL restores stderr. */
typedef void (*vgl_log_sink)(const char *line, void *opaque);
void vgl_log_set_sink(vgl_log_sink fn, void *opaque);

void vgl_log(vgl_log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vgl_logv(vgl_log_level lvl, const char *msg, const char *fmt, va_list ap);

/* Append a logfmt-safe value to buf (quoted/escaped as needed); returns the
 * new length (bounded by cap - 1). */
size_t vgl_logfmt_value(char *buf, size_t len, size_t cap, const char *s, size_t n);

#define vgl_error(msg, ...) vgl_log(VGL_LOG_ERROR, msg, __VA_ARGS__)
#define vgl_warn(msg, ...) vgl_log(VGL_LOG_WARN, msg, __VA_ARGS__)
#define vgl_info(msg, ...) vgl_log(VGL_LOG_INFO, msg, __VA_ARGS__)
#define vgl_debug(msg, ...) \
    do { \
        if (vgl_log_enabled(VGL_LOG_DEBUG)) \
            vgl_log(VGL_LOG_DEBUG, msg, __VA_ARGS__); \
    } while (0)

/* Monotonic and wall clock in milliseconds / nanoseconds. */
int64_t vgl_now_ms(void);
int64_t vgl_mono_ns(void);

#endif
