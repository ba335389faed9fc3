/*
 * Rule prefilters: `where = {...}` compiled to C structures, matched
 * against events without entering Lua. See prefilter.h.
 */
#include "prefilter.h"

#include <ctype.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define EQ_SET_MIN 8 /* EQ lists at least this long get a hash set */
#define MAX_NESTING 16

/* ASCII case folding (no locale: the same on every host) */
static inline unsigned char low(unsigned char c)
{
    return (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
}

#define LOW(c) low((unsigned char)(c))

/* ------------------------------------------------------- normalization */

static uint32_t hash_ci(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= LOW(s[i]);
        h *= 16777619u;
    }
    return h;
}

static uint32_t hash_num(double d)
{
    if (d == 0)
        d = 0; /* -0 and 0 are equal */
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return vgl_hash((const char *)&bits, sizeof(bits)) ^ 0x9e3779b9u;
}

/* Cheap test before strtod: numbers start with a digit, sign or dot. */
static bool maybe_numeric(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    char c = s[0];
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
}

/* Parse s as a whole number. Integers that fit are kept exact. */
static bool parse_number(const char *s, size_t n, double *d, bool *is_int, int64_t *i)
{
    if (!maybe_numeric(s, n))
        return false;
    char tmp[65], *end;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double v = strtod(tmp, &end);
    if (end == tmp || *end != '\0' || !isfinite(v))
        return false;
    *d = v;
    *is_int = false;
    errno = 0;
    long long ll = strtoll(tmp, &end, 10);
    if (errno == 0 && *end == '\0') {
        *is_int = true;
        *i = ll;
    }
    return true;
}

bool vgl_pf_value_set(vgl_pf_value *out, const char *s, size_t len)
{
    memset(out, 0, sizeof(*out));
    out->text = malloc(len + 1);
    if (!out->text)
        return false;
    for (size_t i = 0; i < len; i++)
        out->text[i] = (char)LOW(s[i]);
    out->text[len] = '\0';
    out->len = (uint32_t)len;
    if (parse_number(s, len, &out->num, &out->is_int, &out->i)) {
        out->is_num = true;
        out->hash = hash_num(out->num);
    } else {
        out->hash = hash_ci(s, len);
    }
    return true;
}

bool vgl_pf_key_of(const vgl_value *v, vgl_pf_key *k, char *buf, size_t buflen)
{
    k->is_num = k->is_int = false;
    switch (v->type) {
    case VGL_T_INT:
        k->is_num = k->is_int = true;
        k->i = v->u.i;
        k->num = (double)v->u.i;
        k->hash = hash_num(k->num);
        k->text = NULL;
        k->len = 0;
        return true;
    case VGL_T_DOUBLE:
        if (!isfinite(v->u.d))
            break;
        k->is_num = true;
        k->num = v->u.d;
        k->hash = hash_num(k->num);
        k->text = NULL;
        k->len = 0;
        return true;
    case VGL_T_STRING:
        if (parse_number(v->u.s, v->n, &k->num, &k->is_int, &k->i)) {
            k->is_num = true;
            k->hash = hash_num(k->num);
            return true;
        }
        k->text = v->u.s;
        k->len = v->n;
        k->hash = hash_ci(v->u.s, v->n);
        return true;
    case VGL_T_BOOL:
        break;
    default:
        return false;
    }
    if (!vgl_value_text(v, buf, buflen, &k->text, &k->len))
        return false;
    k->hash = hash_ci(k->text, k->len);
    return true;
}

bool vgl_pf_key_equal(const vgl_pf_key *k, const vgl_pf_value *v)
{
    if (k->hash != v->hash || k->is_num != v->is_num)
        return false;
    if (k->is_num) {
        if (k->is_int && v->is_int)
            return k->i == v->i;
        return k->num == v->num;
    }
    if (k->len != v->len)
        return false;
    for (size_t i = 0; i < k->len; i++)
        if (LOW(k->text[i]) != (unsigned char)v->text[i])
            return false;
    return true;
}

/* ------------------------------------------------------------ matching */

