/*
 * Test harness for source plugins: see plugin_harness.h.
 */
#include "plugin_harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* the worker's default per-event memory cap */
#define EVENT_MEMORY (4u << 20)

bool harness_open(harness *t, const char *dir, const char *name, const char *const *opts,
                  char **err)
{
    memset(t, 0, sizeof(*t));
    t->cfg.path = "vigil.yaml";
    t->dirs[0] = (char *)dir;
    t->cfg.plugin_path = t->dirs;
    t->cfg.nplugin_path = 1;
    t->pcfg[0].name = (char *)name;
    t->pcfg[0].line = 10;
    size_t n = 0;
    for (; opts && opts[2 * n] && n < 8; n++) {
        t->keys[n] = (char *)opts[2 * n];
        t->values[n] = (vgl_cnode){.kind = VGL_CN_SCALAR, .scalar = (char *)opts[2 * n + 1],
                                   .line = 12 + (int)n, .col = 20};
        t->items[n] = &t->values[n];
    }
    if (n) {
        t->map = (vgl_cnode){.kind = VGL_CN_MAP, .n = n, .keys = t->keys, .items = t->items,
                             .line = 12, .col = 7};
        t->pcfg[0].config = &t->map;
    }
    t->cfg.plugins = t->pcfg;
    t->cfg.nplugins = 1;
    t->ps = vgl_plugins_load(&t->cfg, &t->diag);
    if (!t->ps || vgl_plugins_prepare_workers(t->ps, 1, &t->diag) != VGL_OK) {
        if (err) {
            size_t len = 1;
            for (size_t i = 0; i < t->diag.n; i++)
                len += strlen(t->diag.msgs[i]) + 1;
            *err = calloc(1, len);
            for (size_t i = 0; i < t->diag.n; i++) {
                strcat(*err, t->diag.msgs[i]);
                strcat(*err, "\n");
            }
        }
        vgl_plugins_free(t->ps);
        t->ps = NULL;
        vgl_diag_free(&t->diag);
        return false;
    }
    t->pi = vgl_plugins_find(t->ps, name, VGL_PLUGIN_SOURCE);
    ck_assert_ptr_nonnull(t->pi);
    return true;
}

static void release(harness *t)
{
    if (t->have_batch)
        vgl_batch_free(&t->batch);
    t->have_batch = false;
    for (size_t i = 0; i < t->nevents; i++)
        vgl_event_destroy(&t->events[i]);
    free(t->events);
    t->events = NULL;
    t->nevents = 0;
}

void harness_run(harness *t, const char *const *records, size_t n)
{
    release(t);
    t->events = calloc(n ? n : 1, sizeof(vgl_event));
    ck_assert_ptr_nonnull(t->events);
    t->nevents = n;
    vgl_batch_init(&t->batch, NULL, NULL, NULL, NULL);
    t->have_batch = true;
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = &t->events[i];
        vgl_event_init(ev, EVENT_MEMORY);
        ev->meta.topic = "vigil.in.test";
        ev->meta.partition = 0;
        ev->meta.offset = (int64_t)i;
        ev->meta.received_ms = 1700000000000;
        ck_assert_int_eq(vgl_batch_add(&t->batch, ev), VGL_OK);
        char err[256];
        vgl_decode_limits lim = {.max_bytes = 1u << 20, .max_depth = 64};
        if (vgl_json_decode(ev, records[i], strlen(records[i]), &lim, err, sizeof(err)) !=
            VGL_OK)
            vgl_batch_fail(&t->batch, i, err); /* as the worker does */
    }
    ck_assert_int_eq(vgl_plugin_process(t->pi, 0, &t->batch), VGL_OK);
    ck_assert_uint_eq(t->batch.n, n); /* these plugins never expand records */
}

size_t harness_count(harness *t)
{
    return t->have_batch ? t->batch.n : 0;
}

vgl_event *harness_event(harness *t, size_t i)
{
    ck_assert_uint_lt(i, harness_count(t));
    return t->batch.items[i].state == VGL_BATCH_LIVE ? t->batch.items[i].ev : NULL;
}

bool harness_failed(harness *t, size_t i)
{
    ck_assert_uint_lt(i, harness_count(t));
    return t->batch.items[i].state == VGL_BATCH_FAILED;
}

bool harness_dropped(harness *t, size_t i)
{
    ck_assert_uint_lt(i, harness_count(t));
    return t->batch.items[i].state == VGL_BATCH_DROPPED;
}

const char *harness_reason(harness *t, size_t i)
{
    ck_assert_uint_lt(i, harness_count(t));
    return t->batch.items[i].reason ? t->batch.items[i].reason : "";
}

void harness_close(harness *t)
{
    release(t);
    vgl_plugins_free(t->ps);
    vgl_diag_free(&t->diag);
    vgl_path_registry_free();
}

const char *hstr(const vgl_event *ev, const char *path)
{
    const vgl_value *v = ev ? vgl_event_get(ev, vgl_path_intern(path)) : NULL;
    return v && v->type == VGL_T_STRING ? v->u.s : NULL;
}

bool hint(const vgl_event *ev, const char *path, int64_t *out)
{
    const vgl_value *v = ev ? vgl_event_get(ev, vgl_path_intern(path)) : NULL;
    if (!v || v->type != VGL_T_INT)
        return false;
    *out = v->u.i;
    return true;
}

bool hhas(const vgl_event *ev, const char *path)
{
    return ev && vgl_event_get(ev, vgl_path_intern(path)) != NULL;
}

char **lines_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char **lines = NULL;
    size_t cap = 0;
    *n = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            lines = realloc(lines, cap * sizeof(*lines));
            ck_assert_ptr_nonnull(lines);
        }
        lines[(*n)++] = strdup(line);
    }
    free(line);
    fclose(f);
    return lines;
}

void lines_free(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}
