/*
 * Automation rules, response safety (protected targets, rate limits) and
 * the encoding of the records written after detection (see automation.h,
 * docs/outputs.md).
 */
#include "automation.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "id.h"

/* ------------------------------------------------------------- text */

char *vgl_strndup_utf8(const char *s, size_t max)
{
    if (!s)
        return NULL;
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        n = max;
        /* back up over continuation bytes to the start of a character */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* ------------------------------------------------------- protected */

typedef struct net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned bits;
} net;

struct vgl_protected {
    net *nets;
    size_t nnets;
    char **accounts;
    size_t naccounts;
    char **hosts;
    size_t nhosts;
};

/* Parse "a.b.c.d", "::1", optionally with "/bits". IPv4-mapped IPv6
 * addresses become IPv4. */
static bool parse_net(const char *s, net *out, bool allow_prefix)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(addr) || (slash && !allow_prefix))
        return false;
    memcpy(addr, s, n);
    addr[n] = '\0';
    memset(out, 0, sizeof(*out));
    unsigned maxbits;
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        out->family = AF_INET6;
        maxbits = 128;
        if (memcmp(out->addr, mapped, 12) == 0) {
            memmove(out->addr, out->addr + 12, 4);
            memset(out->addr + 4, 0, 12);
            out->family = AF_INET;
            maxbits = 32;
            if (slash) {
                /* "::ffff:10.0.0.0/104" -> /8 */
                char *end;
                long b = strtol(slash + 1, &end, 10);
                if (*end || b < 96 || b > 128)
                    return false;
                out->bits = (unsigned)(b - 96);
                return true;
            }
        }
    } else {
        return false;
    }
    out->bits = maxbits;
    if (slash) {
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return false;
        long b = strtol(slash + 1, &end, 10);
        if (*end || b < 0 || (unsigned long)b > maxbits)
            return false;
        out->bits = (unsigned)b;
    }
    return true;
}

static bool net_contains(const net *n, const net *ip)
{
    if (n->family != ip->family)
        return false;
    unsigned full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->addr, ip->addr, full) != 0)
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xFF << (8 - rest));
        if ((n->addr[full] & mask) != (ip->addr[full] & mask))
            return false;
    }
    return true;
}

static char **dup_list(char *const *src, size_t n)
{
    char **d = calloc(n ? n : 1, sizeof(char *));
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(d[i] = vgl_strndup_utf8(src[i], VGL_TEXT_MAX))) {
            for (size_t j = 0; j < i; j++)
                free(d[j]);
            free(d);
            return NULL;
        }
    }
    return d;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        free(l[i]);
    free(l);
}

vgl_protected *vgl_protected_new(const vgl_response_cfg *r, vgl_diag *diag)
{
    vgl_protected *p = calloc(1, sizeof(*p));
    if (!p || !(p->nets = calloc(r->nprotected_ips ? r->nprotected_ips : 1, sizeof(net))) ||
        !(p->accounts = dup_list(r->protected_accounts, r->nprotected_accounts)) ||
        !(p->hosts = dup_list(r->protected_hosts, r->nprotected_hosts))) {
        vgl_diag_add(diag, "response.protected: out of memory");
        vgl_protected_free(p);
        return NULL;
    }
    p->naccounts = r->nprotected_accounts;
    p->nhosts = r->nprotected_hosts;
    for (size_t i = 0; i < r->nprotected_ips; i++) {
        if (!parse_net(r->protected_ips[i], &p->nets[p->nnets], true)) {
            vgl_diag_add(diag,
                         "response.protected.ips[%zu]: '%s' is not an IP address or CIDR "
                         "(e.g. 10.0.0.1, 10.0.0.0/8, fd00::/8)",
                         i, r->protected_ips[i]);
            vgl_protected_free(p);
            return NULL;
        }
        p->nnets++;
    }
    return p;
}

void vgl_protected_free(vgl_protected *p)
{
    if (!p)
        return;
    free(p->nets);
    free_list(p->accounts, p->naccounts);
    free_list(p->hosts, p->nhosts);
    free(p);
}

/* The user part of "DOMAIN\user" or "user@domain" (or the whole name). */
static void user_part(const char *s, const char **u, size_t *n)
{
    const char *bs = strrchr(s, '\\');
    if (bs)
        s = bs + 1;
    const char *at = strchr(s, '@');
    *u = s;
    *n = at ? (size_t)(at - s) : strlen(s);
}