static bool prefix_ci(const char *s, size_t sn, const char *p, size_t pn)
{
    if (pn > sn)
        return false;
    for (size_t i = 0; i < pn; i++)
        if (LOW(s[i]) != (unsigned char)p[i])
            return false;
    return true;
}

static bool contains_ci(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0)
        return true;
    if (nn > hn)
        return false;
    unsigned char first = (unsigned char)n[0];
    for (size_t i = 0; i + nn <= hn; i++) {
        if (LOW(h[i]) != first)
            continue;
        size_t j = 1;
        while (j < nn && LOW(h[i + j]) == (unsigned char)n[j])
            j++;
        if (j == nn)
            return true;
    }
    return false;
}

/* Length of the UTF-8 character at s (1 for invalid bytes). */
static size_t utf8_len(const char *s, size_t n)
{
    size_t k = 1;
    while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80 && k < 4)
        k++;
    return k;
}

/* Glob with * and ?, no escapes (a backslash is a literal path separator).
 * Iterative with one backtrack point: linear in practice, never exponential. */
static bool like_ci(const char *s, size_t sn, const char *p, size_t pn)
{
    size_t si = 0, pi = 0, star = SIZE_MAX, mark = 0;
    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pn && p[pi] == '?') {
            pi++;
            si += utf8_len(s + si, sn - si);
        } else if (pi < pn && (unsigned char)p[pi] == LOW(s[si])) {
            pi++;
            si++;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            mark += utf8_len(s + mark, sn - mark);
            si = mark;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

static bool parse_ip(const char *s, size_t n, uint8_t addr[16], int *family)
{
    char tmp[64];
    if (n < 2 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, addr) == 1) {
        *family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, tmp, addr) == 1) {
        *family = 6;
        return true;
    }
    return false;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, int bits)
{
    int bytes = bits / 8, rem = bits % 8;
    if (memcmp(a, b, (size_t)bytes) != 0)
        return false;
    if (rem == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool cidr_match(const vgl_pf_node *n, const char *s, size_t len)
{
    uint8_t addr[16];
    int fam;
    if (!parse_ip(s, len, addr, &fam))
        return false;
    if (fam == 6 && n->family == 4) {
        /* ::ffff:a.b.c.d is the IPv4 address a.b.c.d */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(addr, mapped, 12) != 0)
            return false;
        return prefix_equal(addr + 12, n->addr, n->prefix);
    }
    return fam == n->family && prefix_equal(addr, n->addr, n->prefix);
}

static bool eq_match(const vgl_pf_node *n, const vgl_value *v)
{
    char buf[32];
    vgl_pf_key k;
    if (!vgl_pf_key_of(v, &k, buf, sizeof(buf)))
        return false;
    if (n->slots) {
        for (uint32_t h = k.hash & n->mask;; h = (h + 1) & n->mask) {
            uint32_t s = n->slots[h];
            if (s == 0)
                return false;
            if (vgl_pf_key_equal(&k, &n->vals[s - 1]))
                return true;
        }
    }
    for (uint32_t i = 0; i < n->nvals; i++)
        if (vgl_pf_key_equal(&k, &n->vals[i]))
            return true;
    return false;
}

/* glibc's regexec tries every start position: an unanchored pattern costs
 * O(length^2) on hostile input (900 KB of command line took minutes). A
 * regex therefore sees at most the first and the last VGL_RE_WINDOW bytes
 * of a value (cmd.exe's own command-line limit is 8191 characters); the
 * substring matchers (contains/startswith/endswith/like) are linear and see
 * everything. docs/rules.md documents the window. */
#define VGL_RE_WINDOW 4096

static bool re_window_match(const regex_t *re, const char *s, size_t len)
{
    regmatch_t m[1];
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)(len <= VGL_RE_WINDOW ? len : VGL_RE_WINDOW);
    if (regexec(re, s, 1, m, REG_STARTEND) == 0)
        return true;
    if (len <= VGL_RE_WINDOW)
        return false;
    m[0].rm_so = (regoff_t)(len - VGL_RE_WINDOW);
    m[0].rm_eo = (regoff_t)len;
    return regexec(re, s, 1, m, REG_STARTEND | REG_NOTBOL) == 0;
}

