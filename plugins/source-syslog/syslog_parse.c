/*
 * Syslog parsing (RFC 5424, RFC 3164) and the JSON event of a message.
 * Every length is bounded by the input; nothing is read past data + len.
 */
#include "syslog_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ helpers */

typedef struct cursor {
    const char *p, *end;
} cursor;

static bool at_end(const cursor *c)
{
    return c->p >= c->end;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Exactly n digits at c as a number; false (cursor unchanged) otherwise. */
static bool take_digits(cursor *c, int n, int *out)
{
    if (c->end - c->p < n)
        return false;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(c->p[i]))
            return false;
        v = v * 10 + (c->p[i] - '0');
    }
    c->p += n;
    *out = v;
    return true;
}

static bool take_char(cursor *c, char ch)
{
    if (at_end(c) || *c->p != ch)
        return false;
    c->p++;
    return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no libc state. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool valid_date(int y, int mo, int d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(mo == 2 && d == 29 && !leap);
}

/* RFC 3339 as RFC 5424 restricts it: YYYY-MM-DDThh:mm:ss[.1-6 digits](Z|+hh:mm). */
static bool parse_rfc3339(cursor *c, int64_t *ms)
{
    cursor s = *c;
    int y, mo, d, h, mi, sec;
    if (!take_digits(&s, 4, &y) || !take_char(&s, '-') || !take_digits(&s, 2, &mo) ||
        !take_char(&s, '-') || !take_digits(&s, 2, &d) || !take_char(&s, 'T') ||
        !take_digits(&s, 2, &h) || !take_char(&s, ':') || !take_digits(&s, 2, &mi) ||
        !take_char(&s, ':') || !take_digits(&s, 2, &sec))
        return false;
    if (!valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 60)
        return false;
    int frac_ms = 0;
    if (take_char(&s, '.')) {
        int nd = 0;
        while (!at_end(&s) && is_digit(*s.p) && nd < 6) {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*s.p - '0');
            s.p++;
            nd++;
        }
        if (nd == 0 || (!at_end(&s) && is_digit(*s.p)))
            return false;
        for (int i = nd; i < 3; i++)
            frac_ms *= 10;
    }
    int offset_min = 0;
    if (take_char(&s, 'Z')) {
        /* UTC */
    } else if (!at_end(&s) && (*s.p == '+' || *s.p == '-')) {
        int sign = *s.p == '-' ? -1 : 1, oh, om;
        s.p++;
        if (!take_digits(&s, 2, &oh) || !take_char(&s, ':') || !take_digits(&s, 2, &om) ||
            oh > 23 || om > 59)
            return false;
        offset_min = sign * (oh * 60 + om);
    } else {
        return false;
    }
    if (sec == 60)
        sec = 59; /* a leap second: keep it inside the minute */
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    *ms = t * 1000 + frac_ms;
    *c = s;
    return true;
}

/* "Mmm dd hh:mm:ss" (dd space- or zero-padded), year and zone from now_ms. */
static bool parse_rfc3164_time(cursor *c, int64_t now_ms, int64_t *ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    cursor s = *c;
    if (s.end - s.p < 15)
        return false;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s.p, months + i * 3, 3) == 0)
            mo = i + 1;
    if (mo == 0 || s.p[3] != ' ')
        return false;
    s.p += 4;
    int d, h, mi, sec;
    if (*s.p == ' ') {
        s.p++;
        if (!take_digits(&s, 1, &d))
            return false;
    } else if (!take_digits(&s, 2, &d)) {
        return false;
    }
    if (!take_char(&s, ' ') || !take_digits(&s, 2, &h) || !take_char(&s, ':') ||
        !take_digits(&s, 2, &mi) || !take_char(&s, ':') || !take_digits(&s, 2, &sec))
        return false;
    if (h > 23 || mi > 59 || sec > 60)
        return false;
    if (sec == 60)
        sec = 59;
    time_t now = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&now, &tm))
        return false;
    int year = tm.tm_year + 1900;
    /* the year that does not put the time more than a day after now */
    for (int y = year + 1; y >= year - 1; y--) {
        if (!valid_date(y, mo, d))
            continue;
        int64_t t = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000;
        if (t <= now_ms + 86400000) {
            *ms = t;
            *c = s;
            return true;
        }
    }
    return false; /* Feb 29 outside a leap year */
}

