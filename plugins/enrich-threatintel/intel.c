/*
 * Indicator sets: see intel.h.
 */
#include "intel.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

__extension__ typedef unsigned __int128 u128;

#define U128_MAX (~(u128)0)

/* one indicator; strings are offsets into the pool (0 = none) */
typedef struct intel_ind {
    uint32_t key, value, provider, confidence, description;
    uint16_t key_len;
    uint8_t type_name; /* index into TYPE_NAMES */
    int64_t valid_until;
} intel_ind;

typedef struct cidr {
    u128 start, end;
    uint32_t ind;
    uint8_t plen;
} cidr;

/* a flattened range: every address in [start, end] matches ind */
typedef struct range {
    u128 start, end;
    uint32_t ind;
} range;

typedef struct slot {
    uint32_t tag; /* high bits of the hash */
    uint32_t ind; /* index + 1; 0 = empty */
} slot;

struct intel_builder {
    char *pool;
    size_t pool_len, pool_cap;
    intel_ind *inds;
    size_t ninds, inds_cap;
    cidr *cidrs;
    size_t ncidrs, cidrs_cap;
};

struct intel_set {
    char *pool;
    intel_ind *inds;
    size_t ninds;
    slot *slots;
    size_t mask; /* slots - 1 */
    size_t nexact;
    range *ranges;
    size_t nranges;
    size_t ncidrs;
};

enum { TN_IPV4, TN_IPV6, TN_DOMAIN, TN_URL, TN_FILE };
static const char *const TYPE_NAMES[] = {"ipv4-addr", "ipv6-addr", "domain-name", "url", "file"};

/* ------------------------------------------------------------- helpers */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, s, 8);
        h = (h ^ k) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, s, n);
    h = (h ^ k) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Parse an address into 128 bits (IPv4 as ::ffff:a.b.c.d). */
static bool parse_addr(const char *s, size_t n, u128 *out, bool *v4)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned char a[16];
    if (inet_pton(AF_INET, buf, a) == 1) {
        *out = (u128)0xffff << 32 | (u128)((uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
                                            (uint32_t)a[2] << 8 | a[3]);
        *v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, a) == 1) {
        u128 v = 0;
        for (int i = 0; i < 16; i++)
            v = v << 8 | a[i];
        *out = v;
        *v4 = false;
        return true;
    }
    return false;
}

/* Address key: 'i' + 16 bytes big-endian. */
static size_t addr_key(u128 a, char *key)
{
    key[0] = 'i';
    for (int i = 0; i < 16; i++)
        key[1 + i] = (char)(unsigned char)(a >> (8 * (15 - i)));
    return 17;
}

/* A domain: 1..253 bytes of letters, digits, '-', '_', '.' or non-ASCII
 * (IDN), no empty label; one trailing dot is dropped; lower-cased. */
static bool domain_key(const char *s, size_t n, char *key, size_t *klen)
{
    if (n && s[n - 1] == '.')
        n--;
    if (n == 0 || n > 253 || s[0] == '.')
        return false;
    key[0] = 'd';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c >= 0x80 || (c == '.' && s[i - 1] != '.');
        if (!ok)
            return false;
        key[1 + i] = lower((char)c);
    }
    *klen = n + 1;
    return true;
}

/* A URL: scheme "://" authority rest; scheme and authority lower-cased,
 * the rest kept. No whitespace or control bytes. */
static bool url_key(const char *s, size_t n, char *key, size_t *klen)
{
    if (n == 0 || n > INTEL_MAX_VALUE)
        return false;
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    if (!sep || sep == s)
        return false;
    size_t auth_end = (size_t)(sep - s) + 3;
    while (auth_end < n && s[auth_end] != '/' && s[auth_end] != '?' && s[auth_end] != '#')
        auth_end++;
    if (auth_end == (size_t)(sep - s) + 3)
        return false; /* no host */
    key[0] = 'u';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
        key[1 + i] = i < auth_end ? lower((char)c) : (char)c;
    }
    *klen = n + 1;
    return true;
}

/* hex digit -> its lower-case form, 0 for anything else */
static const char HEX_LOWER[256] = {
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5', ['6'] = '6',
    ['7'] = '7', ['8'] = '8', ['9'] = '9', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd',
    ['e'] = 'e', ['f'] = 'f', ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e',
    ['F'] = 'f',
};