static bool account_protected(const char *listed, const char *value)
{
    if (strcasecmp(listed, value) == 0)
        return true;
    if (strchr(listed, '@') || strchr(listed, '\\'))
        return false; /* a qualified entry must match exactly */
    const char *u;
    size_t n;
    user_part(value, &u, &n);
    return n == strlen(listed) && strncasecmp(u, listed, n) == 0;
}

static bool host_protected(const char *listed, const char *value)
{
    if (strcasecmp(listed, value) == 0)
        return true;
    size_t ln = strcspn(listed, "."), vn = strcspn(value, ".");
    /* "dc01" vs "dc01.corp.example.com" (either way round) */
    if (listed[ln] == '\0' && value[vn] == '.' && ln == vn)
        return strncasecmp(listed, value, ln) == 0;
    if (value[vn] == '\0' && listed[ln] == '.' && ln == vn)
        return strncasecmp(listed, value, ln) == 0;
    return false;
}

bool vgl_protected_match(const vgl_protected *p, const char *type, const char *value)
{
    if (!p || !type || !value)
        return false;
    if (strcmp(type, "ip") == 0) {
        net ip;
        if (!parse_net(value, &ip, false))
            return false;
        for (size_t i = 0; i < p->nnets; i++)
            if (net_contains(&p->nets[i], &ip))
                return true;
        return false;
    }
    if (strcmp(type, "account") == 0 || strcmp(type, "mailbox") == 0) {
        for (size_t i = 0; i < p->naccounts; i++)
            if (account_protected(p->accounts[i], value))
                return true;
        return false;
    }
    if (strcmp(type, "host") == 0) {
        for (size_t i = 0; i < p->nhosts; i++)
            if (host_protected(p->hosts[i], value))
                return true;
    }
    return false;
}

/* ------------------------------------------------------ rate limit */

typedef struct rate_window {
    const vgl_rate_limit_cfg *cfg;
    int64_t start_ms;
    uint32_t used;
    bool open;
} rate_window;

struct vgl_rate_limiter {
    rate_window *w;
    size_t n;
};

vgl_rate_limiter *vgl_rate_limiter_new(const vgl_response_cfg *r)
{
    vgl_rate_limiter *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->w = calloc(r->nrate_limits ? r->nrate_limits : 1, sizeof(rate_window));
    if (!rl->w) {
        free(rl);
        return NULL;
    }
    rl->n = r->nrate_limits;
    for (size_t i = 0; i < rl->n; i++)
        rl->w[i].cfg = &r->rate_limits[i];
    return rl;
}

void vgl_rate_limiter_free(vgl_rate_limiter *rl)
{
    if (!rl)
        return;
    free(rl->w);
    free(rl);
}

static bool limit_applies(const vgl_rate_limit_cfg *c, const char *action)
{
    return !c->action || strcmp(c->action, "*") == 0 || strcmp(c->action, action) == 0;
}

bool vgl_rate_limiter_take(vgl_rate_limiter *rl, const char *action, int64_t now_ms,
                           const vgl_rate_limit_cfg **tripped)
{
    if (tripped)
        *tripped = NULL;
    if (!rl)
        return true;
    for (size_t i = 0; i < rl->n; i++) {
        rate_window *w = &rl->w[i];
        if (!limit_applies(w->cfg, action))
            continue;
        /* an event time before the window start (out of order) counts in it */
        if (w->open && now_ms - w->start_ms >= w->cfg->window_ms)
            w->open = false;
        if (w->open && w->used >= w->cfg->count) {
            if (tripped)
                *tripped = w->cfg;
            return false;
        }
    }
    for (size_t i = 0; i < rl->n; i++) {
        rate_window *w = &rl->w[i];
        if (!limit_applies(w->cfg, action))
            continue;
        if (!w->open) {
            w->open = true;
            w->start_ms = now_ms;
            w->used = 0;
        }
        w->used++;
    }
    return true;
}

/* ------------------------------------------------- automation rules */

typedef struct compiled_action {
    vgl_pair *params;
    size_t nparams;
} compiled_action;

typedef struct compiled_rule {
    const vgl_automation_rule *r;
    compiled_action *acts;
} compiled_rule;

struct vgl_automation {
    compiled_rule *rules;
    size_t n;
};

