/*
 * JSON codec: vigil's own strict RFC 8259 parser, building the event tree
 * straight into the event's arena, and a compact encoder.
 *
 * Why our own parser: decoding is the hot path of every pipeline (one call
 * per Kafka record), and a general-purpose library allocates every node
 * with malloc and then has to be copied into the event. This parser makes
 * one pass, keeps the members of the containers being parsed on a scratch
 * stack (on the C stack for ordinary events) and moves each container into
 * the arena in one exact-sized allocation when it closes. Strings go into
 * a string area carved from the arena in large chunks.
 *
 * It is iterative: nesting costs a 12-byte frame, never C stack, and is
 * rejected at the configured max_depth.
 *
 * Leniency, on purpose, in exactly one place: bytes of a string that are
 * not valid UTF-8 are replaced by U+FFFD instead of rejecting the record.
 * Field values are attacker-controlled (a command line, a user name); if
 * one stray byte made the whole event undecodable, an attacker could make
 * any of their events invisible to detection by adding it. Every other
 * deviation from RFC 8259 is an error naming the byte offset (counted from
 * 0) of the offending byte.
 */
#include "codec.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define DEFAULT_MAX_DEPTH 64
#define LOCAL_ITEMS 256  /* members pending on the C stack before spilling */
#define LOCAL_FRAMES 64
#define STR_CHUNK 4096   /* minimum string-area chunk once the first is used */
#define NO_PARENT UINT32_MAX

#if defined(__GNUC__)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((cold, noinline))
#else
#define likely(x) (x)
#define unlikely(x) (x)
#define COLD
#endif

/* ------------------------------------------------------------ UTF-8 */

/* Length (1..4) of the valid UTF-8 sequence at s (n bytes available), 0
 * if s[0] does not start one: overlongs, surrogates and code points past
 * U+10FFFF are invalid, as in RFC 3629. */