static bool leaf_match(const vgl_pf_node *n, const vgl_value *v, const regex_t *re)
{
    if (n->kind == VGL_PF_EQ)
        return eq_match(n, v);
    if (n->kind == VGL_PF_GT || n->kind == VGL_PF_LT) {
        double d;
        if (v->type == VGL_T_BOOL || !vgl_value_number(v, &d))
            return false;
        return n->kind == VGL_PF_GT ? d > n->num : d < n->num;
    }
    char buf[32];
    const char *s;
    size_t len;
    if (!vgl_value_text(v, buf, sizeof(buf), &s, &len))
        return false;
    const vgl_pf_value *p = n->vals;
    switch (n->kind) {
    case VGL_PF_CONTAINS: return contains_ci(s, len, p->text, p->len);
    case VGL_PF_STARTSWITH: return prefix_ci(s, len, p->text, p->len);
    case VGL_PF_ENDSWITH:
        return len >= p->len && prefix_ci(s + len - p->len, p->len, p->text, p->len);
    case VGL_PF_LIKE: return like_ci(s, len, p->text, p->len);
    case VGL_PF_RE:
        if (n->nvals > 1) {
            uint32_t k = 1;
            while (k < n->nvals && !contains_ci(s, len, n->vals[k].text, n->vals[k].len))
                k++;
            if (k == n->nvals)
                return false; /* no required literal: cannot match */
        }
        return re_window_match(&re[n->regex], s, len);
    case VGL_PF_CIDR: return cidr_match(n, s, len);
    default: return false;
    }
}

static bool value_match(const vgl_pf_node *n, const vgl_value *v, const regex_t *re, int depth)
{
    if (v->type == VGL_T_ARRAY) {
        if (depth > MAX_NESTING)
            return false;
        for (uint32_t i = 0; i < v->n; i++)
            if (value_match(n, &v->u.items[i], re, depth + 1))
                return true;
        return false;
    }
    return leaf_match(n, v, re);
}

bool vgl_pf_node_match(const vgl_pf_node *n, const vgl_value *v, const regex_t *re)
{
    switch (n->kind) {
    case VGL_PF_NEG: return !vgl_pf_node_match(&n->kids[0], v, re);
    case VGL_PF_ANY:
        for (uint32_t i = 0; i < n->nkids; i++)
            if (vgl_pf_node_match(&n->kids[i], v, re))
                return true;
        return false;
    case VGL_PF_EXISTS: return v && v->type != VGL_T_NULL;
    default: return v && value_match(n, v, re, 0);
    }
}

bool vgl_prefilter_match(const vgl_prefilter *pf, const vgl_event *ev, const regex_t *re)
{
    for (uint32_t i = 0; i < pf->n; i++) {
        const vgl_pf_cond *c = &pf->conds[i];
        if (!vgl_pf_node_match(&c->node, vgl_event_get(ev, c->path), re))
            return false;
    }
    return true;
}

/* ----------------------------------------------------------- compiling */

typedef struct compiler {
    lua_State *L;
    vgl_pf_patterns *pats;
    char *err;
    size_t errlen;
    const char *field;
} compiler;

static bool fail(compiler *c, const char *what)
{
    snprintf(c->err, c->errlen, "where[\"%s\"]: %s", c->field, what);
    return false;
}

static void node_free(vgl_pf_node *n)
{
    for (uint32_t i = 0; i < n->nvals; i++)
        free(n->vals[i].text);
    free(n->vals);
    free(n->slots);
    for (uint32_t i = 0; i < n->nkids; i++)
        node_free(&n->kids[i]);
    free(n->kids);
    memset(n, 0, sizeof(*n));
}

static bool is_matcher(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, VGL_MATCHER_MT);
    bool yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

