/*
 * Test harness for the Azure source plugins: see plugin_harness.h.
 */
#include "plugin_harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

#ifndef DATA_DIR
#error "DATA_DIR must name the test data folder"
#endif

#define MAX_EVENTS 4096
#define MAX_OPTS 8

static vgl_config cfg;
static char *cfg_dirs[1];
static vgl_plugin_cfg cfg_plugins[1];
static vgl_input_cfg cfg_inputs[1];
static vgl_diag diag;
static vgl_plugins *loaded;

/* option nodes of the current load */
static vgl_cnode opt_nodes[MAX_OPTS];
static vgl_cnode *opt_items[MAX_OPTS];
static char *opt_keys[MAX_OPTS];
static vgl_cnode opt_map;

/* every event the harness or the plugin created */
static vgl_event *events[MAX_EVENTS];
static size_t nevents;
static size_t emit_max_events, emit_event_mem;

vgl_batch ph_batch;
static bool batch_ready;

static void log_discard(const char *line, void *opaque)
{
    (void)line;
    (void)opaque;
}

void ph_setup(const char *plugin_dir)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(cfg_plugins, 0, sizeof(cfg_plugins));
    memset(cfg_inputs, 0, sizeof(cfg_inputs));
    memset(&diag, 0, sizeof(diag));
    cfg.path = "vigil.yaml";
    cfg_dirs[0] = (char *)plugin_dir;
    cfg.plugin_path = cfg_dirs;
    cfg.nplugin_path = 1;
    cfg.plugins = cfg_plugins;
    cfg.inputs = cfg_inputs;
    loaded = NULL;
    nevents = 0;
    emit_max_events = 0;
    emit_event_mem = 0;
    batch_ready = false;
    vgl_log_set_sink(log_discard, NULL);
}

void ph_teardown(void)
{
    if (batch_ready)
        vgl_batch_free(&ph_batch);
    batch_ready = false;
    vgl_plugins_free(loaded);
    loaded = NULL;
    for (size_t i = 0; i < nevents; i++) {
        vgl_event_destroy(events[i]);
        free(events[i]);
    }
    nevents = 0;
    vgl_diag_free(&diag);
    vgl_log_set_sink(NULL, NULL);
    vgl_path_registry_free();
}

static void configure(const char *name, const ph_opt *opts)
{
    cfg_plugins[0] = (vgl_plugin_cfg){.name = (char *)name, .line = 3};
    cfg.nplugins = 1;
    if (opts) {
        size_t n = 0;
        for (; opts[n].key; n++) {
            ck_assert_uint_lt(n, MAX_OPTS);
            opt_nodes[n] = (vgl_cnode){.kind = VGL_CN_SCALAR, .scalar = (char *)opts[n].value,
                                       .line = 5 + (int)n, .col = 7};
            opt_items[n] = &opt_nodes[n];
            opt_keys[n] = (char *)opts[n].key;
        }
        opt_map = (vgl_cnode){.kind = VGL_CN_MAP, .n = n, .keys = opt_keys, .items = opt_items,
                              .line = 5, .col = 7};
        cfg_plugins[0].config = &opt_map;
    }
    cfg_inputs[0] = (vgl_input_cfg){.topic = "raw.azure", .source = (char *)name, .line = 20};
    cfg.ninputs = 1;
}

static char *diag_text(void)
{
    size_t len = 1;
    for (size_t i = 0; i < diag.n; i++)
        len += strlen(diag.msgs[i]) + 1;
    char *s = malloc(len);
    ck_assert_ptr_nonnull(s);
    s[0] = '\0';
    for (size_t i = 0; i < diag.n; i++) {
        strcat(s, diag.msgs[i]);
        strcat(s, "\n");
    }
    return s;
}

vgl_plugin_instance *ph_load(const char *name, const ph_opt *opts)
{
    configure(name, opts);
    loaded = vgl_plugins_load(&cfg, &diag);
    char *text = diag_text();
    ck_assert_msg(loaded && diag.n == 0, "loading %s failed:\n%s", name, text);
    free(text);
    vgl_plugin_instance *pi = vgl_plugins_find(loaded, name, VGL_PLUGIN_SOURCE);
    ck_assert_ptr_nonnull(pi);
    return pi;
}

