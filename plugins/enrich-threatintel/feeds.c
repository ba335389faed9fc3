/*
 * CSV and STIX 2.1 indicator feeds: see feeds.h.
 */
#include "feeds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "json.h"

#define MAX_COLUMNS 64
#define MAX_FIELD 8192

/* ------------------------------------------------------------ columns */

bool feed_columns_parse(const char *const *names, size_t n, feed_columns *out, char *err,
                        size_t errlen)
{
    *out = (feed_columns){-1, -1, -1, -1, -1, -1, n};
    if (n > MAX_COLUMNS) {
        snprintf(err, errlen, "columns: at most %d columns", MAX_COLUMNS);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int *slot = NULL;
        const char *c = names[i];
        if (!strcmp(c, "type"))
            slot = &out->type;
        else if (!strcmp(c, "value"))
            slot = &out->value;
        else if (!strcmp(c, "provider"))
            slot = &out->provider;
        else if (!strcmp(c, "confidence"))
            slot = &out->confidence;
        else if (!strcmp(c, "description"))
            slot = &out->description;
        else if (!strcmp(c, "valid_until"))
            slot = &out->valid_until;
        else if (!strcmp(c, "-") || !strcmp(c, "ignore") || !*c)
            continue;
        else {
            snprintf(err, errlen,
                     "columns: unknown column \"%.64s\" (use type, value, provider, confidence, "
                     "description, valid_until, or - to skip one)",
                     c);
            return false;
        }
        if (*slot >= 0) {
            snprintf(err, errlen, "columns: \"%s\" is named twice", c);
            return false;
        }
        *slot = (int)i;
    }
    if (out->value < 0) {
        snprintf(err, errlen, "columns: a \"value\" column is required");
        return false;
    }
    return true;
}

/* --------------------------------------------------------------- time */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool feed_parse_time(const char *s, size_t len, int64_t *ms)
{
    int Y, M, D, h, mi, sec;
    if (len < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    size_t i = 19;
    int frac_ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (s[i] - '0');
            nd++;
            i++;
        }
        if (nd == 0)
            return false;
        for (; nd < 3; nd++)
            frac_ms *= 10;
    }
    int64_t offset_min = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_min = (s[i] == '+' ? 1 : -1) * (oh * 60 + om);
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + frac_ms;
    return true;
}

/* ------------------------------------------------------------- common */

/* Report a skipped row, or fail the load in strict mode. */
static bool reject(const feed_opts *o, feed_stats *st, const char *msg, char *err, size_t errlen)
{
    if (o->strict) {
        snprintf(err, errlen, "%s", msg);
        return false;
    }
    st->rejected++;
    if (o->reject)
        o->reject(o->opaque, msg);
    return true;
}

/* ---------------------------------------------------------------- CSV */

static const char *col(const csv_reader *r, int c)
{
    return c >= 0 && (size_t)c < r->nfields ? csv_field(r, (size_t)c) : NULL;
}

bool feed_load_csv(intel_builder *b, const char *path, const feed_opts *o, feed_stats *st,
                   char *err, size_t errlen)
{
    csv_reader r;
    csv_limits lim = {.max_file = o->max_file, .max_fields = MAX_COLUMNS,
                      .max_field = MAX_FIELD, .comments = true};
    if (!csv_open(&r, path, &lim, err, errlen))
        return false;
    const feed_columns *c = &o->columns;
    char msg[1024], why[512];
    bool first = true, ok = true;
    int rc;
    while ((rc = csv_next(&r, msg, sizeof(msg))) != 0) {
        if (rc < 0) {
            if (!(ok = reject(o, st, msg, err, errlen)))
                break;
            continue;
        }
        if (first && o->header) {
            first = false;
            continue;
        }
        first = false;
        if ((size_t)c->value >= r.nfields) {
            snprintf(msg, sizeof(msg), "%s:%zu: %zu fields, the value is column %d", path,
                     r.rec_line, r.nfields, c->value + 1);
            if (!(ok = reject(o, st, msg, err, errlen)))
                break;
            continue;
        }
        intel_type type = INTEL_ANY;
        size_t hash_len = 0;
        const char *tname = col(&r, c->type);
        if (tname && !intel_type_parse(tname, strlen(tname), &type, &hash_len)) {
            snprintf(msg, sizeof(msg), "%s:%zu: unknown indicator type \"%.64s\"", path,
                     r.rec_line, tname);
            if (!(ok = reject(o, st, msg, err, errlen)))
                break;
            continue;
        }
        int64_t until = INTEL_NO_EXPIRY;
        const char *vu = col(&r, c->valid_until);
        if (vu && *vu) {
            if (!feed_parse_time(vu, strlen(vu), &until)) {
                snprintf(msg, sizeof(msg), "%s:%zu: valid_until \"%.64s\" is not an RFC 3339 time",
                         path, r.rec_line, vu);
                if (!(ok = reject(o, st, msg, err, errlen)))
                    break;
                continue;
            }
            if (until < o->now_ms) {
                st->expired++;
                continue;
            }
        }
        const char *value = csv_field(&r, (size_t)c->value);
        if (!intel_add(b, type, hash_len, value, csv_len(&r, (size_t)c->value),
                       col(&r, c->provider), col(&r, c->confidence), col(&r, c->description),
                       until, why, sizeof(why))) {
            if (!strcmp(why, "out of memory")) {
                snprintf(err, errlen, "%s: out of memory", path);
                ok = false;
                break;
            }
            snprintf(msg, sizeof(msg), "%s:%zu: %s", path, r.rec_line, why);
            if (!(ok = reject(o, st, msg, err, errlen)))
                break;
            continue;
        }
        st->loaded++;
    }
    csv_close(&r);
    return ok;
}