static bool scalar_value(compiler *c, int idx, vgl_pf_value *out)
{
    lua_State *L = c->L;
    char buf[64];
    const char *s;
    size_t len;
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        s = lua_toboolean(L, idx) ? "true" : "false";
        len = strlen(s);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            len = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)lua_tointeger(L, idx));
        else if (isfinite(lua_tonumber(L, idx)))
            len = (size_t)snprintf(buf, sizeof(buf), "%.17g", lua_tonumber(L, idx));
        else
            return fail(c, "a number must be finite");
        s = buf;
        break;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        break;
    default: {
        char what[80];
        snprintf(what, sizeof(what), "a %s is not a value or a vigil matcher",
                 luaL_typename(L, idx));
        return fail(c, what);
    }
    }
    if (!vgl_pf_value_set(out, s, len))
        return fail(c, "out of memory");
    return true;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

static bool build_eq_set(compiler *c, vgl_pf_node *n)
{
    if (n->nvals < EQ_SET_MIN)
        return true;
    uint32_t cap = pow2_at_least(n->nvals * 2);
    n->slots = calloc(cap, sizeof(uint32_t));
    if (!n->slots)
        return fail(c, "out of memory");
    n->mask = cap - 1;
    for (uint32_t i = 0; i < n->nvals; i++) {
        uint32_t h = n->vals[i].hash & n->mask;
        while (n->slots[h])
            h = (h + 1) & n->mask;
        n->slots[h] = i + 1;
    }
    return true;
}

static bool compile_node(compiler *c, int idx, vgl_pf_node *n, int depth);


/* ------------------------------------------- required literals of a regex
 *
 * A literal that every match of a POSIX ERE must contain lets the matcher
 * skip regexec (glibc's REG_ICASE matcher costs far more than a substring
 * scan) on the values that cannot match. From the top-level concatenation
 * of the pattern we take either a run of plain characters, or a group that
 * is an alternation of plain strings (any of them must occur), and keep the
 * candidate whose shortest string is longest. A top-level `|`, or nothing of
 * at least 3 characters, gives no literal: regexec alone decides. The
 * literal is only a necessary condition, never a sufficient one. */

#define LIT_MAX 64   /* bytes per literal */
#define LIT_ALTS 16  /* strings of an alternation */

typedef struct lit_set {
    char s[LIT_ALTS][LIT_MAX + 1];
    size_t len[LIT_ALTS];
    size_t n;
} lit_set;

static size_t lit_set_min(const lit_set *ls)
{
    size_t m = SIZE_MAX;
    for (size_t i = 0; i < ls->n; i++)
        if (ls->len[i] < m)
            m = ls->len[i];
    return ls->n ? m : 0;
}

static bool is_special(char c) { return strchr(".[]()*+?{}|^$\\", c) != NULL; }

static bool is_quant(char c) { return c == '?' || c == '*' || c == '{'; }

/* End of the bracket expression starting at p[i] == '['. */
static size_t skip_bracket(const char *p, size_t len, size_t i)
{
    i++;
    if (i < len && p[i] == '^')
        i++;
    if (i < len && p[i] == ']')
        i++;
    while (i < len && p[i] != ']') {
        if (p[i] == '[' && i + 1 < len && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
            char close = p[i + 1];
            i += 2;
            while (i + 1 < len && !(p[i] == close && p[i + 1] == ']'))
                i++;
            i += 2;
            continue;
        }
        i++;
    }
    return i < len ? i + 1 : len;
}

/* Index after the ')' matching p[i] == '(' (len if unbalanced). */
static size_t skip_group(const char *p, size_t len, size_t i)
{
    int depth = 0;
    while (i < len) {
        char c = p[i];
        if (c == '\\') {
            i += 2;
            continue;
        }
        if (c == '[') {
            i = skip_bracket(p, len, i);
            continue;
        }
        if (c == '(')
            depth++;
        else if (c == ')' && --depth == 0)
            return i + 1;
        i++;
    }
    return len;
}