/* A config node as JSON text (maps, lists) or its scalar text. */
static void cnode_json(vgl_buf *b, const vgl_cnode *n, int depth)
{
    if (depth > 64) {
        b->failed = true;
        return;
    }
    switch (n->kind) {
    case VGL_CN_SCALAR:
        if (n->is_null)
            vgl_buf_puts(b, "null");
        else
            vgl_buf_json_str(b, n->scalar, strlen(n->scalar));
        break;
    case VGL_CN_MAP:
        vgl_buf_putc(b, '{');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                vgl_buf_putc(b, ',');
            vgl_buf_json_str(b, n->keys[i], strlen(n->keys[i]));
            vgl_buf_putc(b, ':');
            cnode_json(b, n->items[i], depth + 1);
        }
        vgl_buf_putc(b, '}');
        break;
    case VGL_CN_SEQ:
        vgl_buf_putc(b, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                vgl_buf_putc(b, ',');
            cnode_json(b, n->items[i], depth + 1);
        }
        vgl_buf_putc(b, ']');
        break;
    }
}

static bool compile_params(compiled_action *ca, const vgl_cnode *m)
{
    if (!m || m->kind != VGL_CN_MAP || m->n == 0)
        return true;
    ca->params = calloc(m->n, sizeof(vgl_pair));
    if (!ca->params)
        return false;
    for (size_t i = 0; i < m->n; i++) {
        const vgl_cnode *v = m->items[i];
        char *val;
        if (v->kind == VGL_CN_SCALAR) {
            val = strdup(v->is_null ? "" : v->scalar);
        } else {
            vgl_buf b;
            vgl_buf_init(&b, 64 * 1024);
            cnode_json(&b, v, 0);
            val = b.failed ? NULL : strdup(b.data ? b.data : "");
            vgl_buf_free(&b);
        }
        char *key = strdup(m->keys[i]);
        if (!val || !key) {
            free(val);
            free(key);
            return false;
        }
        ca->params[ca->nparams++] = (vgl_pair){key, val};
    }
    return true;
}