static inline size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2 || c > 0xf4)
        return 0;
    if (c < 0xe0) {
        if (n < 2 || (s[1] & 0xc0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
            return 0; /* overlong, surrogate */
        return 3;
    }
    if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
        return 0;
    if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, past U+10FFFF */
    return 4;
}

bool vgl_codec_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    /* ASCII runs eight bytes at a time */
    for (;;) {
        while (i + 8 <= len) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (x & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            return true;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        if (!n)
            return false;
        i += n;
    }
}

/* Copy s[0..len) to out replacing invalid bytes by U+FFFD; out must hold
 * 3 * len bytes. Returns the bytes written. */
static size_t utf8_sanitize(char *out, const unsigned char *s, size_t len)
{
    char *o = out;
    size_t i = 0;
    while (i < len) {
        size_t n = s[i] < 0x80 ? 1 : utf8_seq(s + i, len - i);
        if (n) {
            memcpy(o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return (size_t)(o - out);
}

vgl_rc vgl_codec_set_utf8(vgl_event *ev, vgl_value *v, const char *s, size_t len)
{
    vgl_rc rc = VGL_OK;
    if (vgl_codec_utf8_valid(s, len)) {
        vgl_value_set_str(ev, v, s, len, &rc);
        return rc;
    }
    if (len > UINT32_MAX / 3)
        return VGL_ERR_TOOBIG;
    char *copy = vgl_arena_alloc(&ev->arena, 3 * len + 1);
    if (!copy)
        return VGL_ERR_NOMEM;
    size_t n = utf8_sanitize(copy, (const unsigned char *)s, len);
    copy[n] = '\0';
    v->type = VGL_T_STRING;
    v->n = (uint32_t)n;
    v->cap = 0;
    v->u.s = copy;
    return VGL_OK;
}

/* ------------------------------------------------------------ parser */

typedef struct frame {
    uint32_t start;  /* first scratch item of this container */
    uint32_t parent; /* scratch item holding this container, NO_PARENT: root */
    uint32_t is_obj;
} frame;

typedef struct parser {
    const unsigned char *base; /* start of the record, for offsets */
    const unsigned char *end;
    vgl_event *ev;
    char *sa, *sa_end;         /* free part of the current string chunk */
    vgl_member *items;         /* scratch stack of pending members/items */
    size_t nitems, cap_items;
    bool items_heap;
    frame *frames;
    uint32_t depth, cap_frames;
    bool frames_heap;
    uint32_t max_depth;
    char *err;
    size_t errlen;
} parser;

/* Characters that end the fast scan of a string. */
static const unsigned char str_stop[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

static inline bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p <= ' ' && is_ws(*p))
        p++;
    return p;
}

static COLD vgl_rc fail(parser *ps, vgl_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static vgl_rc fail(parser *ps, vgl_rc rc, const char *fmt, ...)
{
    if (ps->err && ps->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err, ps->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static COLD vgl_rc syntax(parser *ps, const unsigned char *at, const char *reason)
{
    return fail(ps, VGL_ERR_INVALID, "invalid JSON at byte %zu: %s", (size_t)(at - ps->base),
                reason);
}

/* A missing token: at the end of the record that is the reason. */
static COLD vgl_rc expected(parser *ps, const unsigned char *at, const char *reason)
{
    if (at >= ps->end)
        return syntax(ps, ps->end, "unexpected end of input");
    return syntax(ps, at, reason);
}

static COLD vgl_rc out_of_memory(parser *ps, const unsigned char *at)
{
    vgl_arena *a = &ps->ev->arena;
    if (a->limit)
        return fail(ps, VGL_ERR_TOOBIG, "event exceeds its memory limit of %zu bytes at byte %zu",
                    a->limit, (size_t)(at - ps->base));
    return fail(ps, VGL_ERR_NOMEM, "out of memory decoding JSON at byte %zu",
                (size_t)(at - ps->base));
}

/* Room for need bytes in the string area. */
static inline bool str_room(parser *ps, size_t need)
{
    if (likely((size_t)(ps->sa_end - ps->sa) >= need))
        return true;
    /* A new chunk of the record's size: the strings of a record without
     * invalid UTF-8 never need more, so a small event makes one
     * allocation; capped so a big record does not pin memory it may not
     * use. */
    size_t rest = (size_t)(ps->end - ps->base) + 8;
    size_t chunk = rest < STR_CHUNK ? rest : STR_CHUNK;
    if (chunk < need)
        chunk = need;
    char *mem = vgl_arena_alloc(&ps->ev->arena, chunk);
    if (!mem)
        return false;
    ps->sa = mem;
    ps->sa_end = mem + chunk;
    return true;
}

static inline int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static inline int32_t hex4(const unsigned char *s)
{
    int a = hexval(s[0]), b = hexval(s[1]), c = hexval(s[2]), d = hexval(s[3]);
    if ((a | b | c | d) < 0)
        return -1;
    return (a << 12) | (b << 8) | (c << 4) | d;
}

static inline char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

#if defined(__SSE2__)
/* Bit i set when byte i of x is '"', '\\', a control character or
 * non-ASCII (the signed compare makes bytes >= 0x80 negative, so "< 0x20"
 * catches them too). */
static inline unsigned stop_mask(__m128i x)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                _mm_cmplt_epi8(x, space));
    return (unsigned)_mm_movemask_epi8(stop);
}
#endif

/* First byte at or after q that is '"', '\\', a control character or
 * non-ASCII, or end. */
static inline const unsigned char *scan_plain(const unsigned char *q, const unsigned char *end)
{
#if defined(__SSE2__)
    while (end - q >= 16) {
        unsigned mask = stop_mask(_mm_loadu_si128((const __m128i *)(const void *)q));
        if (mask)
            return q + __builtin_ctz(mask);
        q += 16;
    }
#else
    while (end - q >= 8) {
        uint64_t x;
        memcpy(&x, q, 8);
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        uint64_t quote = x ^ (ones * '"'), bslash = x ^ (ones * '\\');
        uint64_t stop = (x | ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
                         ((bslash - ones) & ~bslash)) &
                        highs;
        if (stop)
            break;
        q += 8;
    }
#endif
    while (q < end && !str_stop[*q])
        q++;
    return q;
}

/* Room for need more bytes after the used bytes of the string being
 * written at *o (which started at *start): a bigger chunk, the string so
 * far copied over. */
static COLD bool str_grow(parser *ps, char **start, char **o, size_t need)
{
    size_t used = (size_t)(*o - *start);
    if (used + need > UINT32_MAX)
        return false;
    size_t want = 2 * (used + need);
    if (want < STR_CHUNK)
        want = STR_CHUNK;
    char *mem = vgl_arena_alloc(&ps->ev->arena, want);
    if (!mem)
        return false;
    memcpy(mem, *start, used);
    *start = ps->sa = mem;
    *o = mem + used;
    ps->sa_end = mem + want;
    return true;
}

/* One string at p (its opening quote) into the string area; returns the
 * byte after the closing quote, NULL on error (*rc set). */
static inline const unsigned char *parse_str(parser *ps, const unsigned char *p,
                                             const char **out, uint32_t *outlen, vgl_rc *rc)
{
    const unsigned char *q = p + 1, *end = ps->end;
    char *start = ps->sa, *o = start;
    for (;;) {
#if defined(__SSE2__)
        /* Copy while scanning, 16 bytes at a time, while the record and
         * the string area both have them (and 5 more) to spare: no memcpy
         * call for the short strings that make up most events. */
        while (end - q >= 16 && ps->sa_end - o >= 21) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
            _mm_storeu_si128((__m128i *)(void *)o, x);
            unsigned mask = stop_mask(x);
            if (mask) {
                unsigned k = (unsigned)__builtin_ctz(mask);
                q += k;
                o += k;
                goto special;
            }
            q += 16;
            o += 16;
        }
#endif
        const unsigned char *r = scan_plain(q, end);
        if (unlikely(r == end)) {
            *rc = syntax(ps, p, "unterminated string");
            return NULL;
        }
        /* the run, the longest thing one special byte writes (4), the NUL */
        size_t run = (size_t)(r - q);
        if (unlikely((size_t)(ps->sa_end - o) < run + 5)) {
            bool ok;
            if (o == start) {
                ok = str_room(ps, run + 5);
                start = o = ps->sa;
            } else {
                ok = str_grow(ps, &start, &o, run + 5);
            }
            if (!ok) {
                *rc = (size_t)(o - start) + run + 5 > UINT32_MAX
                          ? fail(ps, VGL_ERR_TOOBIG,
                                 "JSON string at byte %zu is longer than 4 GiB",
                                 (size_t)(p - ps->base))
                          : out_of_memory(ps, p);
                return NULL;
            }
        }
        memcpy(o, q, run);
        o += run;
        q = r;
#if defined(__SSE2__)
    special:;
#endif
        unsigned char c = *q;
        if (likely(c == '"'))
            break;
        if (c == '\\') {
            if (end - q < 2) {
                *rc = syntax(ps, p, "unterminated string");
                return NULL;
            }
            switch (q[1]) {
            case '"': *o++ = '"'; q += 2; continue;
            case '\\': *o++ = '\\'; q += 2; continue;
            case '/': *o++ = '/'; q += 2; continue;
            case 'b': *o++ = '\b'; q += 2; continue;
            case 'f': *o++ = '\f'; q += 2; continue;
            case 'n': *o++ = '\n'; q += 2; continue;
            case 'r': *o++ = '\r'; q += 2; continue;
            case 't': *o++ = '\t'; q += 2; continue;
            case 'u': break;
            default:
                *rc = syntax(ps, q, "invalid escape");
                return NULL;
            }
            int32_t cp = end - q >= 6 ? hex4(q + 2) : -1;
            if (cp < 0) {
                *rc = syntax(ps, q, "invalid \\u escape");
                return NULL;
            }
            q += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int32_t lo = end - q >= 6 && q[0] == '\\' && q[1] == 'u' ? hex4(q + 2) : -1;
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    q += 6;
                } else {
                    cp = 0xfffd; /* lone high surrogate */
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cp = 0xfffd; /* lone low surrogate */
            }
            o = put_utf8(o, (uint32_t)cp);
        } else if (c < 0x20) {
            char reason[64];
            snprintf(reason, sizeof(reason), "unescaped control character 0x%02x in string", c);
            *rc = syntax(ps, q, reason);
            return NULL;
        } else {
            size_t sl = utf8_seq(q, (size_t)(end - q));
            if (sl) {
                memcpy(o, q, sl);
                o += sl;
                q += sl;
            } else {
                memcpy(o, "\xef\xbf\xbd", 3); /* invalid byte: see the file comment */
                o += 3;
                q++;
            }
        }
    }
    size_t n = (size_t)(o - start);
    if (unlikely(n >= UINT32_MAX)) {
        *rc = fail(ps, VGL_ERR_TOOBIG, "JSON string at byte %zu is longer than 4 GiB",
                   (size_t)(p - ps->base));
        return NULL;
    }
    *o = '\0';
    ps->sa = o + 1;
    *out = start;
    *outlen = (uint32_t)n;
    return q + 1;
}

/* ------------------------------------------------------------ numbers */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    /* glibc hands out its static C locale here: nothing to free. */
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* strtod of s[0..n) (a validated JSON number) in the C locale whatever
 * setlocale() the process or a plugin made: a bounded local copy, since
 * the record is not NUL-terminated. */
static bool strtod_c(const unsigned char *s, size_t n, double *out)
{
    char local[64];
    char *tmp = n < sizeof(local) ? local : malloc(n + 1);
    if (!tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    pthread_once(&c_locale_once, c_locale_init);
    *out = c_locale ? strtod_l(tmp, NULL, c_locale) : strtod(tmp, NULL);
    if (tmp != local)
        free(tmp);
    return true;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number at p; returns the byte after it, or NULL when the text is not
 * an RFC 8259 number (*malloc_failed set if that was the reason). */
static inline const unsigned char *parse_number(const unsigned char *p, const unsigned char *end,
                                                vgl_value *v, bool *malloc_failed)
{
    const unsigned char *s = p;
    bool neg = false, is_int = true, exact = true;
    uint64_t m = 0;
    int nd = 0;      /* significant digits held in m */
    int64_t e10 = 0; /* value = m * 10^e10 */
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return NULL; /* leading zero */
    } else if (p < end && *p >= '1' && *p <= '9') {
        do {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                nd++;
            } else {
                e10++;
                exact = false;
            }
            p++;
        } while (p < end && *p >= '0' && *p <= '9');
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        is_int = false;
        p++;
        if (p == end || *p < '0' || *p > '9')
            return NULL;
        do {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                if (m)
                    nd++;
                e10--;
            } else if (*p != '0') {
                exact = false;
            }
            p++;
        } while (p < end && *p >= '0' && *p <= '9');
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = false;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p == end || *p < '0' || *p > '9')
            return NULL;
        int64_t ex = 0;
        do {
            if (ex < 1000000)
                ex = ex * 10 + (*p - '0');
            p++;
        } while (p < end && *p >= '0' && *p <= '9');
        e10 += eneg ? -ex : ex;
    }
    if (is_int && exact) {
        if (!neg && m <= (uint64_t)INT64_MAX) {
            v->type = VGL_T_INT;
            v->u.i = (int64_t)m;
            return p;
        }
        if (neg && m <= (uint64_t)INT64_MAX + 1) {
            v->type = VGL_T_INT;
            v->u.i = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
            return p;
        }
    }
    v->type = VGL_T_DOUBLE;
    if (exact && m <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
        /* Clinger's fast path: m and 10^|e10| are exact doubles, so one
         * IEEE operation gives the correctly rounded result. */
        double d = (double)m;
        d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
        v->u.d = neg ? -d : d;
        return p;
    }
    if (m == 0 && exact) {
        v->u.d = neg ? -0.0 : 0.0;
        return p;
    }
    if (!strtod_c(s, (size_t)(p - s), &v->u.d)) {
        *malloc_failed = true;
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------ structure */

static bool grow_items(parser *ps)
{
    size_t ncap = ps->cap_items * 2;
    vgl_member *mem = ps->items_heap ? realloc(ps->items, ncap * sizeof(*mem))
                                     : malloc(ncap * sizeof(*mem));
    if (!mem)
        return false;
    if (!ps->items_heap)
        memcpy(mem, ps->items, ps->nitems * sizeof(*mem));
    ps->items = mem;
    ps->cap_items = ncap;
    ps->items_heap = true;
    return true;
}

static bool grow_frames(parser *ps)
{
    uint32_t ncap = ps->cap_frames * 2;
    if (ncap > ps->max_depth)
        ncap = ps->max_depth;
    frame *mem = ps->frames_heap ? realloc(ps->frames, ncap * sizeof(*mem))
                                 : malloc(ncap * sizeof(*mem));
    if (!mem)
        return false;
    if (!ps->frames_heap)
        memcpy(mem, ps->frames, ps->depth * sizeof(*mem));
    ps->frames = mem;
    ps->cap_frames = ncap;
    ps->frames_heap = true;
    return true;
}

/* Move the items of the innermost container from the scratch stack into
 * one exact-sized arena array. */
static inline bool close_container(parser *ps, vgl_value *dst, const frame *fr)
{
    size_t n = ps->nitems - fr->start;
    const vgl_member *src = ps->items + fr->start;
    dst->n = dst->cap = (uint32_t)n;
    if (n == 0) {
        dst->u.members = NULL;
        return true;
    }
    if (fr->is_obj) {
        vgl_member *m = vgl_arena_alloc(&ps->ev->arena, n * sizeof(*m));
        if (!m)
            return false;
        memcpy(m, src, n * sizeof(*m));
        dst->u.members = m;
    } else {
        vgl_value *a = vgl_arena_alloc(&ps->ev->arena, n * sizeof(*a));
        if (!a)
            return false;
        for (size_t i = 0; i < n; i++)
            a[i] = src[i].v;
        dst->u.items = a;
    }
    return true;
}

static COLD vgl_rc top_level_error(parser *ps, const unsigned char *p)
{
    const char *what = NULL;
    const unsigned char *end = ps->end;
    switch (*p) {
    case '[': what = "an array"; break;
    case '"': what = "a string"; break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': what = "a number"; break;
    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0)
            what = "true";
        break;
    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0)
            what = "false";
        break;
    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0)
            what = "null";
        break;
    }
    if (!what) {
        /* Say what the record looks like: a common misconfiguration is an
         * Avro or Confluent (magic byte 0) topic read as JSON. */
        char reason[96];
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x7f)
            snprintf(reason, sizeof(reason), "expected '{', found '%c'", c);
        else
            snprintf(reason, sizeof(reason), "expected '{', found byte 0x%02x%s", c,
                     c == 0 ? " (Avro or Confluent-framed data?)" : "");
        return syntax(ps, p, reason);
    }
    return fail(ps, VGL_ERR_INVALID, "top-level JSON value is %s, expected an object", what);
}