/* --------------------------------------------------------------- STIX */

#define MAX_IDENTITIES 4096

typedef struct identity {
    const char *id, *name;
} identity;

/* One comparison of a pattern: "ipv4-addr:value = '1.2.3.4'". */
typedef struct comparison {
    intel_type type;
    size_t hash_len;
    char value[INTEL_MAX_VALUE + 1];
    size_t len;
} comparison;

typedef struct pattern_parser {
    const char *p, *end;
    char *why;
    size_t whylen;
} pattern_parser;

static void pws(pattern_parser *pp)
{
    while (pp->p < pp->end && (*pp->p == ' ' || *pp->p == '\t' || *pp->p == '\n' ||
                               *pp->p == '\r'))
        pp->p++;
}

static bool pword(pattern_parser *pp, const char *w)
{
    pws(pp);
    size_t k = strlen(w);
    if ((size_t)(pp->end - pp->p) >= k && strncasecmp(pp->p, w, k) == 0) {
        pp->p += k;
        return true;
    }
    return false;
}

/* object path: TYPE ':' PROP ('.' PROP)*, PROP may be 'quoted' */
static bool parse_object_path(pattern_parser *pp, comparison *c)
{
    pws(pp);
    const char *s = pp->p;
    while (pp->p < pp->end && *pp->p != ':' && *pp->p != ' ' && *pp->p != '=')
        pp->p++;
    size_t tlen = (size_t)(pp->p - s);
    if (pp->p >= pp->end || *pp->p != ':') {
        snprintf(pp->why, pp->whylen, "expected TYPE:PROPERTY");
        return false;
    }
    pp->p++;
    char prop[64];
    size_t plen = 0;
    while (pp->p < pp->end && *pp->p != ' ' && *pp->p != '=' && *pp->p != '\t') {
        char ch = *pp->p++;
        if (ch == '\'')
            continue; /* hashes.'SHA-256' */
        if (plen + 1 >= sizeof(prop)) {
            snprintf(pp->why, pp->whylen, "property path too long");
            return false;
        }
        prop[plen++] = ch;
    }
    prop[plen] = '\0';
#define IS(t) (tlen == strlen(t) && strncmp(s, t, tlen) == 0)
    c->hash_len = 0;
    if ((IS("ipv4-addr") || IS("ipv6-addr")) && !strcmp(prop, "value"))
        c->type = INTEL_IP;
    else if (IS("domain-name") && !strcmp(prop, "value"))
        c->type = INTEL_DOMAIN;
    else if (IS("url") && !strcmp(prop, "value"))
        c->type = INTEL_URL;
    else if (IS("file") && !strncmp(prop, "hashes.", 7)) {
        const char *alg = prop + 7;
        if (!strcasecmp(alg, "MD5"))
            c->hash_len = 32;
        else if (!strcasecmp(alg, "SHA-1") || !strcasecmp(alg, "SHA1"))
            c->hash_len = 40;
        else if (!strcasecmp(alg, "SHA-256") || !strcasecmp(alg, "SHA256"))
            c->hash_len = 64;
        else {
            snprintf(pp->why, pp->whylen, "unsupported hash algorithm \"%.32s\"", alg);
            return false;
        }
        c->type = INTEL_FILE;
    } else {
        snprintf(pp->why, pp->whylen, "unsupported object path \"%.*s:%.32s\"",
                 (int)(tlen > 32 ? 32 : tlen), s, prop);
        return false;
    }
#undef IS
    return true;
}

