/*
 * The rule index: each rule is filed under one equality condition of its
 * prefilter (the field=value that reaches the fewest rules), hashed on the
 * normalized value, so an event only reaches the rules whose prefilter can
 * match it. Rules without such a condition are always candidates.
 * Built once per ruleset; read-only afterwards (shared by workers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

static void key_from_value(const vgl_pf_value *v, vgl_pf_key *k)
{
    k->text = v->text;
    k->len = v->len;
    k->is_num = v->is_num;
    k->is_int = v->is_int;
    k->i = v->i;
    k->num = v->num;
    k->hash = v->hash;
}

static vgl_index_field *index_field(vgl_rule_index *ix, const vgl_path *p, bool create)
{
    for (uint32_t i = 0; i < ix->nfields; i++)
        if (ix->fields[i].path == p)
            return &ix->fields[i];
    if (!create)
        return NULL;
    vgl_index_field *nf = realloc(ix->fields, (ix->nfields + 1) * sizeof(*nf));
    if (!nf)
        return NULL;
    ix->fields = nf;
    vgl_index_field *f = &ix->fields[ix->nfields++];
    memset(f, 0, sizeof(*f));
    f->path = p;
    return f;
}

vgl_index_entry *vgl_rule_index_probe(const vgl_index_field *f, const vgl_pf_key *k)
{
    if (!f->slots)
        return NULL;
    for (uint32_t h = k->hash & f->mask;; h = (h + 1) & f->mask) {
        vgl_index_entry *en = &f->slots[h];
        if (!en->key || vgl_pf_key_equal(k, en->key))
            return en;
    }
}

static bool field_grow(vgl_index_field *f)
{
    uint32_t ncap = f->slots ? (f->mask + 1) * 2 : 16;
    vgl_index_entry *old = f->slots;
    uint32_t oldcap = old ? f->mask + 1 : 0;
    f->slots = calloc(ncap, sizeof(*f->slots));
    if (!f->slots) {
        f->slots = old;
        return false;
    }
    f->mask = ncap - 1;
    for (uint32_t i = 0; i < oldcap; i++) {
        if (!old[i].key)
            continue;
        vgl_pf_key k;
        key_from_value(old[i].key, &k);
        *vgl_rule_index_probe(f, &k) = old[i];
    }
    free(old);
    return true;
}

static vgl_index_entry *entry_for(vgl_rule_index *ix, const vgl_path *p, const vgl_pf_value *v)
{
    vgl_index_field *f = index_field(ix, p, true);
    if (!f || ((f->used + 1) * 2 > (f->slots ? f->mask + 1 : 0) && !field_grow(f)))
        return NULL;
    vgl_pf_key k;
    key_from_value(v, &k);
    vgl_index_entry *en = vgl_rule_index_probe(f, &k);
    if (!en->key) {
        en->key = v;
        f->used++;
    }
    return en;
}

static bool entry_add(vgl_index_entry *en, uint32_t rule)
{
    if (en->nrules && en->rules[en->nrules - 1] == rule)
        return true;
    if (en->nrules == en->cap) {
        uint32_t ncap = en->cap ? en->cap * 2 : 4;
        uint32_t *nr = realloc(en->rules, ncap * sizeof(uint32_t));
        if (!nr)
            return false;
        en->rules = nr;
        en->cap = ncap;
    }
    en->rules[en->nrules++] = rule;
    return true;
}

/* The indexable condition of a prefilter: a plain equality whose values
 * reach the fewest rules in all (counts in `tally`); -1 if none. */
static int pick_cond(const vgl_prefilter *pf, vgl_rule_index *tally)
{
    int best = -1;
    uint64_t best_cost = UINT64_MAX;
    for (uint32_t i = 0; i < pf->n; i++) {
        const vgl_pf_cond *c = &pf->conds[i];
        if (c->node.kind != VGL_PF_EQ)
            continue;
        uint64_t cost = 0;
        for (uint32_t v = 0; v < c->node.nvals; v++) {
            vgl_index_entry *en = tally ? entry_for(tally, c->path, &c->node.vals[v]) : NULL;
            cost += en ? en->nrules : 1;
        }
        if (cost < best_cost) {
            best_cost = cost;
            best = (int)i;
        }
    }
    return best;
}

static bool index_cond(vgl_rule_index *ix, const vgl_pf_cond *c, uint32_t rule)
{
    for (uint32_t v = 0; v < c->node.nvals; v++) {
        vgl_index_entry *en = entry_for(ix, c->path, &c->node.vals[v]);
        if (!en || !entry_add(en, rule))
            return false;
    }
    return true;
}

/* The prefilters a rule is indexed by: its where, or (for sequence and
 * absence without an indexable where) every step's where. */
static size_t index_sources(const vgl_rule_def *r, const vgl_prefilter **out)
{
    size_t n = 0;
    if (pick_cond(&r->where, NULL) >= 0 || (r->kind != VGL_RULE_SEQUENCE &&
                                             r->kind != VGL_RULE_ABSENCE)) {
        out[n++] = &r->where;
        return n;
    }
    for (uint32_t s = 0; s < r->nsteps; s++)
        out[n++] = &r->steps[s].where;
    return n;
}

bool vgl_rule_index_build(vgl_ruleset *rs, char *err, size_t errlen)
{
    vgl_rule_index tally = {0};
    vgl_rule_index *ix = &rs->index;
    const vgl_prefilter *src[64];
    bool ok = true;
    /* pass 1: how many rules each field=value would reach */
    for (size_t r = 0; r < rs->nrules && ok; r++) {
        size_t n = index_sources(&rs->rules[r], src);
        for (size_t s = 0; s < n && ok; s++)
            for (uint32_t i = 0; i < src[s]->n && ok; i++)
                if (src[s]->conds[i].node.kind == VGL_PF_EQ)
                    ok = index_cond(&tally, &src[s]->conds[i], (uint32_t)r);
    }
    /* pass 2: each rule under its most selective equality */
    ix->always = calloc(rs->nrules + 1, sizeof(uint32_t));
    ok = ok && ix->always;
    for (size_t r = 0; r < rs->nrules && ok; r++) {
        size_t n = index_sources(&rs->rules[r], src);
        int picks[64];
        bool all = true;
        for (size_t s = 0; s < n; s++)
            all = (picks[s] = pick_cond(src[s], &tally)) >= 0 && all;
        if (!all) {
            ix->always[ix->nalways++] = (uint32_t)r;
            continue;
        }
        for (size_t s = 0; s < n && ok; s++)
            ok = index_cond(ix, &src[s]->conds[picks[s]], (uint32_t)r);
    }
    vgl_rule_index_free(&tally);
    if (!ok)
        snprintf(err, errlen, "out of memory building the rule index");
    return ok;
}

void vgl_rule_index_free(vgl_rule_index *ix)
{
    for (uint32_t i = 0; i < ix->nfields; i++) {
        vgl_index_field *f = &ix->fields[i];
        for (uint32_t s = 0; f->slots && s <= f->mask; s++)
            free(f->slots[s].rules);
        free(f->slots);
    }
    free(ix->fields);
    free(ix->always);
    memset(ix, 0, sizeof(*ix));
}