static bool hash_key(const char *s, size_t n, char *key, size_t *klen)
{
    if (n != 32 && n != 40 && n != 64)
        return false;
    key[0] = 'h';
    for (size_t i = 0; i < n; i++) {
        char c = HEX_LOWER[(unsigned char)s[i]];
        if (!c)
            return false;
        key[1 + i] = c;
    }
    *klen = n + 1;
    return true;
}

/* ------------------------------------------------------------- builder */

intel_builder *intel_builder_new(void)
{
    intel_builder *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->pool_cap = 4096;
    b->pool = malloc(b->pool_cap);
    if (!b->pool) {
        free(b);
        return NULL;
    }
    b->pool[0] = '\0'; /* offset 0 = none */
    b->pool_len = 1;
    return b;
}

void intel_builder_free(intel_builder *b)
{
    if (!b)
        return;
    free(b->pool);
    free(b->inds);
    free(b->cidrs);
    free(b);
}

size_t intel_builder_count(const intel_builder *b)
{
    return b->ninds;
}

/* Copy s[0..n) + NUL into the pool; 0 on failure (or for an empty string). */
static bool pool_add(intel_builder *b, const char *s, size_t n, uint32_t *off)
{
    if (!s || n == 0) {
        *off = 0;
        return true;
    }
    if (b->pool_len + n + 1 > UINT32_MAX)
        return false;
    if (b->pool_len + n + 1 > b->pool_cap) {
        size_t cap = b->pool_cap;
        while (cap < b->pool_len + n + 1)
            cap *= 2;
        char *p = realloc(b->pool, cap);
        if (!p)
            return false;
        b->pool = p;
        b->pool_cap = cap;
    }
    memcpy(b->pool + b->pool_len, s, n);
    b->pool[b->pool_len + n] = '\0';
    *off = (uint32_t)b->pool_len;
    b->pool_len += n + 1;
    return true;
}

bool intel_type_parse(const char *name, size_t len, intel_type *out, size_t *hash_len)
{
    static const struct {
        const char *name;
        intel_type type;
        size_t hash_len;
    } names[] = {
        {"", INTEL_ANY, 0},           {"ip", INTEL_IP, 0},
        {"ipv4", INTEL_IP, 0},        {"ipv6", INTEL_IP, 0},
        {"ipv4-addr", INTEL_IP, 0},   {"ipv6-addr", INTEL_IP, 0},
        {"ip-src", INTEL_IP, 0},      {"ip-dst", INTEL_IP, 0},
        {"cidr", INTEL_IP, 0},        {"ipv4-net", INTEL_IP, 0},
        {"ipv6-net", INTEL_IP, 0},    {"domain", INTEL_DOMAIN, 0},
        {"domain-name", INTEL_DOMAIN, 0}, {"hostname", INTEL_DOMAIN, 0},
        {"fqdn", INTEL_DOMAIN, 0},    {"url", INTEL_URL, 0},
        {"uri", INTEL_URL, 0},        {"md5", INTEL_FILE, 32},
        {"sha1", INTEL_FILE, 40},     {"sha-1", INTEL_FILE, 40},
        {"sha256", INTEL_FILE, 64},   {"sha-256", INTEL_FILE, 64},
        {"file", INTEL_FILE, 0},      {"hash", INTEL_FILE, 0},
        {"filehash", INTEL_FILE, 0},  {"file-hash", INTEL_FILE, 0},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == len && strncasecmp(names[i].name, name, len) == 0) {
            *out = names[i].type;
            *hash_len = names[i].hash_len;
            return true;
        }
    return false;
}