static vgl_rc parse(parser *ps, const unsigned char *p)
{
    const unsigned char *end = ps->end;
    vgl_rc rc = VGL_OK;
    bool malloc_failed = false;

    p = skip_ws(p, end);
    if (p == end)
        return syntax(ps, p, "unexpected end of input");
    if (*p != '{')
        return top_level_error(ps, p);
    ps->frames[0] = (frame){.start = 0, .parent = NO_PARENT, .is_obj = 1};
    ps->depth = 1;
    p++;

    for (;;) {
        frame *fr = &ps->frames[ps->depth - 1];
        p = skip_ws(p, end);
        if (unlikely(p == end))
            return syntax(ps, p, "unexpected end of input");
        vgl_member *it;
        if (fr->is_obj) {
            if (ps->nitems == fr->start) {
                if (*p == '}')
                    goto close;
                if (unlikely(*p != '"'))
                    return syntax(ps, p, "expected a string key or '}'");
            } else {
                if (*p == '}')
                    goto close;
                if (unlikely(*p != ','))
                    return syntax(ps, p, "expected ',' or '}' after an object member");
                p = skip_ws(p + 1, end);
                if (unlikely(p == end || *p != '"'))
                    return expected(ps, p, "expected a string key after ','");
            }
            if (unlikely(ps->nitems == ps->cap_items) && !grow_items(ps))
                return out_of_memory(ps, p);
            it = &ps->items[ps->nitems];
            const char *key;
            uint32_t klen;
            p = parse_str(ps, p, &key, &klen, &rc);
            if (unlikely(!p))
                return rc;
            it->key = key;
            it->klen = klen;
            it->khash = vgl_hash(key, klen);
            p = skip_ws(p, end);
            if (unlikely(p == end || *p != ':'))
                return expected(ps, p, "expected ':' after object key");
            p = skip_ws(p + 1, end);
            if (unlikely(p == end))
                return syntax(ps, p, "unexpected end of input");
        } else {
            if (ps->nitems == fr->start) {
                if (*p == ']')
                    goto close;
            } else {
                if (*p == ']')
                    goto close;
                if (unlikely(*p != ','))
                    return syntax(ps, p, "expected ',' or ']' after an array item");
                p = skip_ws(p + 1, end);
                if (unlikely(p == end))
                    return syntax(ps, p, "unexpected end of input");
            }
            if (unlikely(ps->nitems == ps->cap_items) && !grow_items(ps))
                return out_of_memory(ps, p);
            it = &ps->items[ps->nitems];
            it->key = NULL;
            it->klen = it->khash = 0;
        }

        vgl_value *v = &it->v;
        v->n = v->cap = 0;
        switch (*p) {
        case '"': {
            const char *s;
            uint32_t n;
            p = parse_str(ps, p, &s, &n, &rc);
            if (unlikely(!p))
                return rc;
            v->type = VGL_T_STRING;
            v->n = n;
            v->u.s = s;
            break;
        }
        case '{':
        case '[':
            if (unlikely(ps->depth >= ps->max_depth))
                return fail(ps, VGL_ERR_TOOBIG, "nesting deeper than %u at byte %zu",
                            ps->max_depth, (size_t)(p - ps->base));
            if (unlikely(ps->depth == ps->cap_frames) && !grow_frames(ps))
                return out_of_memory(ps, p);
            v->type = *p == '{' ? VGL_T_OBJECT : VGL_T_ARRAY;
            ps->frames[ps->depth++] = (frame){.start = (uint32_t)ps->nitems + 1,
                                              .parent = (uint32_t)ps->nitems,
                                              .is_obj = *p == '{'};
            ps->nitems++;
            if (unlikely(ps->nitems >= UINT32_MAX))
                return fail(ps, VGL_ERR_TOOBIG, "too many JSON values at byte %zu",
                            (size_t)(p - ps->base));
            p++;
            continue;
        case 't':
            if (unlikely(end - p < 4 || memcmp(p, "true", 4) != 0))
                return syntax(ps, p, "invalid literal");
            v->type = VGL_T_BOOL;
            v->u.b = true;
            p += 4;
            break;
        case 'f':
            if (unlikely(end - p < 5 || memcmp(p, "false", 5) != 0))
                return syntax(ps, p, "invalid literal");
            v->type = VGL_T_BOOL;
            v->u.b = false;
            p += 5;
            break;
        case 'n':
            if (unlikely(end - p < 4 || memcmp(p, "null", 4) != 0))
                return syntax(ps, p, "invalid literal");
            v->type = VGL_T_NULL;
            v->u.i = 0;
            p += 4;
            break;
        case '-': case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9': {
            const unsigned char *q = parse_number(p, end, v, &malloc_failed);
            if (unlikely(!q))
                return malloc_failed ? out_of_memory(ps, p) : syntax(ps, p, "invalid number");
            p = q;
            break;
        }
        default:
            return syntax(ps, p, "expected a value");
        }
        ps->nitems++;
        if (unlikely(ps->nitems >= UINT32_MAX))
            return fail(ps, VGL_ERR_TOOBIG, "too many JSON values at byte %zu",
                        (size_t)(p - ps->base));
        continue;

    close:
        {
            vgl_value *dst = fr->parent == NO_PARENT ? &ps->ev->root : &ps->items[fr->parent].v;
            if (unlikely(!close_container(ps, dst, fr)))
                return out_of_memory(ps, p);
            ps->nitems = fr->start;
            p++;
            if (--ps->depth == 0)
                break;
        }
    }
    p = skip_ws(p, end);
    if (p != end)
        return syntax(ps, p, "trailing data after the top-level object");
    return VGL_OK;
}