vgl_automation *vgl_automation_new(const vgl_config *cfg, vgl_diag *diag)
{
    vgl_automation *am = calloc(1, sizeof(*am));
    if (!am || !(am->rules = calloc(cfg->nautomation ? cfg->nautomation : 1,
                                    sizeof(compiled_rule)))) {
        free(am);
        vgl_diag_add(diag, "automation: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nautomation; i++) {
        const vgl_automation_rule *r = &cfg->automation[i];
        compiled_rule *cr = &am->rules[am->n++];
        cr->r = r;
        cr->acts = calloc(r->nactions ? r->nactions : 1, sizeof(compiled_action));
        if (!cr->acts) {
            vgl_diag_add(diag, "automation: out of memory");
            vgl_automation_free(am);
            return NULL;
        }
        for (size_t s = 0; s < r->when.nseverity; s++) {
            vgl_severity sev;
            if (!vgl_severity_parse(r->when.severity[s], &sev)) {
                vgl_diag_add(diag,
                             "%s:%d: automation %s: unknown severity '%s' (informational, "
                             "low, medium, high, critical)",
                             cfg->path ? cfg->path : "config", r->line, r->name ? r->name : "?",
                             r->when.severity[s]);
                vgl_automation_free(am);
                return NULL;
            }
        }
        for (size_t j = 0; j < r->nactions; j++) {
            if (!r->actions[j].action || !compile_params(&cr->acts[j], r->actions[j].params)) {
                vgl_diag_add(diag, "%s:%d: automation %s: action %zu cannot be compiled",
                             cfg->path ? cfg->path : "config", r->line,
                             r->name ? r->name : "?", j);
                vgl_automation_free(am);
                return NULL;
            }
        }
    }
    return am;
}

void vgl_automation_free(vgl_automation *am)
{
    if (!am)
        return;
    for (size_t i = 0; i < am->n; i++) {
        compiled_rule *cr = &am->rules[i];
        for (size_t j = 0; cr->acts && j < cr->r->nactions; j++) {
            for (size_t k = 0; k < cr->acts[j].nparams; k++) {
                free((char *)cr->acts[j].params[k].key);
                free((char *)cr->acts[j].params[k].value);
            }
            free(cr->acts[j].params);
        }
        free(cr->acts);
    }
    free(am->rules);
    free(am);
}

size_t vgl_automation_count(const vgl_automation *am) { return am ? am->n : 0; }

const vgl_automation_rule *vgl_automation_rule_at(const vgl_automation *am, size_t i)
{
    return am->rules[i].r;
}

const vgl_pair *vgl_automation_params(const vgl_automation *am, size_t i, size_t j,
                                      size_t *nparams)
{
    *nparams = am->rules[i].acts[j].nparams;
    return am->rules[i].acts[j].params;
}

/* Equal ignoring case and the separators '-', '_', ' '. */
static bool tactic_eq(const char *a, const char *b)
{
    for (;;) {
        while (*a == '-' || *a == '_' || *a == ' ')
            a++;
        while (*b == '-' || *b == '_' || *b == ' ')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        a++;
        b++;
    }
}

static bool technique_eq(const char *listed, const char *t)
{
    if (strcasecmp(listed, t) == 0)
        return true;
    size_t n = strlen(listed);
    return strncasecmp(listed, t, n) == 0 && t[n] == '.';
}

bool vgl_automation_when_matches(const vgl_automation_when *w, int min_severity,
                                 const vgl_alert *a)
{
    if (min_severity >= 0 && (int)a->severity < min_severity)
        return false;
    if (w->nseverity) {
        bool ok = false;
        for (size_t i = 0; i < w->nseverity && !ok; i++)
            ok = strcmp(w->severity[i], vgl_severity_name(a->severity)) == 0;
        if (!ok)
            return false;
    }
    if (w->ntactic) {
        bool ok = false;
        for (size_t i = 0; i < w->ntactic && !ok && a->tactic; i++)
            ok = tactic_eq(w->tactic[i], a->tactic);
        if (!ok)
            return false;
    }
    if (w->ntechnique) {
        bool ok = false;
        for (size_t i = 0; i < w->ntechnique && !ok && a->technique; i++)
            ok = technique_eq(w->technique[i], a->technique);
        if (!ok)
            return false;
    }
    if (w->nrule_id) {
        bool ok = false;
        for (size_t i = 0; i < w->nrule_id && !ok && a->rule_id; i++)
            ok = strcmp(w->rule_id[i], a->rule_id) == 0;
        if (!ok)
            return false;
    }
    if (w->ntags) {
        bool ok = false;
        for (size_t i = 0; i < w->ntags && !ok; i++)
            for (size_t j = 0; j < a->ntags && !ok; j++)
                ok = a->tags[j] && strcmp(w->tags[i], a->tags[j]) == 0;
        if (!ok)
            return false;
    }
    if (w->nentity_type) {
        bool ok = false;
        for (size_t i = 0; i < w->nentity_type && !ok; i++)
            for (size_t j = 0; j < a->nentities && !ok; j++)
                ok = a->entities[j].type && strcmp(w->entity_type[i], a->entities[j].type) == 0;
        if (!ok)
            return false;
    }
    return true;
}

bool vgl_automation_matches(const vgl_automation *am, size_t i, const vgl_alert *a)
{
    return vgl_automation_when_matches(&am->rules[i].r->when, -1, a);
}

/* ---------------------------------------------------------- actions */

static const char *const status_names[] = {"requested",  "refused_protected",
                                           "refused_rate_limited", "succeeded",
                                           "failed",     "dry_run",
                                           "duplicate"};

const char *vgl_action_status_name(vgl_action_status s)
{
    return (unsigned)s <= VGL_ACT_DUPLICATE ? status_names[s] : "unknown";
}

bool vgl_action_status_parse(const char *s, vgl_action_status *out)
{
    for (int i = 0; i <= VGL_ACT_DUPLICATE; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (vgl_action_status)i;
            return true;
        }
    }
    return false;
}

void vgl_action_make_id(vgl_action *a)
{
    vgl_idhash h;
    vgl_idhash_init(&h, "action");
    vgl_idhash_add_str(&h, a->incident_id ? a->incident_id : "");
    vgl_idhash_add_str(&h, a->action);
    vgl_idhash_add_str(&h, a->target_type);
    vgl_idhash_add_str(&h, a->target);
    vgl_idhash_hex(&h, a->action_id);
}

/* ------------------------------------------------- value builders */

vgl_value *vgl_vb_add(vgl_vb *b, vgl_value *obj, const char *key)
{
    if (!obj)
        return NULL;
    vgl_value *v = vgl_object_add(b->ev, obj, key, strlen(key), true);
    if (!v)
        b->rc = VGL_ERR_NOMEM;
    return v;
}

void vgl_vb_str(vgl_vb *b, vgl_value *v, const char *s)
{
    if (!v)
        return;
    if (!s) {
        v->type = VGL_T_NULL;
        return;
    }
    vgl_value_set_str(b->ev, v, s, strlen(s), &b->rc);
}

void vgl_vb_time(vgl_vb *b, vgl_value *v, int64_t ms)
{
    char ts[40];
    if (ms == VGL_TS_NONE || !vgl_time_format(ms, ts, sizeof(ts)))
        vgl_vb_str(b, v, NULL);
    else
        vgl_vb_str(b, v, ts);
}