/* The group body p[a..b) as an alternation of plain strings, if it is one. */
static bool plain_alternation(const char *p, size_t a, size_t b, lit_set *out)
{
    out->n = 0;
    size_t cur = 0;
    char buf[LIT_MAX + 1];
    for (size_t i = a; i <= b; i++) {
        if (i == b || p[i] == '|') {
            if (out->n == LIT_ALTS || cur == 0)
                return false;
            memcpy(out->s[out->n], buf, cur);
            out->s[out->n][cur] = 0;
            out->len[out->n++] = cur;
            cur = 0;
            continue;
        }
        char c = p[i];
        if (c == '\\' && i + 1 < b && !isalnum((unsigned char)p[i + 1]))
            c = p[++i];
        else if (is_special(c))
            return false;
        if (cur == LIT_MAX)
            return false;
        buf[cur++] = (char)LOW(c);
    }
    return out->n > 0;
}

static void consider(lit_set *best, const lit_set *cand)
{
    if (cand->n && lit_set_min(cand) > lit_set_min(best))
        *best = *cand;
}

static void required_literals(const char *p, size_t len, lit_set *best)
{
    best->n = 0;
    lit_set run = {.n = 1};
    size_t i = 0;
#define END_RUN()                                                                              \
    do {                                                                                       \
        run.s[0][run.len[0]] = 0;                                                              \
        consider(best, &run);                                                                  \
        run.len[0] = 0;                                                                        \
    } while (0)
    while (i < len) {
        char c = p[i];
        if (c == '|') { /* top-level alternation: no single requirement */
            best->n = 0;
            return;
        }
        if (c == '[') {
            END_RUN();
            i = skip_bracket(p, len, i);
            continue;
        }
        if (c == '(') {
            END_RUN();
            size_t e = skip_group(p, len, i);
            bool optional = e < len && is_quant(p[e]);
            lit_set alt;
            if (!optional && e > i + 1 && plain_alternation(p, i + 1, e - 1, &alt))
                consider(best, &alt);
            i = e;
            continue;
        }
        if (c == '.' || c == '^' || c == '$' || c == ')' || c == '*' || c == '+' || c == '?' ||
            c == '{' || c == '}') {
            END_RUN();
            if (c == '{')
                while (i < len && p[i] != '}')
                    i++;
            i++;
            continue;
        }
        size_t w = 1;
        if (c == '\\') {
            if (i + 1 >= len || isalnum((unsigned char)p[i + 1])) { /* \1 and friends */
                END_RUN();
                i += 2;
                continue;
            }
            c = p[i + 1];
            w = 2;
        }
        if (i + w < len && is_quant(p[i + w])) { /* optional or repeated: not required */
            END_RUN();
            i += w;
            continue;
        }
        if (run.len[0] == LIT_MAX)
            END_RUN();
        run.s[0][run.len[0]++] = (char)LOW(c);
        i += w;
        if (i < len && p[i] == '+') { /* at least once: required, but ends the run */
            END_RUN();
            i++;
        }
    }
    END_RUN();
#undef END_RUN
    if (lit_set_min(best) < 3)
        best->n = 0;
}

static bool text_arg(compiler *c, int idx, vgl_pf_node *n, const char **raw, size_t *rawlen)
{
    lua_getfield(c->L, idx, "arg");
    if (lua_type(c->L, -1) != LUA_TSTRING) {
        lua_pop(c->L, 1);
        return fail(c, "matcher needs a string");
    }
    *raw = lua_tolstring(c->L, -1, rawlen);
    n->vals = calloc(1, sizeof(vgl_pf_value));
    if (!n->vals || !vgl_pf_value_set(n->vals, *raw, *rawlen)) {
        lua_pop(c->L, 1);
        return fail(c, "out of memory");
    }
    n->nvals = 1;
    return true; /* the string stays on the stack: caller pops */
}

static bool compile_cidr(compiler *c, vgl_pf_node *n, const char *s, size_t len)
{
    char tmp[64], msg[160];
    snprintf(msg, sizeof(msg), "invalid CIDR \"%.*s\"", (int)(len < 64 ? len : 64), s);
    if (len == 0 || len >= sizeof(tmp))
        return fail(c, msg);
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *slash = strchr(tmp, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || errno)
            return fail(c, msg);
    }
    if (!parse_ip(tmp, strlen(tmp), n->addr, &n->family))
        return fail(c, msg);
    int max = n->family == 4 ? 32 : 128;
    if (bits < 0 && !slash)
        bits = max;
    if (bits < 0 || bits > max)
        return fail(c, msg);
    n->prefix = (int)bits;
    return true;
}