vgl_rc vgl_json_decode(vgl_event *ev, const char *buf, size_t len,
                       const vgl_decode_limits *lim, char *err, size_t errlen)
{
    vgl_member local_items[LOCAL_ITEMS];
    frame local_frames[LOCAL_FRAMES];
    parser ps = {
        .base = (const unsigned char *)buf,
        .end = (const unsigned char *)buf + len,
        .ev = ev,
        .items = local_items,
        .cap_items = LOCAL_ITEMS,
        .frames = local_frames,
        .cap_frames = LOCAL_FRAMES,
        .max_depth = lim && lim->max_depth ? lim->max_depth : DEFAULT_MAX_DEPTH,
        .err = err,
        .errlen = errlen,
    };
    if (err && errlen)
        err[0] = '\0';
    if (lim && lim->max_bytes && len > lim->max_bytes)
        return fail(&ps, VGL_ERR_TOOBIG, "message of %zu bytes exceeds the limit of %zu bytes",
                    len, lim->max_bytes);
    if (ev->root.type != VGL_T_OBJECT || ev->root.n != 0)
        return fail(&ps, VGL_ERR_STATE, "event is not empty: reset it before decoding");
    if (!buf && len)
        return fail(&ps, VGL_ERR_INVALID, "no JSON buffer");
    if (!buf)
        ps.base = ps.end = (const unsigned char *)"";
    if (ps.max_depth < ps.cap_frames)
        ps.cap_frames = ps.max_depth;
    vgl_rc rc = parse(&ps, ps.base);
    if (ps.items_heap)
        free(ps.items);
    if (ps.frames_heap)
        free(ps.frames);
    if (rc != VGL_OK)
        vgl_value_set_object(&ev->root);
    return rc;
}