vgl_value *vgl_vb_push(vgl_vb *b, vgl_value *arr)
{
    if (!arr)
        return NULL;
    vgl_value *v = vgl_array_push(b->ev, arr);
    if (!v)
        b->rc = VGL_ERR_NOMEM;
    return v;
}

static void vb_entity(vgl_vb *b, vgl_value *v, const char *type, const char *value)
{
    if (!v)
        return;
    vgl_value_set_object(v);
    vgl_vb_str(b, vgl_vb_add(b, v, "type"), type ? type : "");
    vgl_vb_str(b, vgl_vb_add(b, v, "value"), value ? value : "");
}

vgl_rc vgl_action_to_value(const vgl_action *a, vgl_event *ev, vgl_value *root)
{
    vgl_vb b = {ev, VGL_OK};
    vgl_value_set_object(root);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "action_id"), a->action_id);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "action"), a->action);
    vb_entity(&b, vgl_vb_add(&b, root, "target"), a->target_type, a->target);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "incident_id"), a->incident_id);
    vgl_value *rules = vgl_vb_add(&b, root, "rule_ids");
    if (rules) {
        vgl_value_set_array(rules);
        for (size_t i = 0; i < a->nrule_ids; i++)
            vgl_vb_str(&b, vgl_vb_push(&b, rules), a->rule_ids[i]);
    }
    vgl_vb_str(&b, vgl_vb_add(&b, root, "automation"), a->automation);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "reason"), a->reason ? a->reason : "");
    vgl_vb_time(&b, vgl_vb_add(&b, root, "requested_at"), a->requested_ms);
    vgl_value *dr = vgl_vb_add(&b, root, "dry_run");
    if (dr) {
        dr->type = VGL_T_BOOL;
        dr->u.b = a->dry_run;
    }
    vgl_vb_time(&b, vgl_vb_add(&b, root, "expires_at"),
                a->expires_ms ? a->expires_ms : VGL_TS_NONE);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "status"), vgl_action_status_name(a->status));
    vgl_vb_str(&b, vgl_vb_add(&b, root, "error"), a->error);
    vgl_value *params = vgl_vb_add(&b, root, "params");
    if (params) {
        vgl_value_set_object(params);
        for (size_t i = 0; i < a->nparams; i++) {
            vgl_value *pv = vgl_object_add(ev, params, a->params[i].key,
                                           strlen(a->params[i].key), false);
            if (!pv)
                b.rc = VGL_ERR_NOMEM;
            vgl_vb_str(&b, pv, a->params[i].value ? a->params[i].value : "");
        }
    }
    vgl_vb_time(&b, vgl_vb_add(&b, root, "finished_at"),
                a->finished_ms ? a->finished_ms : VGL_TS_NONE);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "responder"), a->responder);
    return b.rc;
}

/* Evidence fields become a map of strings in Avro: scalars as their text,
 * arrays and objects as JSON. */
static void evidence_fields(vgl_vb *b, vgl_value *dst, const vgl_value *fields)
{
    if (!dst)
        return;
    vgl_value_set_object(dst);
    if (!fields || fields->type != VGL_T_OBJECT)
        return;
    vgl_buf tmp;
    vgl_buf_init(&tmp, 64 * 1024);
    for (uint32_t i = 0; i < fields->n; i++) {
        const vgl_member *m = &fields->u.members[i];
        if (m->v.type == VGL_T_NULL)
            continue;
        vgl_value *v = vgl_object_add(b->ev, dst, m->key, m->klen, false);
        if (!v) {
            b->rc = VGL_ERR_NOMEM;
            break;
        }
        char num[64];
        const char *s;
        size_t n;
        if (vgl_value_text(&m->v, num, sizeof(num), &s, &n)) {
            vgl_value_set_str(b->ev, v, s, n, &b->rc);
        } else {
            vgl_buf_reset(&tmp);
            vgl_json_encode_value(&tmp, &m->v);
            if (tmp.failed)
                vgl_value_set_str(b->ev, v, "", 0, &b->rc);
            else
                vgl_value_set_str(b->ev, v, tmp.data, tmp.len, &b->rc);
        }
    }
    vgl_buf_free(&tmp);
}