static bool compile_matcher(compiler *c, int idx, vgl_pf_node *n, int depth)
{
    lua_State *L = c->L;
    lua_getfield(L, idx, "kind");
    const char *kind = lua_tostring(L, -1);
    static const struct {
        const char *name;
        vgl_pf_kind kind;
    } kinds[] = {
        {"contains", VGL_PF_CONTAINS}, {"startswith", VGL_PF_STARTSWITH},
        {"endswith", VGL_PF_ENDSWITH}, {"like", VGL_PF_LIKE},
        {"re", VGL_PF_RE},             {"cidr", VGL_PF_CIDR},
        {"gt", VGL_PF_GT},             {"lt", VGL_PF_LT},
        {"exists", VGL_PF_EXISTS},     {"neg", VGL_PF_NEG},
        {"any", VGL_PF_ANY},
    };
    bool found = false;
    for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kind, kinds[i].name) == 0) {
            n->kind = kinds[i].kind;
            found = true;
        }
    }
    lua_pop(L, 1);
    if (!found)
        return fail(c, "unknown matcher");
    const char *s;
    size_t len;
    switch (n->kind) {
    case VGL_PF_CONTAINS:
    case VGL_PF_STARTSWITH:
    case VGL_PF_ENDSWITH:
    case VGL_PF_LIKE:
        if (!text_arg(c, idx, n, &s, &len))
            return false;
        lua_pop(L, 1);
        return true;
    case VGL_PF_RE: {
        if (!text_arg(c, idx, n, &s, &len))
            return false;
        regex_t re;
        int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB | REG_ICASE);
        if (rc != 0) {
            char why[128], msg[320];
            regerror(rc, &re, why, sizeof(why));
            snprintf(msg, sizeof(msg), "invalid regex \"%s\": %s", s, why);
            lua_pop(L, 1);
            return fail(c, msg);
        }
        regfree(&re);
        /* vals[0] is the pattern; vals[1..] the literals one of which any
         * match contains (see required_literals) */
        lit_set lits;
        required_literals(s, len, &lits);
        if (lits.n) {
            vgl_pf_value *nv = realloc(n->vals, (1 + lits.n) * sizeof(*nv));
            if (!nv) {
                lua_pop(L, 1);
                return fail(c, "out of memory");
            }
            n->vals = nv;
            for (size_t k = 0; k < lits.n; k++) {
                memset(&nv[1 + k], 0, sizeof(nv[0]));
                if (!vgl_pf_value_set(&nv[1 + k], lits.s[k], lits.len[k])) {
                    lua_pop(L, 1);
                    return fail(c, "out of memory");
                }
                n->nvals++;
            }
        }
        vgl_pf_patterns *p = c->pats;
        if (p->n == p->cap) {
            size_t ncap = p->cap ? p->cap * 2 : 8;
            char **np = realloc(p->pat, ncap * sizeof(char *));
            if (!np) {
                lua_pop(L, 1);
                return fail(c, "out of memory");
            }
            p->pat = np;
            p->cap = ncap;
        }
        p->pat[p->n] = strdup(s);
        lua_pop(L, 1);
        if (!p->pat[p->n])
            return fail(c, "out of memory");
        n->regex = (uint32_t)p->n++;
        return true;
    }
    case VGL_PF_CIDR: {
        if (!text_arg(c, idx, n, &s, &len))
            return false;
        bool ok = compile_cidr(c, n, s, len);
        lua_pop(L, 1);
        return ok;
    }
    case VGL_PF_GT:
    case VGL_PF_LT:
        lua_getfield(L, idx, "arg");
        if (!lua_isnumber(L, -1) || !isfinite(lua_tonumber(L, -1))) {
            lua_pop(L, 1);
            return fail(c, "gt/lt need a number");
        }
        n->num = lua_tonumber(L, -1);
        lua_pop(L, 1);
        return true;
    case VGL_PF_EXISTS: return true;
    case VGL_PF_NEG: {
        n->kids = calloc(1, sizeof(vgl_pf_node));
        if (!n->kids)
            return fail(c, "out of memory");
        n->nkids = 1;
        lua_getfield(L, idx, "arg");
        bool ok = compile_node(c, lua_gettop(L), &n->kids[0], depth + 1);
        lua_pop(L, 1);
        return ok;
    }
    case VGL_PF_ANY: {
        lua_getfield(L, idx, "arg");
        int t = lua_gettop(L);
        bool ok = false;
        if (lua_type(L, t) == LUA_TTABLE && !is_matcher(L, t)) {
            lua_Integer len2 = luaL_len(L, t);
            if (len2 <= 0 || len2 > 100000) {
                ok = fail(c, "vigil.any needs a non-empty list");
            } else if (!(n->kids = calloc((size_t)len2, sizeof(vgl_pf_node)))) {
                ok = fail(c, "out of memory");
            } else {
                ok = true;
                for (lua_Integer i = 1; ok && i <= len2; i++) {
                    lua_rawgeti(L, t, i);
                    ok = compile_node(c, lua_gettop(L), &n->kids[n->nkids++], depth + 1);
                    lua_pop(L, 1);
                }
            }
        } else {
            ok = fail(c, "vigil.any needs a list of conditions");
        }
        lua_pop(L, 1);
        return ok;
    }
    default: return fail(c, "unknown matcher");
    }
}