/* Printable, bounded copy of a value for messages. */
static const char *shown(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++)
        buf[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n && k < n && k + 4 <= cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 1024;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

/* An address or a CIDR ("10.0.0.0/8", "2001:db8::/32"); host bits are
 * cleared. *plen is 128 for a single address. */
static bool parse_ip_or_cidr(const char *s, size_t n, u128 *addr, unsigned *plen, bool *v4)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    if (!parse_addr(s, alen, addr, v4))
        return false;
    unsigned max = *v4 ? 32 : 128;
    unsigned p = max;
    if (slash) {
        size_t dl = n - alen - 1;
        if (dl == 0 || dl > 3)
            return false;
        p = 0;
        for (size_t i = 0; i < dl; i++) {
            char c = slash[1 + i];
            if (c < '0' || c > '9')
                return false;
            p = p * 10 + (unsigned)(c - '0');
        }
        if (p > max)
            return false;
    }
    *plen = *v4 ? 96 + p : p;
    if (*plen < 128)
        *addr &= ~(U128_MAX >> *plen);
    return true;
}

bool intel_add(intel_builder *b, intel_type type, size_t hash_len, const char *value,
               size_t vlen, const char *provider, const char *confidence,
               const char *description, int64_t valid_until_ms, char *err, size_t errlen)
{
    char show[80];
    /* trim blanks around the value: feeds pad columns */
    while (vlen && (*value == ' ' || *value == '\t')) {
        value++;
        vlen--;
    }
    while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        vlen--;
    if (vlen == 0) {
        snprintf(err, errlen, "empty indicator value");
        return false;
    }
    if (vlen > INTEL_MAX_VALUE) {
        snprintf(err, errlen, "indicator value longer than %d bytes", INTEL_MAX_VALUE);
        return false;
    }
    char key[INTEL_MAX_VALUE + 2];
    size_t klen = 0;
    uint8_t tn;
    bool is_cidr = false;
    u128 addr = 0;
    unsigned plen = 128;
    bool v4 = false;
    if (type == INTEL_ANY) {
        if (parse_ip_or_cidr(value, vlen, &addr, &plen, &v4))
            type = INTEL_IP;
        else if (hash_key(value, vlen, key, &klen))
            type = INTEL_FILE;
        else if (memmem(value, vlen, "://", 3))
            type = INTEL_URL;
        else
            type = INTEL_DOMAIN;
    }
    switch (type) {
    case INTEL_IP:
        if (!parse_ip_or_cidr(value, vlen, &addr, &plen, &v4)) {
            snprintf(err, errlen, "invalid IP address or CIDR \"%s\"",
                     shown(value, vlen, show, sizeof(show)));
            return false;
        }
        tn = v4 ? TN_IPV4 : TN_IPV6;
        if (plen < 128)
            is_cidr = true;
        else
            klen = addr_key(addr, key);
        break;
    case INTEL_DOMAIN:
        if (!domain_key(value, vlen, key, &klen)) {
            snprintf(err, errlen, "invalid domain name \"%s\"",
                     shown(value, vlen, show, sizeof(show)));
            return false;
        }
        tn = TN_DOMAIN;
        break;
    case INTEL_URL:
        if (!url_key(value, vlen, key, &klen)) {
            snprintf(err, errlen, "invalid URL \"%s\"", shown(value, vlen, show, sizeof(show)));
            return false;
        }
        tn = TN_URL;
        break;
    case INTEL_FILE:
        if (!hash_key(value, vlen, key, &klen) || (hash_len && vlen != hash_len)) {
            if (hash_len)
                snprintf(err, errlen, "invalid %s hash \"%s\" (want %zu hex digits)",
                         hash_len == 32 ? "MD5" : hash_len == 40 ? "SHA-1" : "SHA-256",
                         shown(value, vlen, show, sizeof(show)), hash_len);
            else
                snprintf(err, errlen,
                         "invalid file hash \"%s\" (want 32, 40 or 64 hex digits)",
                         shown(value, vlen, show, sizeof(show)));
            return false;
        }
        tn = TN_FILE;
        break;
    default:
        snprintf(err, errlen, "unknown indicator type");
        return false;
    }
    if (!grow((void **)&b->inds, &b->inds_cap, b->ninds, sizeof(intel_ind)))
        goto nomem;
    intel_ind *ind = &b->inds[b->ninds];
    memset(ind, 0, sizeof(*ind));
    ind->type_name = tn;
    ind->valid_until = valid_until_ms;
    /* the displayed value: the normalized key text for names, as given for IPs */
    if (tn == TN_DOMAIN || tn == TN_URL || tn == TN_FILE) {
        if (!pool_add(b, key + 1, klen - 1, &ind->value))
            goto nomem;
    } else if (!pool_add(b, value, vlen, &ind->value)) {
        goto nomem;
    }
    if (!is_cidr) {
        if (!pool_add(b, key, klen, &ind->key))
            goto nomem;
        ind->key_len = (uint16_t)klen;
    }
    if (!pool_add(b, provider, provider ? strlen(provider) : 0, &ind->provider) ||
        !pool_add(b, confidence, confidence ? strlen(confidence) : 0, &ind->confidence) ||
        !pool_add(b, description, description ? strlen(description) : 0, &ind->description))
        goto nomem;
    if (is_cidr) {
        if (!grow((void **)&b->cidrs, &b->cidrs_cap, b->ncidrs, sizeof(cidr)))
            goto nomem;
        u128 end = plen == 0 ? U128_MAX : addr | (U128_MAX >> plen);
        b->cidrs[b->ncidrs++] = (cidr){.start = addr, .end = end, .ind = (uint32_t)b->ninds,
                                       .plen = (uint8_t)plen};
    }
    b->ninds++;
    return true;
nomem:
    snprintf(err, errlen, "out of memory");
    return false;
}

