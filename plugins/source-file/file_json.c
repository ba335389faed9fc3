/*
 * JSON line check and raw events of the file connector (file_json.h).
 */
#include "file_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ check */

typedef struct json_scan {
    const char *s;
    size_t n, i;
    char *err;
    size_t errlen;
} json_scan;

static bool fail(json_scan *j, const char *what)
{
    snprintf(j->err, j->errlen, "invalid JSON at byte %zu: %s", j->i, what);
    return false;
}

static void skip_ws(json_scan *j)
{
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
                           j->s[j->i] == '\r'))
        j->i++;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool scan_string(json_scan *j)
{
    j->i++; /* opening quote */
    while (j->i < j->n) {
        unsigned char c = (unsigned char)j->s[j->i];
        if (c == '"') {
            j->i++;
            return true;
        }
        if (c < 0x20)
            return fail(j, "control character in string");
        if (c == '\\') {
            j->i++;
            if (j->i >= j->n)
                break;
            char e = j->s[j->i];
            if (e == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (j->i + (size_t)k >= j->n || !is_hex(j->s[j->i + (size_t)k]))
                        return fail(j, "bad \\u escape");
                j->i += 5;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return fail(j, "bad escape in string");
        }
        j->i++; /* bytes that are not UTF-8 are accepted: the decoder makes them U+FFFD */
    }
    return fail(j, "unterminated string");
}

static bool scan_number(json_scan *j)
{
    const char *s = j->s;
    if (j->i < j->n && s[j->i] == '-')
        j->i++;
    if (j->i < j->n && s[j->i] == '0') {
        j->i++;
    } else if (j->i < j->n && s[j->i] >= '1' && s[j->i] <= '9') {
        while (j->i < j->n && s[j->i] >= '0' && s[j->i] <= '9')
            j->i++;
    } else {
        return fail(j, "bad number");
    }
    if (j->i < j->n && s[j->i] == '.') {
        j->i++;
        size_t start = j->i;
        while (j->i < j->n && s[j->i] >= '0' && s[j->i] <= '9')
            j->i++;
        if (j->i == start)
            return fail(j, "bad number: digit expected after '.'");
    }
    if (j->i < j->n && (s[j->i] == 'e' || s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (s[j->i] == '+' || s[j->i] == '-'))
            j->i++;
        size_t start = j->i;
        while (j->i < j->n && s[j->i] >= '0' && s[j->i] <= '9')
            j->i++;
        if (j->i == start)
            return fail(j, "bad number: digit expected in exponent");
    }
    return true;
}

static bool scan_value(json_scan *j, int depth)
{
    skip_ws(j);
    if (j->i >= j->n)
        return fail(j, "value expected");
    char c = j->s[j->i];
    if (c == '{' || c == '[') {
        if (depth >= FILE_JSON_MAX_DEPTH) {
            snprintf(j->err, j->errlen, "nesting deeper than %d at byte %zu", FILE_JSON_MAX_DEPTH,
                     j->i);
            return false;
        }
        char close = c == '{' ? '}' : ']';
        j->i++;
        skip_ws(j);
        if (j->i < j->n && j->s[j->i] == close) {
            j->i++;
            return true;
        }
        for (;;) {
            if (c == '{') {
                skip_ws(j);
                if (j->i >= j->n || j->s[j->i] != '"')
                    return fail(j, "object key (a string) expected");
                if (!scan_string(j))
                    return false;
                skip_ws(j);
                if (j->i >= j->n || j->s[j->i] != ':')
                    return fail(j, "expected ':' after object key");
                j->i++;
            }
            if (!scan_value(j, depth + 1))
                return false;
            skip_ws(j);
            if (j->i < j->n && j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            if (j->i < j->n && j->s[j->i] == close) {
                j->i++;
                return true;
            }
            return fail(j, c == '{' ? "expected ',' or '}' in object"
                                    : "expected ',' or ']' in array");
        }
    }
    if (c == '"')
        return scan_string(j);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(j);
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t wl = strlen(words[k]);
        if (j->n - j->i >= wl && memcmp(j->s + j->i, words[k], wl) == 0) {
            j->i += wl;
            return true;
        }
    }
    return fail(j, "unexpected character");
}

bool file_json_check(const char *s, size_t n, char *err, size_t errlen)
{
    json_scan j = {s, n, 0, err, errlen};
    skip_ws(&j);
    if (j.i < n && s[j.i] != '{') {
        /* say "not an object" only for what is otherwise valid JSON */
        if (!scan_value(&j, 0))
            return false;
        snprintf(err, errlen, "top-level JSON value is not an object");
        return false;
    }
    if (!scan_value(&j, 0))
        return false;
    skip_ws(&j);
    if (j.i != n)
        return fail(&j, "data after the JSON object");
    return true;
}

/* -------------------------------------------------------- raw events */

void file_buf_init(file_buf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

void file_buf_reset(file_buf *b)
{
    b->len = 0;
    b->failed = false;
}

void file_buf_free(file_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static void put(file_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n > b->cap - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->size) {
        size_t want = b->size ? b->size : 1024;
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

static void puts_(file_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static size_t utf8_seq(const unsigned char *s, size_t n)
{
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

static void put_str(file_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    put(b, "\"", 1);
    size_t run = 0;
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
                esc = "\xEF\xBF\xBD";
                seq = 1;
            }
        }
        if (esc) {
            put(b, s + run, i - run);
            puts_(b, esc);
            run = i + seq;
        }
        i += seq;
    }
    put(b, s + run, n - run);
    put(b, "\"", 1);
}

bool file_raw_event(const char *line, size_t n, const char *why, const char *path,
                    uint64_t offset, bool truncated, file_buf *b)
{
    char num[32];
    file_buf_reset(b);
    puts_(b, "{\"message\":");
    put_str(b, line, n);
    puts_(b, ",\"event\":{\"original\":");
    put_str(b, line, n);
    puts_(b, "},\"error\":{\"message\":");
    put_str(b, why, strlen(why));
    puts_(b, truncated ? "},\"tags\":[\"file_parse_error\",\"file_line_truncated\"]"
                       : "},\"tags\":[\"file_parse_error\"]");
    puts_(b, ",\"log\":{\"file\":{\"path\":");
    put_str(b, path, strlen(path));
    snprintf(num, sizeof(num), "},\"offset\":%llu}}", (unsigned long long)offset);
    puts_(b, num);
    return !b->failed;
}