/* A list: all plain scalars make one EQ (with a hash set when long);
 * anything else is ANY of the compiled items. */
static bool compile_list(compiler *c, int idx, vgl_pf_node *n, int depth)
{
    lua_State *L = c->L;
    lua_Integer len = luaL_len(L, idx);
    if (len <= 0)
        return fail(c, "an empty list matches nothing");
    if (len > 1000000)
        return fail(c, "list is too long");
    bool scalars = true;
    for (lua_Integer i = 1; i <= len && scalars; i++) {
        int t = lua_rawgeti(L, idx, i);
        scalars = t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
        lua_pop(L, 1);
    }
    if (scalars) {
        n->kind = VGL_PF_EQ;
        n->vals = calloc((size_t)len, sizeof(vgl_pf_value));
        if (!n->vals)
            return fail(c, "out of memory");
        for (lua_Integer i = 1; i <= len; i++) {
            lua_rawgeti(L, idx, i);
            bool ok = scalar_value(c, lua_gettop(L), &n->vals[n->nvals]);
            lua_pop(L, 1);
            if (!ok)
                return false;
            n->nvals++;
        }
        return build_eq_set(c, n);
    }
    n->kind = VGL_PF_ANY;
    n->kids = calloc((size_t)len, sizeof(vgl_pf_node));
    if (!n->kids)
        return fail(c, "out of memory");
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        bool ok = compile_node(c, lua_gettop(L), &n->kids[n->nkids++], depth + 1);
        lua_pop(L, 1);
        if (!ok)
            return false;
    }
    return true;
}

static bool compile_node(compiler *c, int idx, vgl_pf_node *n, int depth)
{
    if (depth > MAX_NESTING)
        return fail(c, "conditions nested too deeply");
    if (!lua_checkstack(c->L, 8))
        return fail(c, "out of memory");
    int t = lua_type(c->L, idx);
    if (t == LUA_TTABLE && is_matcher(c->L, idx))
        return compile_matcher(c, idx, n, depth);
    if (t == LUA_TTABLE)
        return compile_list(c, idx, n, depth);
    n->kind = VGL_PF_EQ;
    n->vals = calloc(1, sizeof(vgl_pf_value));
    if (!n->vals)
        return fail(c, "out of memory");
    if (!scalar_value(c, idx, n->vals))
        return false;
    n->nvals = 1;
    return true;
}