vgl_rc vgl_alert_to_value(const vgl_alert *a, vgl_event *ev, vgl_value *root)
{
    vgl_vb b = {ev, VGL_OK};
    vgl_value_set_object(root);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "alert_id"), a->alert_id);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "rule_id"), a->rule_id ? a->rule_id : "");
    vgl_vb_str(&b, vgl_vb_add(&b, root, "title"), a->title ? a->title : "");
    vgl_vb_str(&b, vgl_vb_add(&b, root, "description"), a->description);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "severity"), vgl_severity_name(a->severity));
    vgl_vb_str(&b, vgl_vb_add(&b, root, "tactic"), a->tactic);
    vgl_vb_str(&b, vgl_vb_add(&b, root, "technique"), a->technique);
    vgl_value *t = vgl_vb_add(&b, root, "time");
    vgl_vb_time(&b, t, a->time_ms);
    if (t && t->type == VGL_T_NULL)
        vgl_vb_str(&b, t, ""); /* the schema's time is required */
    vgl_value *ents = vgl_vb_add(&b, root, "entities");
    if (ents) {
        vgl_value_set_array(ents);
        for (size_t i = 0; i < a->nentities; i++)
            vb_entity(&b, vgl_vb_push(&b, ents), a->entities[i].type, a->entities[i].value);
    }
    vgl_value *evs = vgl_vb_add(&b, root, "evidence");
    if (evs) {
        vgl_value_set_array(evs);
        for (size_t i = 0; i < a->nevidence; i++) {
            const vgl_evidence *e = &a->evidence[i];
            vgl_value *o = vgl_vb_push(&b, evs);
            if (!o)
                break;
            vgl_value_set_object(o);
            vgl_vb_str(&b, vgl_vb_add(&b, o, "topic"), e->topic ? e->topic : "");
            vgl_value *p = vgl_vb_add(&b, o, "partition");
            if (p) {
                p->type = VGL_T_INT;
                p->u.i = e->partition;
            }
            vgl_value *off = vgl_vb_add(&b, o, "offset");
            if (off) {
                off->type = VGL_T_INT;
                off->u.i = e->offset;
            }
            vgl_vb_time(&b, vgl_vb_add(&b, o, "time"), e->ts_ms);
            evidence_fields(&b, vgl_vb_add(&b, o, "fields"), e->fields);
        }
    }
    vgl_value *tags = vgl_vb_add(&b, root, "tags");
    if (tags) {
        vgl_value_set_array(tags);
        for (size_t i = 0; i < a->ntags; i++)
            vgl_vb_str(&b, vgl_vb_push(&b, tags), a->tags[i] ? a->tags[i] : "");
    }
    return b.rc;
}

/* ------------------------------------------------- record encoding */

static const char *const schema_files[VGL_REC_COUNT] = {"alert.avsc", "incident.avsc",
                                                         "action.avsc"};

struct vgl_outcodec {
    bool avro;
    vgl_avro_codec *codecs[VGL_REC_COUNT];
    int32_t ids[VGL_REC_COUNT];
    size_t max_bytes;
};

struct vgl_outctx {
    vgl_outcodec *c;
    vgl_avro_ctx *ctx[VGL_REC_COUNT];
};

vgl_outcodec *vgl_outcodec_new(const vgl_outputs_cfg *o, char *err, size_t errlen)
{
    vgl_outcodec *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->avro = o->format != VGL_FMT_JSON;
    c->ids[VGL_REC_ALERT] = o->alert_schema_id;
    c->ids[VGL_REC_INCIDENT] = o->incident_schema_id;
    c->ids[VGL_REC_ACTION] = o->action_schema_id;
    if (!c->avro)
        return c;
    const char *dir = o->schema_dir ? o->schema_dir : ".";
    for (int k = 0; k < VGL_REC_COUNT; k++) {
        char path[4096], cerr[512];
        snprintf(path, sizeof(path), "%s/%s", dir, schema_files[k]);
        if (!(c->codecs[k] = vgl_avro_codec_from_file(path, cerr, sizeof(cerr)))) {
            snprintf(err, errlen, "outputs.format avro: %s", cerr);
            vgl_outcodec_free(c);
            return NULL;
        }
    }
    return c;
}

void vgl_outcodec_free(vgl_outcodec *c)
{
    if (!c)
        return;
    for (int k = 0; k < VGL_REC_COUNT; k++)
        vgl_avro_codec_free(c->codecs[k]);
    free(c);
}

bool vgl_outcodec_is_avro(const vgl_outcodec *c) { return c->avro; }

