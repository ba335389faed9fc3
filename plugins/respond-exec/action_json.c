/*
 * The action a responder receives as one JSON object (see action_json.h).
 */
#include "action_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void json_buf_init(json_buf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

void json_buf_free(json_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void json_buf_put(json_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n > b->cap - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->size) {
        size_t want = b->size ? b->size : 256;
        while (want < b->len + n + 1)
            want *= 2;
        char *p = realloc(b->data, want);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->size = want;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void json_buf_puts(json_buf *b, const char *s)
{
    json_buf_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void json_buf_str(json_buf *b, const char *s, size_t n)
{
    if (!s) {
        json_buf_puts(b, "null");
        return;
    }
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    json_buf_put(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied as is */
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t seq = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7F) {
            memcpy(ubuf, "\\u00", 4);
            ubuf[4] = hex[c >> 4];
            ubuf[5] = hex[c & 15];
            ubuf[6] = '\0';
            esc = ubuf;
        } else if (c >= 0x80) {
            seq = utf8_seq(u + i, n - i);
            if (seq == 0) {
                esc = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not UTF-8 */
                seq = 1;
            }
        }
        if (esc) {
            json_buf_put(b, s + run, i - run);
            json_buf_puts(b, esc);
            run = i + seq;
        }
        i += seq;
    }
    json_buf_put(b, s + run, n - run);
    json_buf_put(b, "\"", 1);
}

void json_buf_cstr(json_buf *b, const char *s)
{
    json_buf_str(b, s, s ? strlen(s) : 0);
}

void action_time_rfc3339(long long ms, char out[32])
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int millis = (int)(ms - (long long)secs * 1000);
    struct tm tm;
    size_t n = gmtime_r(&secs, &tm) ? strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
    if (n == 0 || n > 24) { /* out of range: years past 9999 */
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out + n, 32 - n, ".%03dZ", millis % 1000);
}

char *action_json(const vgl_action_view *a, bool dry_run, size_t max_bytes, size_t *len)
{
    json_buf b;
    char t[32];
    json_buf_init(&b, max_bytes);
    json_buf_puts(&b, "{\"action_id\":");
    json_buf_cstr(&b, a->action_id ? a->action_id : "");
    json_buf_puts(&b, ",\"action\":");
    json_buf_cstr(&b, a->action ? a->action : "");
    json_buf_puts(&b, a->op == VGL_ACTION_REVERT ? ",\"op\":\"revert\"" : ",\"op\":\"apply\"");
    json_buf_puts(&b, ",\"target\":{\"type\":");
    json_buf_cstr(&b, a->target_type ? a->target_type : "");
    json_buf_puts(&b, ",\"value\":");
    json_buf_cstr(&b, a->target ? a->target : "");
    json_buf_puts(&b, "},\"incident_id\":");
    json_buf_cstr(&b, a->incident_id);
    json_buf_puts(&b, ",\"rule_id\":");
    json_buf_cstr(&b, a->rule_id);
    action_time_rfc3339(a->requested_ms, t);
    json_buf_puts(&b, ",\"requested_at\":");
    json_buf_cstr(&b, t);
    json_buf_puts(&b, ",\"expires_at\":");
    if (a->expires_ms > 0) {
        action_time_rfc3339(a->expires_ms, t);
        json_buf_cstr(&b, t);
    } else {
        json_buf_puts(&b, "null");
    }
    json_buf_puts(&b, dry_run ? ",\"dry_run\":true" : ",\"dry_run\":false");
    json_buf_puts(&b, ",\"params\":");
    const char *p = a->params_json;
    while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    json_buf_puts(&b, p && *p == '{' ? p : "{}");
    json_buf_puts(&b, "}");
    if (b.failed) {
        json_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data;
}