bool vgl_prefilter_compile_cond(lua_State *L, int idx, const char *field, vgl_pf_cond *out,
                                vgl_pf_patterns *pats, char *err, size_t errlen)
{
    compiler c = {L, pats, err, errlen, field};
    memset(out, 0, sizeof(*out));
    idx = lua_absindex(L, idx);
    out->path = vgl_path_intern(field);
    if (!out->path)
        return fail(&c, "invalid field name");
    if (!compile_node(&c, idx, &out->node, 0)) {
        node_free(&out->node);
        return false;
    }
    return true;
}

static int cond_cmp(const void *a, const void *b)
{
    const vgl_pf_cond *x = a, *y = b;
    return strcmp(x->path->str, y->path->str);
}

bool vgl_prefilter_compile(lua_State *L, int idx, vgl_prefilter *out, vgl_pf_patterns *pats,
                           char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    idx = lua_absindex(L, idx);
    if (lua_isnil(L, idx))
        return true;
    if (!lua_istable(L, idx) || is_matcher(L, idx)) {
        snprintf(err, errlen, "where must be a table of field = condition");
        return false;
    }
    size_t cap = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            snprintf(err, errlen, "where keys must be field names (strings)");
            vgl_prefilter_free(out);
            return false;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 4;
            vgl_pf_cond *nc = realloc(out->conds, cap * sizeof(*nc));
            if (!nc) {
                lua_pop(L, 2);
                snprintf(err, errlen, "out of memory");
                vgl_prefilter_free(out);
                return false;
            }
            out->conds = nc;
        }
        const char *field = lua_tostring(L, -2);
        if (!vgl_prefilter_compile_cond(L, -1, field, &out->conds[out->n], pats, err, errlen)) {
            lua_pop(L, 2);
            vgl_prefilter_free(out);
            return false;
        }
        out->n++;
        lua_pop(L, 1);
    }
    /* Lua's table order is not stable across states: sort for one order */
    if (out->n > 1)
        qsort(out->conds, out->n, sizeof(*out->conds), cond_cmp);
    return true;
}

void vgl_prefilter_free(vgl_prefilter *pf)
{
    for (uint32_t i = 0; i < pf->n; i++)
        node_free(&pf->conds[i].node);
    free(pf->conds);
    memset(pf, 0, sizeof(*pf));
}

void vgl_pf_patterns_free(vgl_pf_patterns *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->pat[i]);
    free(p->pat);
    memset(p, 0, sizeof(*p));
}

bool vgl_pf_patterns_compile(const vgl_pf_patterns *pats, regex_t *re)
{
    for (size_t i = 0; i < pats->n; i++) {
        if (regcomp(&re[i], pats->pat[i], REG_EXTENDED | REG_NOSUB | REG_ICASE) != 0) {
            while (i-- > 0)
                regfree(&re[i]);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ describe */

static void describe_node(const vgl_pf_node *n, const vgl_pf_patterns *pats, vgl_buf *out)
{
    static const char *const names[] = {"eq", "contains", "startswith", "endswith",
                                        "like", "re", "cidr", "gt", "lt", "exists",
                                        "neg", "any"};
    vgl_buf_puts(out, names[n->kind]);
    vgl_buf_putc(out, '(');
    for (uint32_t i = 0; i < n->nvals; i++) {
        if (i)
            vgl_buf_putc(out, ',');
        vgl_buf_json_str(out, n->vals[i].text, n->vals[i].len);
    }
    if (n->kind == VGL_PF_GT || n->kind == VGL_PF_LT)
        vgl_buf_printf(out, "%.17g", n->num);
    if (n->kind == VGL_PF_CIDR)
        vgl_buf_printf(out, "/%d", n->prefix);
    (void)pats;
    for (uint32_t i = 0; i < n->nkids; i++) {
        if (i)
            vgl_buf_putc(out, ',');
        describe_node(&n->kids[i], pats, out);
    }
    vgl_buf_putc(out, ')');
}

void vgl_prefilter_describe(const vgl_prefilter *pf, vgl_buf *out)
{
    for (uint32_t i = 0; i < pf->n; i++) {
        vgl_buf_puts(out, pf->conds[i].path->str);
        vgl_buf_putc(out, '=');
        describe_node(&pf->conds[i].node, NULL, out);
        vgl_buf_putc(out, ';');
    }
}