/* A header field of RFC 5424: 1..max printable US-ASCII bytes, "-" = nil. */
static bool take_field(cursor *c, size_t max, syslog_slice *out)
{
    const char *start = c->p;
    while (!at_end(c) && *c->p >= 33 && *c->p <= 126)
        c->p++;
    size_t n = (size_t)(c->p - start);
    if (n == 0 || n > max)
        return false;
    if (n == 1 && *start == '-')
        *out = (syslog_slice){NULL, 0};
    else
        *out = (syslog_slice){start, n};
    return true;
}

/* An SD-NAME: 1..32 printable bytes except '=', SP, ']', '"'. */
static bool take_sd_name(cursor *c, syslog_slice *out)
{
    const char *start = c->p;
    while (!at_end(c) && *c->p >= 33 && *c->p <= 126 && *c->p != '=' && *c->p != ']' &&
           *c->p != '"')
        c->p++;
    size_t n = (size_t)(c->p - start);
    if (n == 0 || n > 32)
        return false;
    *out = (syslog_slice){start, n};
    return true;
}

static bool parse_sd(cursor *c, syslog_msg *m, char *err, size_t errlen)
{
    if (take_char(c, '-'))
        return true;
    if (at_end(c) || *c->p != '[') {
        snprintf(err, errlen, "RFC 5424: STRUCTURED-DATA must be - or start with [");
        return false;
    }
    while (!at_end(c) && *c->p == '[') {
        c->p++;
        syslog_slice id;
        if (!take_sd_name(c, &id)) {
            snprintf(err, errlen, "RFC 5424: bad SD-ID in STRUCTURED-DATA");
            return false;
        }
        while (take_char(c, ' ')) {
            syslog_slice name;
            if (!take_sd_name(c, &name) || !take_char(c, '=') || !take_char(c, '"')) {
                snprintf(err, errlen, "RFC 5424: bad SD-PARAM in [%.*s]", (int)(id.n > 32 ? 32 : id.n),
                         id.p);
                return false;
            }
            const char *vstart = c->p;
            while (!at_end(c) && *c->p != '"') {
                if (*c->p == '\\' && c->end - c->p >= 2)
                    c->p++;
                c->p++;
            }
            if (at_end(c)) {
                snprintf(err, errlen, "RFC 5424: unterminated PARAM-VALUE in [%.*s]",
                         (int)(id.n > 32 ? 32 : id.n), id.p);
                return false;
            }
            syslog_slice value = {vstart, (size_t)(c->p - vstart)};
            c->p++; /* closing quote */
            if (m->nsd < SYSLOG_MAX_SD_PARAMS)
                m->sd[m->nsd++] = (syslog_sd_param){id, name, value};
            else
                m->sd_dropped++;
        }
        if (!take_char(c, ']')) {
            snprintf(err, errlen, "RFC 5424: missing ] after [%.*s",
                     (int)(id.n > 32 ? 32 : id.n), id.p);
            return false;
        }
        if (m->nsd < SYSLOG_MAX_SD_PARAMS && (m->nsd == 0 || m->sd[m->nsd - 1].sd_id.p != id.p))
            /* an element without parameters still shows up as an empty object */
            m->sd[m->nsd++] = (syslog_sd_param){id, {NULL, 0}, {NULL, 0}};
    }
    return true;
}

static bool parse_5424(cursor *c, syslog_msg *m, char *err, size_t errlen)
{
    m->format = SYSLOG_RFC5424;
    if (take_char(c, '-')) {
        m->has_time = false;
    } else if (parse_rfc3339(c, &m->time_ms)) {
        m->has_time = true;
    } else {
        snprintf(err, errlen, "RFC 5424: bad TIMESTAMP");
        return false;
    }
    if (!take_char(c, ' ') || !take_field(c, 255, &m->hostname)) {
        snprintf(err, errlen, "RFC 5424: bad HOSTNAME");
        return false;
    }
    if (!take_char(c, ' ') || !take_field(c, 48, &m->app_name)) {
        snprintf(err, errlen, "RFC 5424: bad APP-NAME");
        return false;
    }
    if (!take_char(c, ' ') || !take_field(c, 128, &m->procid)) {
        snprintf(err, errlen, "RFC 5424: bad PROCID");
        return false;
    }
    if (!take_char(c, ' ') || !take_field(c, 32, &m->msgid)) {
        snprintf(err, errlen, "RFC 5424: bad MSGID");
        return false;
    }
    if (!take_char(c, ' ')) {
        snprintf(err, errlen, "RFC 5424: missing STRUCTURED-DATA");
        return false;
    }
    if (!parse_sd(c, m, err, errlen))
        return false;
    if (at_end(c))
        return true;
    if (!take_char(c, ' ')) {
        snprintf(err, errlen, "RFC 5424: missing space before MSG");
        return false;
    }
    size_t n = (size_t)(c->end - c->p);
    if (n >= 3 && memcmp(c->p, "\xEF\xBB\xBF", 3) == 0) { /* BOM: the MSG is UTF-8 */
        c->p += 3;
        n -= 3;
    }
    m->msg = (syslog_slice){c->p, n};
    return true;
}

