/*
 * ECS normalization helpers shared by source-winevent and source-defender:
 * account, host and address keys, number and path parsing, time text.
 * ASCII-only case folding on purpose: locale-independent, and bytes >= 0x80
 * (UTF-8 of non-ASCII names) are kept as they are.
 */
#include "ecs_norm.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void trim(const char **s, size_t *len)
{
    while (*len && is_blank(**s))
        (*s)++, (*len)--;
    while (*len && is_blank((*s)[*len - 1]))
        (*len)--;
}

size_t ecs_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* back off over continuation bytes (10xxxxxx) to a lead byte */
    size_t back = 0;
    while (n > 0 && back < 4 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--, back++;
    return n;
}

bool ecs_useful(const char *s, size_t len)
{
    if (!s)
        return false;
    trim(&s, &len);
    return len > 0 && !(len == 1 && s[0] == '-');
}

bool ecs_ieq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (n != len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lower(lit[i]))
            return false;
    return true;
}

bool ecs_icontains(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= len; i++) {
        size_t k = 0;
        while (k < n && lower(s[i + k]) == lower(lit[k]))
            k++;
        if (k == n)
            return true;
    }
    return false;
}

bool ecs_split_account(const char *s, size_t len, const char **dom, size_t *domlen,
                       const char **user, size_t *userlen)
{
    const char *bs = memchr(s, '\\', len);
    if (!bs)
        return false;
    size_t dl = (size_t)(bs - s);
    size_t ul = len - dl - 1;
    if (dl == 0 || ul == 0)
        return false;
    *dom = s;
    *domlen = dl;
    *user = bs + 1;
    *userlen = ul;
    return true;
}

size_t ecs_user_key(const char *s, size_t len, char *out, size_t outlen)
{
    if (!s || outlen == 0)
        return 0;
    trim(&s, &len);
    const char *bs = len ? memrchr(s, '\\', len) : NULL;
    if (bs) {
        len -= (size_t)(bs + 1 - s);
        s = bs + 1;
    }
    const char *at = len ? memchr(s, '@', len) : NULL;
    if (at)
        len = (size_t)(at - s);
    if (!ecs_useful(s, len) || len >= outlen || len > ECS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        out[i] = lower(s[i]);
    out[len] = '\0';
    return len;
}

size_t ecs_host_key(const char *s, size_t len, char *out, size_t outlen)
{
    if (!s || outlen == 0)
        return 0;
    trim(&s, &len);
    if (!ecs_useful(s, len) || len > ECS_NAME_MAX)
        return 0;
    char ip[ECS_IP_MAX];
    size_t n = ecs_ip_norm(s, len, ip, sizeof(ip));
    if (n) {
        if (n >= outlen)
            return 0;
        for (size_t i = 0; i <= n; i++)
            out[i] = lower(ip[i]);
        return n;
    }
    const char *dot = memchr(s, '.', len);
    if (dot)
        len = (size_t)(dot - s);
    if (len == 0 || len >= outlen)
        return 0;
    for (size_t i = 0; i < len; i++)
        out[i] = lower(s[i]);
    out[len] = '\0';
    return len;
}

size_t ecs_ip_norm(const char *s, size_t len, char *out, size_t outlen)
{
    if (!s)
        return 0;
    trim(&s, &len);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
        s++, len -= 2;
    if (len >= 7 && ecs_ieq(s, 7, "::ffff:") && memchr(s + 7, '.', len - 7))
        s += 7, len -= 7;
    char tmp[ECS_IP_MAX];
    if (len == 0 || len >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    unsigned char bin[16];
    int af = memchr(tmp, ':', len) ? AF_INET6 : AF_INET;
    if (inet_pton(af, tmp, bin) != 1)
        return 0;
    /* canonical form: lower-case, compressed IPv6 */
    if (!inet_ntop(af, bin, out, (socklen_t)outlen))
        return 0;
    return strlen(out);
}

bool ecs_ip_placeholder(const char *ip)
{
    return strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0 ||
           strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0;
}

bool ecs_parse_uint(const char *s, size_t len, uint64_t *out)
{
    if (!s)
        return false;
    trim(&s, &len);
    /* "680.0": a number that went through a CSV export as a float */
    if (len > 2 && s[len - 2] == '.' && s[len - 1] == '0')
        len -= 2;
    if (len == 0)
        return false;
    uint64_t v = 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        if (len - 2 > 16)
            return false;
        for (size_t i = 2; i < len; i++) {
            char c = lower(s[i]);
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v << 4 | (uint64_t)d;
        }
    } else {
        if (len > 19)
            return false;
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
    }
    *out = v;
    return true;
}

const char *ecs_basename(const char *s, size_t len, size_t *outlen)
{
    size_t i = len;
    while (i > 0 && s[i - 1] != '\\' && s[i - 1] != '/')
        i--;
    *outlen = len - i;
    return s + i;
}

int ecs_severity(const char *s, size_t len)
{
    if (!s)
        return 0;
    trim(&s, &len);
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    for (int i = 0; i < 5; i++)
        if (ecs_ieq(s, len, names[i]))
            return i + 1;
    if (ecs_ieq(s, len, "info"))
        return 1;
    return 0;
}

size_t ecs_format_time(int64_t ms, char *buf, size_t buflen)
{
    /* years 0000..9999 only: RFC 3339 has four year digits */
    if (ms < -62135596800000LL || ms > 253402300799999LL)
        return 0;
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    int n = snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
    return n < 0 || (size_t)n >= buflen ? 0 : (size_t)n;
}

bool ecs_find_technique(const char *s, size_t len, const char **id, size_t *idlen)
{
    for (size_t i = 0; i + 5 <= len; i++) {
        if (s[i] != 'T' || (i > 0 && is_alnum(s[i - 1])))
            continue;
        size_t k = i + 1;
        while (k < len && k - i <= 4 && s[k] >= '0' && s[k] <= '9')
            k++;
        if (k - i != 5)
            continue;
        if (k + 4 <= len && s[k] == '.' && s[k + 1] >= '0' && s[k + 1] <= '9' &&
            s[k + 2] >= '0' && s[k + 2] <= '9' && s[k + 3] >= '0' && s[k + 3] <= '9')
            k += 4;
        if (k < len && is_alnum(s[k]))
            continue;
        *id = s + i;
        *idlen = k - i;
        return true;
    }
    return false;
}