/* --------------------------------------------------------------- build */

static int cidr_cmp(const void *pa, const void *pb)
{
    const cidr *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->plen != b->plen)
        return a->plen < b->plen ? -1 : 1; /* less specific first */
    return a->ind < b->ind ? -1 : a->ind > b->ind; /* first loaded first */
}

static bool emit_range(range **out, size_t *n, size_t *cap, u128 start, u128 end, uint32_t ind)
{
    if (!grow((void **)out, cap, *n, sizeof(range)))
        return false;
    (*out)[(*n)++] = (range){start, end, ind};
    return true;
}

/* Flatten nested CIDRs (they are either nested or disjoint) into disjoint
 * ranges, each owned by the most specific CIDR covering it. */
static bool flatten(intel_set *s, cidr *c, size_t n, size_t *dups)
{
    qsort(c, n, sizeof(*c), cidr_cmp);
    size_t cap = 0;
    cidr *stack[130];
    size_t sp = 0;
    u128 pos = 0;
    for (size_t i = 0; i < n; i++) {
        while (sp && stack[sp - 1]->end < c[i].start) {
            cidr *top = stack[--sp];
            if (pos <= top->end && !emit_range(&s->ranges, &s->nranges, &cap, pos, top->end,
                                               top->ind))
                return false;
            pos = top->end + 1; /* top->end < c[i].start: no overflow */
        }
        if (sp && stack[sp - 1]->start == c[i].start && stack[sp - 1]->plen == c[i].plen) {
            (*dups)++;
            continue;
        }
        if (sp && pos < c[i].start &&
            !emit_range(&s->ranges, &s->nranges, &cap, pos, c[i].start - 1, stack[sp - 1]->ind))
            return false;
        stack[sp++] = &c[i];
        pos = c[i].start;
        s->ncidrs++;
    }
    bool done = false;
    while (sp && !done) {
        cidr *top = stack[--sp];
        if (pos <= top->end &&
            !emit_range(&s->ranges, &s->nranges, &cap, pos, top->end, top->ind))
            return false;
        if (top->end == U128_MAX)
            done = true;
        else
            pos = top->end + 1;
    }
    return true;
}

static bool key_eq(const intel_set *s, const intel_ind *ind, const char *key, size_t klen)
{
    return ind->key_len == klen && memcmp(s->pool + ind->key, key, klen) == 0;
}