/* ------------------------------------------------------------ encoder */

/* Append d as JSON: 17 significant digits, always with '.' or an exponent
 * so it reads back as a double; '.' whatever LC_NUMERIC says. */
static bool put_double(vgl_buf *out, double d)
{
    if (!isfinite(d))
        return vgl_buf_append(out, "null", 4);
    char tmp[40], num[48];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", d);
    if (n <= 0 || (size_t)n >= sizeof(tmp))
        return false;
    size_t o = 0;
    bool point = false;
    for (int i = 0; i < n; i++) {
        char c = tmp[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+') {
            num[o++] = c;
        } else if (c == 'e' || c == 'E') {
            num[o++] = 'e';
            point = true;
        } else if (o && num[o - 1] != '.') { /* the locale's decimal point */
            num[o++] = '.';
            point = true;
        }
    }
    if (!point) {
        num[o++] = '.';
        num[o++] = '0';
    }
    return vgl_buf_append(out, num, o);
}

static bool put_int(vgl_buf *out, int64_t i)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp), *s = e;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        *--s = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        *--s = '-';
    return vgl_buf_append(out, s, (size_t)(e - s));
}

typedef struct enc_frame {
    const vgl_value *v;
    uint32_t i;
} enc_frame;

vgl_rc vgl_json_encode_value(vgl_buf *out, const vgl_value *v)
{
    enc_frame local[LOCAL_FRAMES];
    enc_frame *st = local;
    size_t depth = 0, cap = LOCAL_FRAMES;
    vgl_rc rc = VGL_OK;
    const vgl_value *cur = v;

    for (;;) {
        /* emit cur, or open it */
        switch (cur->type) {
        case VGL_T_NULL: vgl_buf_append(out, "null", 4); break;
        case VGL_T_BOOL: vgl_buf_puts(out, cur->u.b ? "true" : "false"); break;
        case VGL_T_INT: put_int(out, cur->u.i); break;
        case VGL_T_DOUBLE: put_double(out, cur->u.d); break;
        case VGL_T_STRING: vgl_buf_json_str(out, cur->u.s, cur->n); break;
        case VGL_T_ARRAY:
        case VGL_T_OBJECT:
            vgl_buf_putc(out, cur->type == VGL_T_ARRAY ? '[' : '{');
            if (cur->n == 0) {
                vgl_buf_putc(out, cur->type == VGL_T_ARRAY ? ']' : '}');
                break;
            }
            if (depth == cap) {
                enc_frame *mem = st == local ? malloc(2 * cap * sizeof(*mem))
                                             : realloc(st, 2 * cap * sizeof(*mem));
                if (!mem) {
                    rc = VGL_ERR_NOMEM;
                    goto done;
                }
                if (st == local)
                    memcpy(mem, local, sizeof(local));
                st = mem;
                cap *= 2;
            }
            st[depth++] = (enc_frame){cur, 0};
            break;
        default:
            rc = VGL_ERR_TYPE;
            goto done;
        }
        if (out->failed)
            goto done;
        /* next value: the next child of the innermost open container */
        cur = NULL;
        while (depth) {
            enc_frame *f = &st[depth - 1];
            if (f->i == f->v->n) {
                vgl_buf_putc(out, f->v->type == VGL_T_ARRAY ? ']' : '}');
                depth--;
                continue;
            }
            if (f->i)
                vgl_buf_putc(out, ',');
            if (f->v->type == VGL_T_OBJECT) {
                const vgl_member *m = &f->v->u.members[f->i];
                vgl_buf_json_str(out, m->key, m->klen);
                vgl_buf_putc(out, ':');
                cur = &m->v;
            } else {
                cur = &f->v->u.items[f->i];
            }
            f->i++;
            break;
        }
        if (!cur)
            break;
    }
done:
    if (st != local)
        free(st);
    if (rc == VGL_OK && out->failed)
        rc = out->limit ? VGL_ERR_TOOBIG : VGL_ERR_NOMEM;
    return rc;
}

vgl_rc vgl_json_encode_event(vgl_buf *out, const vgl_event *ev)
{
    return vgl_json_encode_value(out, &ev->root);
}