vgl_outctx *vgl_outctx_new(vgl_outcodec *c)
{
    vgl_outctx *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->c = c;
    for (int k = 0; c->avro && k < VGL_REC_COUNT; k++) {
        if (!(x->ctx[k] = vgl_avro_ctx_new(c->codecs[k]))) {
            vgl_outctx_free(x);
            return NULL;
        }
    }
    return x;
}

void vgl_outctx_free(vgl_outctx *x)
{
    if (!x)
        return;
    for (int k = 0; k < VGL_REC_COUNT; k++)
        vgl_avro_ctx_free(x->ctx[k]);
    free(x);
}

vgl_rc vgl_outctx_encode(vgl_outctx *x, vgl_record_kind kind, const vgl_value *v, vgl_buf *out,
                         char *err, size_t errlen)
{
    vgl_buf_reset(out);
    if (err && errlen)
        err[0] = '\0';
    if (!x->c->avro) {
        vgl_rc rc = vgl_json_encode_value(out, v);
        if (rc == VGL_OK && out->failed)
            rc = VGL_ERR_NOMEM;
        if (rc != VGL_OK)
            snprintf(err, errlen, "cannot encode the record as JSON: %s", vgl_rc_str(rc));
        return rc;
    }
    int32_t id = x->c->ids[kind];
    unsigned char h[5] = {0, (unsigned char)((uint32_t)id >> 24),
                          (unsigned char)((uint32_t)id >> 16), (unsigned char)((uint32_t)id >> 8),
                          (unsigned char)id};
    if (!vgl_buf_append(out, h, sizeof(h))) {
        snprintf(err, errlen, "out of memory");
        return VGL_ERR_NOMEM;
    }
    return vgl_avro_encode(x->ctx[kind], id, v, out, err, errlen);
}

/* ------------------------------------------------- action decoding */

static const vgl_value *member(const vgl_value *obj, const char *key)
{
    size_t n = strlen(key);
    return vgl_object_get(obj, key, n, vgl_hash(key, n));
}

/* A string member: required (error when absent/null) or optional (NULL). */
static bool get_text(const vgl_value *obj, const char *key, bool required, size_t max,
                     const char **out, char *err, size_t errlen)
{
    const vgl_value *v = member(obj, key);
    *out = NULL;
    if (!v || v->type == VGL_T_NULL) {
        if (required)
            snprintf(err, errlen, "field %s is missing", key);
        return !required;
    }
    if (v->type != VGL_T_STRING) {
        snprintf(err, errlen, "field %s: expected a string, got %s", key,
                 vgl_type_name((vgl_type)v->type));
        return false;
    }
    if (strlen(v->u.s) != v->n) {
        snprintf(err, errlen, "field %s holds a NUL byte", key);
        return false;
    }
    if (v->n > max) {
        snprintf(err, errlen, "field %s is longer than %zu bytes", key, max);
        return false;
    }
    if (required && v->n == 0) {
        snprintf(err, errlen, "field %s is empty", key);
        return false;
    }
    *out = v->u.s;
    return true;
}

static bool get_time(const vgl_value *obj, const char *key, bool required, int64_t *ms,
                     char *err, size_t errlen)
{
    const char *s;
    *ms = 0;
    if (!get_text(obj, key, required, 64, &s, err, errlen))
        return false;
    if (!s)
        return true;
    if (!vgl_time_parse(s, strlen(s), ms)) {
        snprintf(err, errlen, "field %s: '%s' is not an RFC 3339 time", key, s);
        return false;
    }
    return true;
}