static bool parse_3164(cursor *c, int64_t now_ms, syslog_msg *m, char *err, size_t errlen)
{
    m->format = SYSLOG_RFC3164;
    if (parse_rfc3164_time(c, now_ms, &m->time_ms) || parse_rfc3339(c, &m->time_ms)) {
        m->has_time = true;
    } else {
        snprintf(err, errlen, "RFC 3164: bad TIMESTAMP (want \"Mmm dd hh:mm:ss\")");
        return false;
    }
    if (!take_char(c, ' ')) {
        snprintf(err, errlen, "RFC 3164: missing space after TIMESTAMP");
        return false;
    }
    /* HOSTNAME, unless the first word already is the TAG ("su:", "sshd[42]:") */
    const char *w = c->p;
    while (w < c->end && *w != ' ')
        w++;
    bool first_is_tag = w > c->p && (w[-1] == ':' || w[-1] == ']');
    if (!first_is_tag && w > c->p && w < c->end) {
        size_t n = (size_t)(w - c->p);
        bool printable = n <= 255;
        for (size_t i = 0; printable && i < n; i++)
            printable = c->p[i] >= 33 && c->p[i] <= 126;
        if (printable) {
            m->hostname = (syslog_slice){c->p, n};
            c->p = w + 1;
        }
    }
    /* TAG[PID]: up to 48 bytes of the tag, terminated by '[' or ':' */
    const char *t = c->p;
    while (t < c->end && t - c->p <= 48 && *t != '[' && *t != ':' && *t != ' ' &&
           (unsigned char)*t >= 33 && (unsigned char)*t <= 126)
        t++;
    cursor s = {t, c->end};
    syslog_slice tag = {c->p, (size_t)(t - c->p)}, pid = {NULL, 0};
    bool have_tag = false;
    if (tag.n > 0 && tag.n <= 48 && take_char(&s, '[')) {
        const char *ps = s.p;
        while (!at_end(&s) && *s.p != ']' && s.p - ps <= 128)
            s.p++;
        if (!at_end(&s) && *s.p == ']' && s.p > ps) {
            pid = (syslog_slice){ps, (size_t)(s.p - ps)};
            s.p++;
            have_tag = true;
            take_char(&s, ':');
        }
    } else if (tag.n > 0 && tag.n <= 48 && take_char(&s, ':')) {
        have_tag = true;
    }
    if (have_tag) {
        m->app_name = tag;
        m->procid = pid;
        take_char(&s, ' ');
        c->p = s.p;
    }
    m->msg = (syslog_slice){c->p, (size_t)(c->end - c->p)};
    return true;
}

bool syslog_parse(const char *data, size_t len, int64_t now_ms, syslog_msg *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof(*out));
    cursor c = {data, data + len};
    /* PRI: "<" 1-3 digits ">", no leading zero, at most 191 */
    int pri = 0, nd = 0;
    if (!take_char(&c, '<')) {
        snprintf(err, errlen, "missing PRI (the message does not start with <)");
        return false;
    }
    while (!at_end(&c) && is_digit(*c.p) && nd < 4) {
        pri = pri * 10 + (*c.p - '0');
        c.p++;
        nd++;
    }
    if (nd == 0 || nd > 3 || (nd > 1 && data[1] == '0') || pri > 191 || !take_char(&c, '>')) {
        snprintf(err, errlen, "invalid PRI (want <0> to <191>)");
        return false;
    }
    out->has_pri = true;
    out->pri = pri;
    /* VERSION SP: RFC 5424; anything else is read as RFC 3164 */
    cursor v = c;
    int version = 0, vd = 0;
    while (!at_end(&v) && is_digit(*v.p) && vd < 4) {
        version = version * 10 + (*v.p - '0');
        v.p++;
        vd++;
    }
    if (vd >= 1 && vd <= 3 && c.p[0] != '0' && take_char(&v, ' ')) {
        out->version = version;
        return parse_5424(&v, out, err, errlen);
    }
    return parse_3164(&c, now_ms, out, err, errlen);
}