static bool parse_comparison(pattern_parser *pp, comparison *c)
{
    if (!parse_object_path(pp, c))
        return false;
    pws(pp);
    if (pp->p >= pp->end || *pp->p != '=') {
        snprintf(pp->why, pp->whylen, "only '=' comparisons are supported");
        return false;
    }
    pp->p++;
    pws(pp);
    if (pp->p >= pp->end || *pp->p != '\'') {
        snprintf(pp->why, pp->whylen, "expected a quoted string");
        return false;
    }
    pp->p++;
    c->len = 0;
    for (;;) {
        if (pp->p >= pp->end) {
            snprintf(pp->why, pp->whylen, "unterminated string");
            return false;
        }
        char ch = *pp->p++;
        if (ch == '\'')
            break;
        if (ch == '\\') {
            if (pp->p >= pp->end || (*pp->p != '\'' && *pp->p != '\\')) {
                snprintf(pp->why, pp->whylen, "invalid escape in string");
                return false;
            }
            ch = *pp->p++;
        }
        if (c->len == INTEL_MAX_VALUE) {
            snprintf(pp->why, pp->whylen, "value longer than %d bytes", INTEL_MAX_VALUE);
            return false;
        }
        c->value[c->len++] = ch;
    }
    c->value[c->len] = '\0';
    return true;
}

/* "[a = 'x' OR b = 'y'] OR [c = 'z']": comparisons joined by OR inside and
 * between observation expressions. Anything else (AND, other operators,
 * qualifiers) is not evaluated. */
static size_t parse_pattern(const char *pat, size_t len, comparison *out, size_t max, char *why,
                            size_t whylen)
{
    pattern_parser pp = {pat, pat + len, why, whylen};
    size_t n = 0;
    for (;;) {
        pws(&pp);
        if (pp.p >= pp.end || *pp.p != '[') {
            snprintf(why, whylen, "expected '['");
            return 0;
        }
        pp.p++;
        for (;;) {
            if (n == max) {
                snprintf(why, whylen, "more than %zu comparisons", max);
                return 0;
            }
            if (!parse_comparison(&pp, &out[n]))
                return 0;
            n++;
            if (pword(&pp, "OR"))
                continue;
            pws(&pp);
            if (pp.p < pp.end && *pp.p == ']') {
                pp.p++;
                break;
            }
            snprintf(why, whylen, "only OR between comparisons is supported");
            return 0;
        }
        pws(&pp);
        if (pp.p >= pp.end)
            return n;
        if (!pword(&pp, "OR")) {
            snprintf(why, whylen, "only OR between observation expressions is supported");
            return 0;
        }
    }
}

static char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read %s: %s", path,
                 errno ? strerror(errno) : "not a regular file");
        close(fd);
        return NULL;
    }
    if ((unsigned long long)st.st_size > max) {
        snprintf(err, errlen, "%s: file of %lld bytes exceeds the limit of %zu bytes", path,
                 (long long)st.st_size, max);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return NULL;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
}

static const char *identity_name(const identity *ids, size_t n, const char *ref)
{
    for (size_t i = 0; ref && i < n; i++)
        if (!strcmp(ids[i].id, ref))
            return ids[i].name;
    return NULL;
}

#define MAX_COMPARISONS 64