vgl_rc vgl_outctx_decode_action(vgl_outctx *x, const void *buf, size_t len, vgl_event *ev,
                                vgl_action *a, vgl_pair *params, size_t maxparams,
                                const char **rule_ids, size_t maxrules, char *err,
                                size_t errlen)
{
    char derr[512];
    vgl_event_reset(ev);
    memset(a, 0, sizeof(*a));
    vgl_decode_limits lim = {.max_bytes = 1024 * 1024, .max_depth = 16};
    vgl_rc rc;
    if (!x->c->avro) {
        rc = vgl_json_decode(ev, buf, len, &lim, derr, sizeof(derr));
    } else {
        const unsigned char *p = buf;
        if (len < 5) {
            snprintf(err, errlen, "record of %zu bytes is shorter than the 5-byte Confluent header",
                     len);
            return VGL_ERR_INVALID;
        }
        if (p[0] != 0) {
            snprintf(err, errlen, "invalid Confluent header: magic byte is 0x%02x, expected 0x00",
                     p[0]);
            return VGL_ERR_INVALID;
        }
        int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
                               ((uint32_t)p[3] << 8) | p[4]);
        if (id != x->c->ids[VGL_REC_ACTION]) {
            snprintf(err, errlen, "schema id %d is not the action schema id %d", (int)id,
                     (int)x->c->ids[VGL_REC_ACTION]);
            return VGL_ERR_INVALID;
        }
        rc = vgl_avro_decode(x->ctx[VGL_REC_ACTION], ev, p + 5, len - 5, &lim, derr,
                             sizeof(derr));
    }
    if (rc != VGL_OK) {
        snprintf(err, errlen, "%s", derr);
        return VGL_ERR_INVALID;
    }
    const vgl_value *root = &ev->root;
    const char *id;
    if (!get_text(root, "action_id", true, 32, &id, err, errlen))
        return VGL_ERR_INVALID;
    size_t idlen = strlen(id);
    if (idlen != 32 || strspn(id, "0123456789abcdef") != 32) {
        snprintf(err, errlen, "field action_id: expected 32 hex digits");
        return VGL_ERR_INVALID;
    }
    memcpy(a->action_id, id, 33);
    const vgl_value *target = member(root, "target");
    if (!target || target->type != VGL_T_OBJECT) {
        snprintf(err, errlen, "field target: expected an object {type, value}");
        return VGL_ERR_INVALID;
    }
    const char *status = NULL;
    if (!get_text(root, "action", true, VGL_NAME_MAX, &a->action, err, errlen) ||
        !get_text(target, "type", true, VGL_NAME_MAX, &a->target_type, err, errlen) ||
        !get_text(target, "value", true, VGL_TEXT_MAX, &a->target, err, errlen) ||
        !get_text(root, "incident_id", false, 64, &a->incident_id, err, errlen) ||
        !get_text(root, "automation", false, VGL_NAME_MAX, &a->automation, err, errlen) ||
        !get_text(root, "reason", false, VGL_TEXT_MAX * 2, &a->reason, err, errlen) ||
        !get_text(root, "status", false, 32, &status, err, errlen) ||
        !get_text(root, "error", false, VGL_TEXT_MAX * 2, &a->error, err, errlen) ||
        !get_time(root, "requested_at", true, &a->requested_ms, err, errlen) ||
        !get_time(root, "expires_at", false, &a->expires_ms, err, errlen))
        return VGL_ERR_INVALID;
    if (status && !vgl_action_status_parse(status, &a->status)) {
        snprintf(err, errlen, "field status: unknown status '%s'", status);
        return VGL_ERR_INVALID;
    }
    const vgl_value *dr = member(root, "dry_run");
    if (dr && dr->type != VGL_T_NULL) {
        if (dr->type != VGL_T_BOOL) {
            snprintf(err, errlen, "field dry_run: expected a boolean");
            return VGL_ERR_INVALID;
        }
        a->dry_run = dr->u.b;
    }
    const vgl_value *rules = member(root, "rule_ids");
    if (rules && rules->type == VGL_T_ARRAY) {
        for (uint32_t i = 0; i < rules->n && a->nrule_ids < maxrules; i++) {
            const vgl_value *r = &rules->u.items[i];
            if (r->type == VGL_T_STRING && strlen(r->u.s) == r->n)
                rule_ids[a->nrule_ids++] = r->u.s;
        }
        a->rule_ids = rule_ids;
    } else if (rules && rules->type != VGL_T_NULL) {
        snprintf(err, errlen, "field rule_ids: expected an array of strings");
        return VGL_ERR_INVALID;
    }
    const vgl_value *pm = member(root, "params");
    if (pm && pm->type == VGL_T_OBJECT) {
        for (uint32_t i = 0; i < pm->n; i++) {
            const vgl_member *m = &pm->u.members[i];
            if (a->nparams >= maxparams) {
                snprintf(err, errlen, "field params: more than %zu parameters", maxparams);
                return VGL_ERR_INVALID;
            }
            if (m->v.type != VGL_T_STRING || strlen(m->v.u.s) != m->v.n ||
                strlen(m->key) != m->klen) {
                snprintf(err, errlen, "field params.%.*s: expected a string without NUL bytes",
                         (int)(m->klen > 64 ? 64 : m->klen), m->key);
                return VGL_ERR_INVALID;
            }
            params[a->nparams++] = (vgl_pair){m->key, m->v.u.s};
        }
        a->params = params;
    } else if (pm && pm->type != VGL_T_NULL) {
        snprintf(err, errlen, "field params: expected an object of strings");
        return VGL_ERR_INVALID;
    }
    return VGL_OK;
}
