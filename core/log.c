/* logfmt logging to stderr (see log.h for the escaping contract). */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static _Atomic int cur_level = VGL_LOG_INFO;
static vgl_log_sink sink_fn;
static void *sink_opaque;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void vgl_log_set_level(vgl_log_level lvl) { atomic_store(&cur_level, (int)lvl); }
vgl_log_level vgl_log_get_level(void) { return (vgl_log_level)atomic_load(&cur_level); }
bool vgl_log_enabled(vgl_log_level lvl) { return (int)lvl <= atomic_load(&cur_level); }

bool vgl_log_level_parse(const char *s, vgl_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (vgl_log_level)i;
            return true;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = VGL_LOG_WARN;
        return true;
    }
    return false;
}

void vgl_log_set_sink(vgl_log_sink fn, void *opaque)
{
    sink_fn = fn;
    sink_opaque = opaque;
}

int64_t vgl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vgl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t put(char *buf, size_t len, size_t cap, const char *s, size_t n)
{
    if (len + 1 >= cap)
        return len;
    if (n > cap - 1 - len)
        n = cap - 1 - len;
    memcpy(buf + len, s, n);
    return len + n;
}

size_t vgl_logfmt_value(char *buf, size_t len, size_t cap, const char *s, size_t n)
{
    if (!s) {
        s = "(null)";
        n = 6;
    }
    bool quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            quote = true;
    }
    if (!quote)
        return put(buf, len, cap, s, n);
    len = put(buf, len, cap, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            len = put(buf, len, cap, esc, 2);
        } else if (c == '\n') {
            len = put(buf, len, cap, "\\n", 2);
        } else if (c == '\t') {
            len = put(buf, len, cap, "\\t", 2);
        } else if (c == '\r') {
            len = put(buf, len, cap, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            len = put(buf, len, cap, esc, 4);
        } else {
            len = put(buf, len, cap, (const char *)&s[i], 1);
        }
    }
    return put(buf, len, cap, "\"", 1);
}

/* printf-like formatting where %s arguments become logfmt values */
static size_t format_kv(char *buf, size_t len, size_t cap, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            len = put(buf, len, cap, p, 1);
            continue;
        }
        const char *start = p++;
        if (*p == '%') {
            len = put(buf, len, cap, "%", 1);
            continue;
        }
        if (p[0] == '.' && p[1] == '*' && p[2] == 's') {
            int n = va_arg(ap, int);
            const char *s = va_arg(ap, const char *);
            len = vgl_logfmt_value(buf, len, cap, s, n < 0 ? 0 : (size_t)n);
            p += 2;
            continue;
        }
        if (*p == 's') {
            const char *s = va_arg(ap, const char *);
            len = vgl_logfmt_value(buf, len, cap, s, s ? strlen(s) : 0);
            continue;
        }
        /* numeric conversions: copy the spec and hand it to snprintf */
        char spec[16], out[64];
        size_t sl = 0;
        spec[sl++] = '%';
        while (*p && strchr("0123456789.-+ #", *p) && sl < 8)
            spec[sl++] = *p++;
        int lmod = 0; /* 0 none, 1 l, 2 ll, 3 z */
        if (*p == 'l') {
            spec[sl++] = *p++;
            lmod = 1;
            if (*p == 'l') {
                spec[sl++] = *p++;
                lmod = 2;
            }
        } else if (*p == 'z') {
            spec[sl++] = *p++;
            lmod = 3;
        }
        char conv = *p;
        if (!conv)
            break;
        spec[sl++] = conv;
        spec[sl] = '\0';
        int n = 0;
        switch (conv) {
        case 'd': case 'i':
            if (lmod == 2) n = snprintf(out, sizeof(out), spec, va_arg(ap, long long));
            else if (lmod == 1) n = snprintf(out, sizeof(out), spec, va_arg(ap, long));
            else if (lmod == 3) n = snprintf(out, sizeof(out), spec, va_arg(ap, ssize_t));
            else n = snprintf(out, sizeof(out), spec, va_arg(ap, int));
            break;
        case 'u': case 'x': case 'X':
            if (lmod == 2) n = snprintf(out, sizeof(out), spec, va_arg(ap, unsigned long long));
            else if (lmod == 1) n = snprintf(out, sizeof(out), spec, va_arg(ap, unsigned long));
            else if (lmod == 3) n = snprintf(out, sizeof(out), spec, va_arg(ap, size_t));
            else n = snprintf(out, sizeof(out), spec, va_arg(ap, unsigned));
            break;
        case 'f': case 'g': case 'e':
            n = snprintf(out, sizeof(out), spec, va_arg(ap, double));
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            len = vgl_logfmt_value(buf, len, cap, &c, 1);
            continue;
        }
        case 'p':
            n = snprintf(out, sizeof(out), "%p", va_arg(ap, void *));
            break;
        default:
            /* unknown conversion: print it literally */
            len = put(buf, len, cap, start, (size_t)(p - start + 1));
            continue;
        }
        if (n > 0)
            len = put(buf, len, cap, out, (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1);
    }
    return len;
}

void vgl_logv(vgl_log_level lvl, const char *msg, const char *fmt, va_list ap)
{
    if (!vgl_log_enabled(lvl))
        return;
    char line[LINE_MAX_BYTES];
    size_t len = 0;
    char ts[96];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(now.tv_nsec / 1000000));
    len = put(line, len, sizeof(line), "ts=", 3);
    len = put(line, len, sizeof(line), ts, strlen(ts));
    len = put(line, len, sizeof(line), " level=", 7);
    len = put(line, len, sizeof(line), level_names[lvl], strlen(level_names[lvl]));
    len = put(line, len, sizeof(line), " msg=", 5);
    len = vgl_logfmt_value(line, len, sizeof(line), msg, strlen(msg));
    if (fmt && *fmt) {
        len = put(line, len, sizeof(line), " ", 1);
        len = format_kv(line, len, sizeof(line), fmt, ap);
    }
    line[len] = '\0';
    if (sink_fn) {
        sink_fn(line, sink_opaque);
        return;
    }
    line[len] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len + 1);
    (void)w;
}

void vgl_log(vgl_log_level lvl, const char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vgl_logv(lvl, msg, fmt, ap);
    va_end(ap);
}