static bool load_indicator(intel_builder *b, const char *path, const json_value *obj,
                           const identity *ids, size_t nids, comparison *cmps,
                           const feed_opts *o, feed_stats *st, char *err, size_t errlen)
{
    char msg[1024], why[512];
    const char *id = json_str(json_get(obj, "id"));
    if (!id)
        id = "(no id)";
    const json_value *revoked = json_get(obj, "revoked");
    if (revoked && revoked->type == JSON_BOOL && revoked->u.b) {
        st->expired++;
        return true;
    }
    const char *ptype = json_str(json_get(obj, "pattern_type"));
    if (ptype && strcmp(ptype, "stix")) {
        st->unsupported++;
        return true;
    }
    int64_t until = INTEL_NO_EXPIRY;
    const json_value *vu = json_get(obj, "valid_until");
    if (vu) {
        if (vu->type != JSON_STRING || !feed_parse_time(vu->u.s, vu->n, &until)) {
            snprintf(msg, sizeof(msg), "%s:%u: indicator %.100s: valid_until is not an RFC 3339 time",
                     path, (unsigned)obj->line, id);
            return reject(o, st, msg, err, errlen);
        }
        if (until < o->now_ms) {
            st->expired++;
            return true;
        }
    }
    const json_value *pat = json_get(obj, "pattern");
    if (!pat || pat->type != JSON_STRING) {
        snprintf(msg, sizeof(msg), "%s:%u: indicator %.100s has no pattern", path,
                 (unsigned)obj->line, id);
        return reject(o, st, msg, err, errlen);
    }
    size_t n = parse_pattern(pat->u.s, pat->n, cmps, MAX_COMPARISONS, why, sizeof(why));
    if (n == 0) {
        st->unsupported++;
        snprintf(msg, sizeof(msg), "%s:%u: indicator %.100s: pattern not evaluated: %s", path,
                 (unsigned)pat->line, id, why);
        if (o->reject)
            o->reject(o->opaque, msg);
        return true;
    }
    const char *provider = identity_name(ids, nids, json_str(json_get(obj, "created_by_ref")));
    char conf[32] = "";
    const json_value *cv = json_get(obj, "confidence");
    if (cv && cv->type == JSON_NUMBER && cv->u.num >= 0 && cv->u.num <= 100)
        snprintf(conf, sizeof(conf), "%d", (int)cv->u.num);
    const char *desc = json_str(json_get(obj, "description"));
    if (!desc)
        desc = json_str(json_get(obj, "name"));
    for (size_t i = 0; i < n; i++) {
        if (!intel_add(b, cmps[i].type, cmps[i].hash_len, cmps[i].value, cmps[i].len, provider,
                       conf, desc, until, why, sizeof(why))) {
            if (!strcmp(why, "out of memory")) {
                snprintf(err, errlen, "%s: out of memory", path);
                return false;
            }
            snprintf(msg, sizeof(msg), "%s:%u: indicator %.100s: %s", path, (unsigned)pat->line,
                     id, why);
            if (!reject(o, st, msg, err, errlen))
                return false;
            continue;
        }
        st->loaded++;
    }
    return true;
}

bool feed_load_stix(intel_builder *b, const char *path, const feed_opts *o, feed_stats *st,
                    char *err, size_t errlen)
{
    size_t len;
    char *buf = read_file(path, o->max_file, &len, err, errlen);
    if (!buf)
        return false;
    json_limits lim = {.max_bytes = o->max_file, .max_depth = 64, .max_string = 1 << 20};
    json_doc *doc = json_parse(path, buf, len, &lim, err, errlen);
    free(buf);
    if (!doc)
        return false;
    const json_value *root = json_root(doc);
    const json_value *objs = NULL;
    json_value single;
    if (root->type == JSON_OBJECT && json_get(root, "objects")) {
        objs = json_get(root, "objects");
    } else if (root->type == JSON_ARRAY) {
        objs = root;
    } else if (root->type == JSON_OBJECT) {
        single = (json_value){.type = JSON_ARRAY, .n = 1, .u.items = (json_value *)root};
        objs = &single;
    }
    if (!objs || objs->type != JSON_ARRAY) {
        snprintf(err, errlen, "%s: not a STIX bundle (expected an object with an \"objects\" "
                 "array)", path);
        json_free(doc);
        return false;
    }
    identity *ids = calloc(MAX_IDENTITIES, sizeof(*ids));
    comparison *cmps = malloc(MAX_COMPARISONS * sizeof(*cmps));
    size_t nids = 0;
    bool ok = ids && cmps;
    if (!ok)
        snprintf(err, errlen, "%s: out of memory", path);
    for (size_t i = 0; ok && i < objs->n && nids < MAX_IDENTITIES; i++) {
        const json_value *obj = &objs->u.items[i];
        const char *t = json_str(json_get(obj, "type"));
        const char *id = json_str(json_get(obj, "id"));
        const char *name = json_str(json_get(obj, "name"));
        if (t && id && name && !strcmp(t, "identity"))
            ids[nids++] = (identity){id, name};
    }
    for (size_t i = 0; ok && i < objs->n; i++) {
        const json_value *obj = &objs->u.items[i];
        if (obj->type != JSON_OBJECT) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s:%u: objects[%zu] is not an object", path,
                     (unsigned)obj->line, i);
            ok = reject(o, st, msg, err, errlen);
            continue;
        }
        const char *t = json_str(json_get(obj, "type"));
        if (!t || strcmp(t, "indicator"))
            continue;
        ok = load_indicator(b, path, obj, ids, nids, cmps, o, st, err, errlen);
    }
    free(ids);
    free(cmps);
    json_free(doc);
    return ok;
}