char *ph_load_errors(const char *name, const ph_opt *opts)
{
    configure(name, opts);
    loaded = vgl_plugins_load(&cfg, &diag);
    ck_assert_ptr_null(loaded);
    return diag_text();
}

static vgl_event *new_event(size_t mem)
{
    ck_assert_uint_lt(nevents, MAX_EVENTS);
    vgl_event *ev = calloc(1, sizeof(*ev));
    ck_assert_ptr_nonnull(ev);
    vgl_event_init(ev, mem);
    events[nevents++] = ev;
    return ev;
}

static vgl_event *emit_alloc(void *opaque)
{
    (void)opaque;
    if (nevents >= MAX_EVENTS)
        return NULL;
    return new_event(emit_event_mem);
}

vgl_event *ph_event(const char *json, int64_t offset)
{
    vgl_event *ev = new_event(0);
    char err[256] = "";
    vgl_rc rc = vgl_json_decode(ev, json, strlen(json), NULL, err, sizeof(err));
    ck_assert_msg(rc == VGL_OK, "test record does not decode: %s", err);
    ev->meta.topic = "raw.azure";
    ev->meta.partition = 0;
    ev->meta.offset = offset;
    ev->meta.received_ms = 1700000000000;
    return ev;
}

static FILE *open_data(const char *file)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", DATA_DIR, file);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    return f;
}

char *ph_line(const char *file, int n)
{
    FILE *f = open_data(file);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = -1;
    for (int i = 0; i < n; i++) {
        len = getline(&line, &cap, f);
        ck_assert_msg(len >= 0, "%s has no line %d", file, n);
    }
    fclose(f);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    return line;
}

int ph_nlines(const char *file)
{
    FILE *f = open_data(file);
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

void ph_set_limits(size_t max_events, size_t event_mem)
{
    emit_max_events = max_events;
    emit_event_mem = event_mem;
}

vgl_rc ph_run(vgl_plugin_instance *pi, vgl_event *const *evs, size_t n)
{
    if (batch_ready)
        vgl_batch_free(&ph_batch);
    vgl_batch_init(&ph_batch, emit_alloc, NULL, NULL, NULL);
    ph_batch.max_events = emit_max_events;
    batch_ready = true;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(vgl_batch_add(&ph_batch, evs[i]), VGL_OK);
    return vgl_plugin_process(pi, 0, &ph_batch);
}

size_t ph_live(vgl_event **out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < ph_batch.n; i++)
        if (ph_batch.items[i].state == VGL_BATCH_LIVE && k < cap)
            out[k++] = ph_batch.items[i].ev;
    return k;
}

const char *ph_reason(const vgl_event *ev)
{
    for (size_t i = 0; i < ph_batch.n; i++)
        if (ph_batch.items[i].ev == ev)
            return ph_batch.items[i].state == VGL_BATCH_FAILED ? ph_batch.items[i].reason
                                                                : NULL;
    return NULL;
}

int ph_state(const vgl_event *ev)
{
    for (size_t i = 0; i < ph_batch.n; i++)
        if (ph_batch.items[i].ev == ev)
            return ph_batch.items[i].state;
    return -1;
}

static const vgl_value *field(const vgl_event *ev, const char *path)
{
    return vgl_event_get(ev, vgl_path_intern(path));
}

const char *ph_str(const vgl_event *ev, const char *path)
{
    const vgl_value *v = field(ev, path);
    return v && v->type == VGL_T_STRING ? v->u.s : NULL;
}

bool ph_int(const vgl_event *ev, const char *path, int64_t *out)
{
    const vgl_value *v = field(ev, path);
    if (!v || v->type != VGL_T_INT)
        return false;
    *out = v->u.i;
    return true;
}

bool ph_double(const vgl_event *ev, const char *path, double *out)
{
    const vgl_value *v = field(ev, path);
    if (!v || v->type != VGL_T_DOUBLE)
        return false;
    *out = v->u.d;
    return true;
}

bool ph_bool(const vgl_event *ev, const char *path, bool *out)
{
    const vgl_value *v = field(ev, path);
    if (!v || v->type != VGL_T_BOOL)
        return false;
    *out = v->u.b;
    return true;
}

bool ph_has(const vgl_event *ev, const char *path)
{
    return field(ev, path) != NULL;
}