intel_set *intel_build(intel_builder *b, size_t *duplicates)
{
    size_t dups = 0;
    intel_set *s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    size_t nexact = b->ninds - b->ncidrs;
    size_t nslots = 16;
    while (nslots < nexact * 2)
        nslots *= 2;
    s->slots = calloc(nslots, sizeof(slot));
    if (!s->slots)
        goto fail;
    s->mask = nslots - 1;
    s->pool = b->pool;
    s->inds = b->inds;
    s->ninds = b->ninds;
    b->pool = NULL;
    b->inds = NULL;
    for (size_t i = 0; i < s->ninds; i++) {
        const intel_ind *ind = &s->inds[i];
        if (!ind->key_len)
            continue; /* a CIDR */
        const char *key = s->pool + ind->key;
        uint64_t h = hash_bytes(key, ind->key_len);
        uint32_t tag = (uint32_t)(h >> 32);
        size_t at = (size_t)h & s->mask;
        bool dup = false;
        while (s->slots[at].ind) {
            if (s->slots[at].tag == tag &&
                key_eq(s, &s->inds[s->slots[at].ind - 1], key, ind->key_len)) {
                dup = true;
                break;
            }
            at = (at + 1) & s->mask;
        }
        if (dup) {
            dups++;
            continue;
        }
        s->slots[at] = (slot){tag, (uint32_t)i + 1};
        s->nexact++;
    }
    if (b->ncidrs && !flatten(s, b->cidrs, b->ncidrs, &dups))
        goto fail;
    intel_builder_free(b);
    if (duplicates)
        *duplicates = dups;
    return s;
fail:
    intel_builder_free(b);
    intel_set_free(s);
    return NULL;
}

void intel_set_free(intel_set *s)
{
    if (!s)
        return;
    free(s->pool);
    free(s->inds);
    free(s->slots);
    free(s->ranges);
    free(s);
}

size_t intel_set_count(const intel_set *s)
{
    return s->nexact + s->ncidrs;
}

/* -------------------------------------------------------------- lookup */

static const intel_ind *find_exact(const intel_set *s, const char *key, size_t klen)
{
    uint64_t h = hash_bytes(key, klen);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t at = (size_t)h & s->mask;
    while (s->slots[at].ind) {
        const intel_ind *ind = &s->inds[s->slots[at].ind - 1];
        if (s->slots[at].tag == tag && key_eq(s, ind, key, klen))
            return ind;
        at = (at + 1) & s->mask;
    }
    return NULL;
}

static const intel_ind *find_range(const intel_set *s, u128 a)
{
    size_t lo = 0, hi = s->nranges; /* last range with start <= a */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ranges[mid].start <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const range *r = &s->ranges[lo - 1];
    return a <= r->end ? &s->inds[r->ind] : NULL;
}

static bool fill(const intel_set *s, const intel_ind *ind, int64_t now_ms, intel_match *out)
{
    if (!ind || ind->valid_until < now_ms)
        return false;
    out->type = TYPE_NAMES[ind->type_name];
    out->value = s->pool + ind->value;
    out->provider = ind->provider ? s->pool + ind->provider : NULL;
    out->confidence = ind->confidence ? s->pool + ind->confidence : NULL;
    out->description = ind->description ? s->pool + ind->description : NULL;
    return true;
}

bool intel_lookup(const intel_set *s, const char *value, size_t len, bool subdomains,
                  int64_t now_ms, intel_match *out)
{
    if (!s || len == 0 || len > INTEL_MAX_VALUE)
        return false;
    char key[INTEL_MAX_VALUE + 2];
    size_t klen;
    u128 a;
    bool v4;
    if (len < 46 && parse_addr(value, len, &a, &v4)) {
        klen = addr_key(a, key);
        if (fill(s, find_exact(s, key, klen), now_ms, out))
            return true;
        return s->nranges && fill(s, find_range(s, a), now_ms, out);
    }
    if (hash_key(value, len, key, &klen))
        return fill(s, find_exact(s, key, klen), now_ms, out);
    if (memmem(value, len, "://", 3))
        return url_key(value, len, key, &klen) && fill(s, find_exact(s, key, klen), now_ms, out);
    if (!domain_key(value, len, key, &klen))
        return false;
    if (fill(s, find_exact(s, key, klen), now_ms, out))
        return true;
    if (!subdomains)
        return false;
    /* parents: key is "d" + name; replace the first label by "d" */
    for (size_t i = 1; i < klen; i++) {
        if (key[i] != '.')
            continue;
        const char *rest = key + i + 1;
        size_t rlen = klen - i - 1;
        if (!memchr(rest, '.', rlen))
            break; /* never match a bare top-level domain */
        key[i] = 'd';
        if (fill(s, find_exact(s, key + i, rlen + 1), now_ms, out))
            return true;
        key[i] = '.';
    }
    return false;
}