/* --------------------------------------------------------------- JSON */

void syslog_buf_init(syslog_buf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

void syslog_buf_reset(syslog_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

void syslog_buf_free(syslog_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static void put(syslog_buf *b, const char *s, size_t n)
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

static void puts_(syslog_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
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

/* The bytes of a JSON string (no quotes). unescape_sd: also undo the
 * \" \\ \] escapes of an RFC 5424 PARAM-VALUE. Invalid UTF-8 becomes U+FFFD. */
static void put_escaped(syslog_buf *b, const char *s, size_t n, bool unescape_sd)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t seq = 1;
        if (unescape_sd && c == '\\' && i + 1 < n && (u[i + 1] == '"' || u[i + 1] == '\\' ||
                                                      u[i + 1] == ']')) {
            put(b, s + run, i - run);
            esc = u[i + 1] == '"' ? "\\\"" : u[i + 1] == '\\' ? "\\\\" : "]";
            puts_(b, esc);
            i += 2;
            run = i;
            continue;
        }
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
}

static void put_str(syslog_buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    put_escaped(b, s, n, false);
    put(b, "\"", 1);
}

/* An object key: dots become '_' so the key stays one path segment. */
static void put_key(syslog_buf *b, const char *s, size_t n)
{
    char tmp[64];
    size_t k = n < sizeof(tmp) ? n : sizeof(tmp);
    for (size_t i = 0; i < k; i++)
        tmp[i] = s[i] == '.' ? '_' : s[i];
    put_str(b, tmp, k);
    put(b, ":", 1);
}

static void put_int(syslog_buf *b, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", v);
    put(b, num, (size_t)n);
}

void syslog_time_rfc3339(int64_t ms, char out[32])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int millis = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    /* civil from days (Howard Hinnant's algorithm) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    y += m <= 2;
    if (y < 0 || y > 9999) {
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), millis);
}

static const char *const facility_names[24] = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};

static const char *const severity_names[8] = {
    "emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug",
};

/* PROCID as a pid: 1-9 digits. */
static bool procid_pid(syslog_slice s, long *pid)
{
    if (s.n == 0 || s.n > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (!is_digit(s.p[i]))
            return false;
        v = v * 10 + (s.p[i] - '0');
    }
    *pid = v;
    return true;
}

/* The structured data as {"sd-id":{"name":"value" or ["v1","v2"]}}. */
static void put_structured_data(syslog_buf *b, const syslog_msg *m)
{
    puts_(b, ",\"structured_data\":{");
    bool first_id = true;
    for (size_t i = 0; i < m->nsd; i++) {
        const syslog_sd_param *pi = &m->sd[i];
        bool seen = false; /* this SD-ID was written already (a repeated element) */
        for (size_t j = 0; j < i && !seen; j++)
            seen = m->sd[j].sd_id.n == pi->sd_id.n &&
                   memcmp(m->sd[j].sd_id.p, pi->sd_id.p, pi->sd_id.n) == 0;
        if (seen)
            continue;
        if (!first_id)
            put(b, ",", 1);
        first_id = false;
        put_key(b, pi->sd_id.p, pi->sd_id.n);
        put(b, "{", 1);
        bool first_param = true;
        for (size_t j = i; j < m->nsd; j++) {
            const syslog_sd_param *pj = &m->sd[j];
            if (pj->name.p == NULL || pj->sd_id.n != pi->sd_id.n ||
                memcmp(pj->sd_id.p, pi->sd_id.p, pi->sd_id.n) != 0)
                continue;
            bool dup = false; /* this name was written already (as an array) */
            size_t count = 0;
            for (size_t k = i; k < m->nsd; k++) {
                const syslog_sd_param *pk = &m->sd[k];
                if (pk->name.p && pk->sd_id.n == pi->sd_id.n &&
                    memcmp(pk->sd_id.p, pi->sd_id.p, pi->sd_id.n) == 0 &&
                    pk->name.n == pj->name.n && memcmp(pk->name.p, pj->name.p, pj->name.n) == 0) {
                    if (k < j)
                        dup = true;
                    count++;
                }
            }
            if (dup)
                continue;
            if (!first_param)
                put(b, ",", 1);
            first_param = false;
            put_key(b, pj->name.p, pj->name.n);
            if (count > 1)
                put(b, "[", 1);
            bool first_value = true;
            for (size_t k = j; k < m->nsd; k++) {
                const syslog_sd_param *pk = &m->sd[k];
                if (!pk->name.p || pk->sd_id.n != pi->sd_id.n ||
                    memcmp(pk->sd_id.p, pi->sd_id.p, pi->sd_id.n) != 0 ||
                    pk->name.n != pj->name.n || memcmp(pk->name.p, pj->name.p, pj->name.n) != 0)
                    continue;
                if (!first_value)
                    put(b, ",", 1);
                first_value = false;
                put(b, "\"", 1);
                put_escaped(b, pk->value.p, pk->value.n, true);
                put(b, "\"", 1);
            }
            if (count > 1)
                put(b, "]", 1);
        }
        put(b, "}", 1);
    }
    put(b, "}", 1);
}

bool syslog_to_json(const syslog_msg *m, bool ok, const char *parse_error, const char *raw,
                    size_t len, const syslog_origin *o, syslog_buf *b)
{
    char t[32];
    syslog_buf_reset(b);
    syslog_time_rfc3339(ok && m->has_time ? m->time_ms : o->received_ms, t);
    puts_(b, "{\"@timestamp\":\"");
    puts_(b, t);
    syslog_time_rfc3339(o->received_ms, t);
    puts_(b, "\",\"event\":{\"dataset\":\"syslog\",\"created\":\"");
    puts_(b, t);
    put(b, "\"", 1);
    if (!ok) {
        puts_(b, ",\"original\":");
        put_str(b, raw, len);
    }
    puts_(b, "},\"log\":{");
    if (m->has_pri) {
        puts_(b, "\"syslog\":{\"priority\":");
        put_int(b, m->pri);
        puts_(b, ",\"facility\":{\"code\":");
        put_int(b, m->pri / 8);
        puts_(b, ",\"name\":\"");
        puts_(b, facility_names[m->pri / 8]);
        puts_(b, "\"},\"severity\":{\"code\":");
        put_int(b, m->pri % 8);
        puts_(b, ",\"name\":\"");
        puts_(b, severity_names[m->pri % 8]);
        puts_(b, "\"}");
        if (ok && m->format == SYSLOG_RFC5424) {
            puts_(b, ",\"version\":");
            put_int(b, m->version);
        }
        if (ok && m->hostname.n) {
            puts_(b, ",\"hostname\":");
            put_str(b, m->hostname.p, m->hostname.n);
        }
        if (ok && m->app_name.n) {
            puts_(b, ",\"appname\":");
            put_str(b, m->app_name.p, m->app_name.n);
        }
        if (ok && m->procid.n) {
            puts_(b, ",\"procid\":");
            put_str(b, m->procid.p, m->procid.n);
        }
        if (ok && m->msgid.n) {
            puts_(b, ",\"msgid\":");
            put_str(b, m->msgid.p, m->msgid.n);
        }
        if (ok && m->nsd)
            put_structured_data(b, m);
        puts_(b, "},");
    }
    puts_(b, "\"source\":{\"address\":");
    put_str(b, o->peer, strlen(o->peer));
    puts_(b, "}},\"network\":{\"transport\":\"");
    puts_(b, o->transport);
    puts_(b, "\"}");
    if (ok) {
        if (m->hostname.n) {
            puts_(b, ",\"host\":{\"hostname\":");
            put_str(b, m->hostname.p, m->hostname.n);
            put(b, "}", 1);
        }
        long pid = 0;
        bool has_pid = procid_pid(m->procid, &pid);
        if (m->app_name.n || has_pid) {
            puts_(b, ",\"process\":{");
            if (m->app_name.n) {
                puts_(b, "\"name\":");
                put_str(b, m->app_name.p, m->app_name.n);
            }
            if (has_pid) {
                puts_(b, m->app_name.n ? ",\"pid\":" : "\"pid\":");
                put_int(b, pid);
            }
            put(b, "}", 1);
        }
        if (m->msg.n) {
            puts_(b, ",\"message\":");
            put_str(b, m->msg.p, m->msg.n);
        }
    } else {
        puts_(b, ",\"message\":");
        put_str(b, raw, len);
        puts_(b, ",\"error\":{\"message\":");
        put_str(b, parse_error, strlen(parse_error));
        put(b, "}", 1);
    }
    if (!ok || o->truncated) {
        puts_(b, ",\"tags\":[");
        if (!ok)
            puts_(b, "\"syslog_parse_error\"");
        if (o->truncated)
            puts_(b, ok ? "\"syslog_truncated\"" : ",\"syslog_truncated\"");
        put(b, "]", 1);
    }
    put(b, "}", 1);
    return !b->failed;
}
