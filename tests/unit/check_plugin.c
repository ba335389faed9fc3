/*
 * Tests of the plugin host with the tiny plugins of tests/plugins/: every
 * load failure as its exact error line, the ABI rule, option validation
 * with config positions, expansion/drop/fail/alerts through a batch,
 * per-worker instances, responders, connectors, and the listing.
 *
 * The built test plugins are found in $VGL_TEST_PLUGIN_DIR, else in the
 * directory given by the VGL_TEST_PLUGIN_DIR macro.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"

#ifndef VGL_PLUGINDIR
#define VGL_PLUGINDIR "/usr/local/lib/vigil/plugins"
#endif

static const char *plugin_dir(void)
{
    const char *d = getenv("VGL_TEST_PLUGIN_DIR");
#ifdef VGL_TEST_PLUGIN_DIR
    if (!d || !*d)
        d = VGL_TEST_PLUGIN_DIR;
#endif
    ck_assert_msg(d && *d, "set VGL_TEST_PLUGIN_DIR to the directory of the built test plugins");
    return d;
}

/* ------------------------------------------------------------- helpers */

#define SCALAR(text, l, c) \
    ((vgl_cnode){.kind = VGL_CN_SCALAR, .scalar = (text), .line = (l), .col = (c)})

static vgl_config cfg;
static char *cfg_dirs[1];
static vgl_plugin_cfg cfg_plugins[8];
static vgl_input_cfg cfg_inputs[4];
static vgl_diag diag;
static char tmpdir[64];

/* log lines captured from the host's logger */
static char *log_lines[64];
static size_t nlog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_capture(const char *line, void *opaque)
{
    (void)opaque;
    pthread_mutex_lock(&log_lock);
    if (nlog < 64)
        log_lines[nlog++] = strdup(line);
    pthread_mutex_unlock(&log_lock);
}

/* The captured line holding needle, or NULL. */
static const char *log_find(const char *needle)
{
    for (size_t i = 0; i < nlog; i++)
        if (strstr(log_lines[i], needle))
            return log_lines[i];
    return NULL;
}

static void setup(void)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(cfg_plugins, 0, sizeof(cfg_plugins));
    memset(cfg_inputs, 0, sizeof(cfg_inputs));
    memset(&diag, 0, sizeof(diag));
    cfg.path = "vigil.yaml";
    cfg_dirs[0] = (char *)plugin_dir();
    cfg.plugin_path = cfg_dirs;
    cfg.nplugin_path = 1;
    cfg.plugins = cfg_plugins;
    cfg.inputs = cfg_inputs;
    tmpdir[0] = '\0';
    nlog = 0;
    vgl_log_set_sink(log_capture, NULL);
}

static void rm_tmpdir(void)
{
    if (!tmpdir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void teardown(void)
{
    vgl_log_set_sink(NULL, NULL);
    for (size_t i = 0; i < nlog; i++)
        free(log_lines[i]);
    nlog = 0;
    vgl_diag_free(&diag);
    rm_tmpdir();
    vgl_path_registry_free();
}

static void add_plugin(const char *name, const char *id, vgl_cnode *config, int line)
{
    vgl_plugin_cfg *p = &cfg_plugins[cfg.nplugins++];
    p->name = (char *)name;
    p->id = (char *)id;
    p->config = config;
    p->line = line;
}

/* All diag lines joined with '\n'. */
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

/* Load cfg and expect it to fail with exactly these lines. */
static void expect_load_errors(const char *expected)
{
    vgl_plugins *ps = vgl_plugins_load(&cfg, &diag);
    char *got = diag_text();
    ck_assert_ptr_null(ps);
    ck_assert_str_eq(got, expected);
    free(got);
}

/* Load cfg and expect success. */
static vgl_plugins *load_ok(void)
{
    vgl_plugins *ps = vgl_plugins_load(&cfg, &diag);
    char *got = diag_text();
    ck_assert_msg(diag.n == 0, "unexpected errors:\n%s", got);
    ck_assert_ptr_nonnull(ps);
    free(got);
    return ps;
}

/* "DIR/FILE" into buf. */
static const char *pl_path(char *buf, size_t len, const char *file)
{
    snprintf(buf, len, "%s/%s", plugin_dir(), file);
    return buf;
}

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_plugin.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void copy_plugin(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/%s'", plugin_dir(), from, tmpdir, to);
    ck_assert_int_eq(system(cmd), 0);
}

/* ------------------------------------------------------- event helpers */

#define POOL 16
static vgl_event pool[POOL];
static size_t npool;

static vgl_event *pool_alloc(void *opaque)
{
    (void)opaque;
    if (npool == POOL)
        return NULL;
    vgl_event *ev = &pool[npool++];
    vgl_event_init(ev, 0);
    return ev;
}

static void pool_free(void)
{
    for (size_t i = 0; i < npool; i++)
        vgl_event_destroy(&pool[i]);
    npool = 0;
}

static vgl_event *event_at(const char *topic, int32_t partition, int64_t offset)
{
    vgl_event *ev = pool_alloc(NULL);
    ck_assert_ptr_nonnull(ev);
    ev->meta.topic = topic;
    ev->meta.partition = partition;
    ev->meta.offset = offset;
    ev->meta.received_ms = 1700000000000;
    return ev;
}

static void set_str(vgl_event *ev, const char *path, const char *s)
{
    ck_assert_int_eq(vgl_event_set_str(ev, vgl_path_intern(path), s, strlen(s)), VGL_OK);
}

static const char *get_str(const vgl_event *ev, const char *path)
{
    const vgl_value *v = vgl_event_get(ev, vgl_path_intern(path));
    return v && v->type == VGL_T_STRING ? v->u.s : NULL;
}

/* alerts delivered to the batch's callback, copied */
typedef struct seen_alert {
    char id[VGL_ALERT_ID_LEN + 1];
    char rule_id[64], title[64], tactic[64], technique[16];
    vgl_severity severity;
    int64_t time_ms;
    char entities[256]; /* "type=value;..." */
    char tags[128];     /* "a,b" */
    char evidence[256]; /* "topic/partition@offset" */
    char fields[256];   /* "key=value;..." of the evidence fields */
} seen_alert;

static seen_alert alerts[8];
static size_t nalerts;

static void on_alert(void *opaque, const vgl_alert *a)
{
    (void)opaque;
    ck_assert_uint_lt(nalerts, 8);
    seen_alert *s = &alerts[nalerts++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", a->alert_id);
    snprintf(s->rule_id, sizeof(s->rule_id), "%s", a->rule_id);
    snprintf(s->title, sizeof(s->title), "%s", a->title);
    snprintf(s->tactic, sizeof(s->tactic), "%s", a->tactic ? a->tactic : "");
    snprintf(s->technique, sizeof(s->technique), "%s", a->technique ? a->technique : "");
    s->severity = a->severity;
    s->time_ms = a->time_ms;
    for (size_t i = 0; i < a->nentities; i++) {
        size_t l = strlen(s->entities);
        snprintf(s->entities + l, sizeof(s->entities) - l, "%s=%s;", a->entities[i].type,
                 a->entities[i].value);
    }
    for (size_t i = 0; i < a->ntags; i++) {
        size_t l = strlen(s->tags);
        snprintf(s->tags + l, sizeof(s->tags) - l, "%s%s", i ? "," : "", a->tags[i]);
    }
    for (size_t i = 0; i < a->nevidence; i++) {
        const vgl_evidence *e = &a->evidence[i];
        size_t l = strlen(s->evidence);
        snprintf(s->evidence + l, sizeof(s->evidence) - l, "%s/%d@%lld", e->topic,
                 (int)e->partition, (long long)e->offset);
        for (uint32_t m = 0; e->fields && m < e->fields->n; m++) {
            const vgl_member *mb = &e->fields->u.members[m];
            l = strlen(s->fields);
            snprintf(s->fields + l, sizeof(s->fields) - l, "%s=%s;", mb->key,
                     mb->v.type == VGL_T_STRING ? mb->v.u.s : "?");
        }
    }
}

static void event_setup(void)
{
    setup();
    npool = 0;
    nalerts = 0;
}

static void event_teardown(void)
{
    pool_free();
    teardown();
}

/* ---------------------------------------------------- search path, ABI */

START_TEST(search_path_order)
{
    char *pp[] = {"/opt/a", "/opt/b"};
    vgl_plugin_dirs d;
    ck_assert_int_eq(vgl_plugin_dirs_init(&d, pp, 2), VGL_OK);
    bool build = vgl_plugin_running_uninstalled();
    ck_assert_uint_eq(d.n, build ? 4 : 3);
    ck_assert_str_eq(d.dirs[0], "/opt/a");
    ck_assert_str_eq(d.dirs[1], "/opt/b");
    ck_assert_str_eq(d.dirs[2], VGL_PLUGINDIR);
#ifdef VGL_BUILDDIR
    if (build)
        ck_assert_str_eq(d.dirs[3], VGL_BUILDDIR "/plugins");
#endif
    vgl_plugin_dirs_free(&d);
}
END_TEST

START_TEST(abi_rule)
{
    char err[128] = "";
    /* same major, older or equal minor: accepted */
    ck_assert(vgl_plugin_abi_compatible(1, 0, 1, 0, err, sizeof(err)));
    ck_assert(vgl_plugin_abi_compatible(1, 0, 1, 3, err, sizeof(err)));
    ck_assert(vgl_plugin_abi_compatible(1, 2, 1, 3, err, sizeof(err)));
    ck_assert_str_eq(err, "");
    /* newer minor */
    ck_assert(!vgl_plugin_abi_compatible(1, 4, 1, 3, err, sizeof(err)));
    ck_assert_str_eq(err, "built for plugin ABI 1.4, this vigil provides 1.3");
    /* other major, older or newer */
    ck_assert(!vgl_plugin_abi_compatible(2, 0, 1, 0, err, sizeof(err)));
    ck_assert_str_eq(err, "built for plugin ABI 2.0, this vigil provides 1.0");
    ck_assert(!vgl_plugin_abi_compatible(0, 9, 1, 0, err, sizeof(err)));
    ck_assert_str_eq(err, "built for plugin ABI 0.9, this vigil provides 1.0");
}
END_TEST

/* --------------------------------------------------------- load errors */

START_TEST(error_not_found)
{
    add_plugin("nosuch", NULL, NULL, 12);
    char want[2048];
#ifdef VGL_BUILDDIR
    if (vgl_plugin_running_uninstalled())
        snprintf(want, sizeof(want), "plugin nosuch (vigil-*-nosuch.so): not found in %s, %s, %s\n",
                 plugin_dir(), VGL_PLUGINDIR, VGL_BUILDDIR "/plugins");
    else
#endif
        snprintf(want, sizeof(want), "plugin nosuch (vigil-*-nosuch.so): not found in %s, %s\n",
                 plugin_dir(), VGL_PLUGINDIR);
    expect_load_errors(want);
}
END_TEST

START_TEST(error_no_descriptor)
{
    char p[1024], want[16384];
    add_plugin("nodesc", NULL, NULL, 3);
    snprintf(want, sizeof(want),
             "plugin nodesc (%s): no vigil_plugin descriptor (not a vigil plugin?)\n",
             pl_path(p, sizeof(p), "vigil-enrich-nodesc.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(error_abi_major)
{
    char p[1024], want[16384];
    add_plugin("abi2", NULL, NULL, 3);
    snprintf(want, sizeof(want),
             "plugin abi2 (%s): built for plugin ABI 2.0, this vigil provides 1.1\n",
             pl_path(p, sizeof(p), "vigil-enrich-abi2.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(error_abi_minor_newer)
{
    char p[1024], want[16384];
    add_plugin("abinewer", NULL, NULL, 3);
    snprintf(want, sizeof(want),
             "plugin abinewer (%s): built for plugin ABI %d.%d, this vigil provides %d.%d\n",
             pl_path(p, sizeof(p), "vigil-enrich-abinewer.so"), VGL_PLUGIN_ABI_MAJOR,
             VGL_PLUGIN_ABI_MINOR + 1, VGL_PLUGIN_ABI_MAJOR, VGL_PLUGIN_ABI_MINOR);
    expect_load_errors(want);
}
END_TEST

START_TEST(error_init_fails)
{
    char p[1024], want[16384];
    add_plugin("initfail", NULL, NULL, 3);
    snprintf(want, sizeof(want),
             "plugin initfail (%s): cannot open /nonexistent/GeoLite2-City.mmdb: "
             "No such file or directory\n",
             pl_path(p, sizeof(p), "vigil-enrich-initfail.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(error_init_fails_silently)
{
    char p[1024], want[16384];
    vgl_cnode yes = SCALAR("true", 5, 15);
    char *keys[] = {"silent"};
    vgl_cnode *items[] = {&yes};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 1, .keys = keys, .items = items, .line = 5,
                     .col = 7};
    add_plugin("initfail", "quiet", &map, 4);
    snprintf(want, sizeof(want), "plugin initfail/quiet (%s): init failed without giving a reason\n",
             pl_path(p, sizeof(p), "vigil-enrich-initfail.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(error_descriptor_callbacks)
{
    char p[1024], want[16384];
    add_plugin("nocb", NULL, NULL, 3);
    snprintf(want, sizeof(want), "plugin nocb (%s): kind detect needs a process callback\n",
             pl_path(p, sizeof(p), "vigil-detect-nocb.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(error_explicit_path_missing)
{
    add_plugin("hello", NULL, NULL, 3);
    cfg_plugins[0].path = "/nonexistent/vigil-enrich-hello.so";
    expect_load_errors("plugin hello (/nonexistent/vigil-enrich-hello.so): cannot load: "
                       "/nonexistent/vigil-enrich-hello.so: cannot open shared object file: "
                       "No such file or directory\n");
}
END_TEST

START_TEST(explicit_path_loads)
{
    char p[1024];
    add_plugin("hello", "greeter", NULL, 3);
    cfg_plugins[0].path = (char *)pl_path(p, sizeof(p), "vigil-enrich-hello.so");
    vgl_plugins *ps = load_ok();
    vgl_plugin_instance *pi = vgl_plugins_find(ps, "greeter", VGL_PLUGIN_ENRICH);
    ck_assert_ptr_nonnull(pi);
    ck_assert_str_eq(pi->path, p);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(error_name_mismatch)
{
    make_tmpdir();
    copy_plugin("vigil-enrich-hello.so", "vigil-enrich-howdy.so");
    cfg_dirs[0] = tmpdir;
    add_plugin("howdy", NULL, NULL, 3);
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin howdy (%s/vigil-enrich-howdy.so): the descriptor's name is \"hello\", "
             "not \"howdy\"\n",
             tmpdir);
    expect_load_errors(want);
}
END_TEST

START_TEST(error_kind_mismatch)
{
    make_tmpdir();
    copy_plugin("vigil-enrich-hello.so", "vigil-detect-hello.so");
    cfg_dirs[0] = tmpdir;
    add_plugin("hello", NULL, NULL, 3);
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin hello (%s/vigil-detect-hello.so): the file name says kind detect but the "
             "descriptor says enrich\n",
             tmpdir);
    expect_load_errors(want);
}
END_TEST

START_TEST(error_ambiguous)
{
    make_tmpdir();
    copy_plugin("vigil-enrich-hello.so", "vigil-enrich-hello.so");
    copy_plugin("vigil-enrich-hello.so", "vigil-detect-hello.so");
    cfg_dirs[0] = tmpdir;
    add_plugin("hello", NULL, NULL, 3);
    char want[2048];
    snprintf(want, sizeof(want),
             "plugin hello (vigil-*-hello.so): ambiguous: %s has vigil-enrich-hello.so and "
             "vigil-detect-hello.so; set `path` in the plugin's config entry\n",
             tmpdir);
    expect_load_errors(want);
}
END_TEST

START_TEST(libtool_build_layout)
{
    /* plugins/<kind>-<name>/.libs/vigil-<kind>-<name>.so, as in the build tree */
    make_tmpdir();
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/enrich-hello", tmpdir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof(sub), "%s/enrich-hello/.libs", tmpdir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    copy_plugin("vigil-enrich-hello.so", "enrich-hello/.libs/vigil-enrich-hello.so");
    cfg_dirs[0] = tmpdir;
    add_plugin("hello", NULL, NULL, 3);
    vgl_plugins *ps = load_ok();
    char want[256];
    snprintf(want, sizeof(want), "%s/enrich-hello/.libs/vigil-enrich-hello.so", tmpdir);
    ck_assert_str_eq(vgl_plugins_at(ps, 0)->path, want);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(error_invalid_name)
{
    add_plugin("../etc", NULL, NULL, 9);
    expect_load_errors("plugin ../etc (vigil.yaml:9): invalid plugin name (letters, digits, "
                       "'-' and '_' only)\n");
}
END_TEST

START_TEST(error_duplicate_id)
{
    char p[1024], want[16384];
    add_plugin("hello", NULL, NULL, 3);
    add_plugin("hello", NULL, NULL, 6);
    snprintf(want, sizeof(want),
             "plugin hello (%s): vigil.yaml:6: instance id \"hello\" is already used at line 3\n",
             pl_path(p, sizeof(p), "vigil-enrich-hello.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(errors_all_reported)
{
    char p1[1024], p2[1024], p3[1024], want[4096];
    add_plugin("nodesc", NULL, NULL, 3);
    add_plugin("hello", NULL, NULL, 5);
    add_plugin("abi2", NULL, NULL, 7);
    add_plugin("initfail", NULL, NULL, 9);
    snprintf(want, sizeof(want),
             "plugin nodesc (%s): no vigil_plugin descriptor (not a vigil plugin?)\n"
             "plugin abi2 (%s): built for plugin ABI 2.0, this vigil provides 1.1\n"
             "plugin initfail (%s): cannot open /nonexistent/GeoLite2-City.mmdb: No such file "
             "or directory\n",
             pl_path(p1, sizeof(p1), "vigil-enrich-nodesc.so"),
             pl_path(p2, sizeof(p2), "vigil-enrich-abi2.so"),
             pl_path(p3, sizeof(p3), "vigil-enrich-initfail.so"));
    expect_load_errors(want);
}
END_TEST

/* ------------------------------------------------------------- options */

START_TEST(option_required_missing)
{
    char p[1024], want[16384];
    const char *path = pl_path(p, sizeof(p), "vigil-enrich-required.so");
    /* no config map at all: the entry's line */
    add_plugin("required", NULL, NULL, 7);
    snprintf(want, sizeof(want),
             "plugin required (%s): vigil.yaml:7: missing required option \"database\" "
             "(a string)\n",
             path);
    expect_load_errors(want);
}
END_TEST

START_TEST(option_required_missing_in_map)
{
    char p[1024], want[16384];
    const char *path = pl_path(p, sizeof(p), "vigil-enrich-required.so");
    vgl_cnode limit = SCALAR("5", 9, 14);
    char *keys[] = {"limit"};
    vgl_cnode *items[] = {&limit};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 1, .keys = keys, .items = items, .line = 9,
                     .col = 7};
    add_plugin("required", NULL, &map, 7);
    snprintf(want, sizeof(want),
             "plugin required (%s): vigil.yaml:9:7: missing required option \"database\" "
             "(a string)\n",
             path);
    expect_load_errors(want);
}
END_TEST

START_TEST(option_unknown_key)
{
    char p[1024], want[16384];
    const char *path = pl_path(p, sizeof(p), "vigil-enrich-required.so");
    vgl_cnode v1 = SCALAR("/var/lib/geo.mmdb", 9, 16);
    vgl_cnode v2 = SCALAR("1", 10, 12);
    char *keys[] = {"databse", "verbose"};
    vgl_cnode *items[] = {&v1, &v2};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 2, .keys = keys, .items = items, .line = 9,
                     .col = 7};
    add_plugin("required", NULL, &map, 8);
    snprintf(want, sizeof(want),
             "plugin required (%s): vigil.yaml:9:16: unknown option \"databse\" (did you mean "
             "\"database\"?)\n"
             "plugin required (%s): vigil.yaml:10:12: unknown option \"verbose\" (options: "
             "database, limit)\n"
             "plugin required (%s): vigil.yaml:9:7: missing required option \"database\" "
             "(a string)\n",
             path, path, path);
    expect_load_errors(want);
}
END_TEST

START_TEST(option_unknown_key_no_options)
{
    char p[1024], want[16384];
    vgl_cnode v = SCALAR("x", 4, 12);
    char *keys[] = {"mode"};
    vgl_cnode *items[] = {&v};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 1, .keys = keys, .items = items, .line = 4,
                     .col = 6};
    add_plugin("pretend", "fw", &map, 3);
    snprintf(want, sizeof(want),
             "plugin pretend/fw (%s): vigil.yaml:4:12: unknown option \"mode\" (this plugin "
             "takes no options)\n",
             pl_path(p, sizeof(p), "vigil-respond-pretend.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(option_wrong_types)
{
    char p[1024], want[16384];
    const char *path = pl_path(p, sizeof(p), "vigil-detect-watch.so");
    vgl_cnode port = SCALAR("22x", 5, 15);
    vgl_cnode ratio = SCALAR("half", 6, 12);
    vgl_cnode enabled = SCALAR("maybe", 7, 14);
    vgl_cnode window = SCALAR("soon", 8, 13);
    vgl_cnode mem = SCALAR("lots", 9, 14);
    vgl_cnode tags = SCALAR("a,b", 10, 11);
    vgl_cnode inner = SCALAR("x", 11, 15);
    char *ikeys[] = {"name"};
    vgl_cnode *iitems[] = {&inner};
    vgl_cnode user = {.kind = VGL_CN_MAP, .n = 1, .keys = ikeys, .items = iitems, .line = 11,
                      .col = 9};
    char *keys[] = {"min_port", "ratio", "enabled", "window", "max_mem", "tags", "user"};
    vgl_cnode *items[] = {&port, &ratio, &enabled, &window, &mem, &tags, &user};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 7, .keys = keys, .items = items, .line = 5,
                     .col = 5};
    add_plugin("watch", NULL, &map, 4);
    snprintf(want, sizeof(want),
             "plugin watch (%1$s): vigil.yaml:5:15: option \"min_port\" must be an integer, got "
             "\"22x\"\n"
             "plugin watch (%1$s): vigil.yaml:6:12: option \"ratio\" must be a number, got "
             "\"half\"\n"
             "plugin watch (%1$s): vigil.yaml:7:14: option \"enabled\" must be true or false, "
             "got \"maybe\"\n"
             "plugin watch (%1$s): vigil.yaml:8:13: option \"window\" must be a duration such as "
             "500ms, 30s, 5m or 7d, got \"soon\"\n"
             "plugin watch (%1$s): vigil.yaml:9:14: option \"max_mem\" must be a size such as "
             "4096, 512KiB or 1MiB, got \"lots\"\n"
             "plugin watch (%1$s): vigil.yaml:10:11: option \"tags\" must be a list, got a "
             "scalar\n"
             "plugin watch (%1$s): vigil.yaml:11:9: option \"user\" must be a string, got a "
             "map\n",
             path);
    expect_load_errors(want);
}
END_TEST

START_TEST(option_list_item_not_scalar)
{
    char p[1024], want[16384];
    vgl_cnode a = SCALAR("a", 6, 9);
    vgl_cnode nested = {.kind = VGL_CN_SEQ, .n = 0, .line = 7, .col = 9};
    vgl_cnode *titems[] = {&a, &nested};
    vgl_cnode tags = {.kind = VGL_CN_SEQ, .n = 2, .items = titems, .line = 6, .col = 7};
    char *keys[] = {"tags"};
    vgl_cnode *items[] = {&tags};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 1, .keys = keys, .items = items, .line = 5,
                     .col = 5};
    add_plugin("watch", NULL, &map, 4);
    snprintf(want, sizeof(want),
             "plugin watch (%s): vigil.yaml:7:9: option \"tags\" item 2 must be a scalar, got a "
             "list\n",
             pl_path(p, sizeof(p), "vigil-detect-watch.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(option_config_not_a_map)
{
    char p[1024], want[16384];
    vgl_cnode s = SCALAR("on", 4, 13);
    add_plugin("hello", NULL, &s, 3);
    snprintf(want, sizeof(want),
             "plugin hello (%s): vigil.yaml:4:13: `config` must be a map of options, got a "
             "scalar\n",
             pl_path(p, sizeof(p), "vigil-enrich-hello.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(option_defaults_reach_init)
{
    add_plugin("watch", NULL, NULL, 3);
    vgl_plugins *ps = load_ok();
    const char *line = log_find("msg=\"demo detector configured\"");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, " plugin=watch user=root min_port=0 ratio=0.5 "
                                       "enabled=true window_ms=300000 max_mem=1048576 ntags=2 "
                                       "tag0=demo"));
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(option_values_reach_init)
{
    vgl_cnode user = SCALAR("alice", 5, 11);
    vgl_cnode port = SCALAR("22", 6, 15);
    vgl_cnode ratio = SCALAR("0.25", 7, 12);
    vgl_cnode enabled = SCALAR("TRUE", 8, 14);
    vgl_cnode window = SCALAR("30s", 9, 13);
    vgl_cnode mem = SCALAR("64KiB", 10, 14);
    vgl_cnode t1 = SCALAR("prod", 11, 15), t2 = SCALAR("eu", 11, 21);
    vgl_cnode *titems[] = {&t1, &t2};
    vgl_cnode tags = {.kind = VGL_CN_SEQ, .n = 2, .items = titems, .line = 11, .col = 11};
    char *keys[] = {"user", "min_port", "ratio", "enabled", "window", "max_mem", "tags"};
    vgl_cnode *items[] = {&user, &port, &ratio, &enabled, &window, &mem, &tags};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 7, .keys = keys, .items = items, .line = 5,
                     .col = 5};
    add_plugin("watch", "watch-alice", &map, 4);
    vgl_plugins *ps = load_ok();
    const char *line = log_find("msg=\"demo detector configured\"");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, " plugin=watch-alice user=alice min_port=22 ratio=0.25 "
                                       "enabled=true window_ms=30000 max_mem=65536 ntags=2 "
                                       "tag0=prod"));
    vgl_plugins_free(ps);
}
END_TEST

/* ------------------------------------------------ registry and sources */

START_TEST(load_registry_and_implicit_source)
{
    add_plugin("hello", NULL, NULL, 3);
    add_plugin("watch", "watch-root", NULL, 5);
    add_plugin("pretend", NULL, NULL, 7);
    cfg_inputs[0] = (vgl_input_cfg){.topic = "raw.demo", .source = "demo", .line = 20};
    cfg_inputs[1] = (vgl_input_cfg){.topic = "raw.demo2", .source = "demo", .line = 24};
    cfg_inputs[2] = (vgl_input_cfg){.topic = "raw.other", .line = 28};
    cfg.ninputs = 3;
    vgl_plugins *ps = load_ok();
    ck_assert_uint_eq(vgl_plugins_count(ps), 4);
    ck_assert_str_eq(vgl_plugins_at(ps, 0)->id, "hello");
    ck_assert_str_eq(vgl_plugins_at(ps, 1)->id, "watch-root");
    ck_assert_str_eq(vgl_plugins_at(ps, 2)->id, "pretend");
    vgl_plugin_instance *src = vgl_plugins_at(ps, 3);
    ck_assert_str_eq(src->id, "demo");
    ck_assert_int_eq(src->desc->kind, VGL_PLUGIN_SOURCE);
    ck_assert_int_eq(src->line, 20);
    ck_assert_ptr_eq(vgl_plugins_find(ps, "demo", VGL_PLUGIN_SOURCE), src);
    ck_assert_ptr_eq(vgl_plugins_find(ps, "watch-root", 0), vgl_plugins_at(ps, 1));
    ck_assert_ptr_eq(vgl_plugins_find(ps, "watch", VGL_PLUGIN_DETECT), vgl_plugins_at(ps, 1));
    ck_assert_ptr_null(vgl_plugins_find(ps, "watch", VGL_PLUGIN_ENRICH));
    ck_assert_ptr_null(vgl_plugins_find(ps, "nosuch", 0));
    ck_assert_str_eq(vgl_plugins_at(ps, 0)->host.instance_id, "hello");
    ck_assert_uint_eq(vgl_plugins_at(ps, 0)->host.abi_major, VGL_PLUGIN_ABI_MAJOR);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(source_configured_as_instance)
{
    /* inputs[].source may name a configured instance id */
    vgl_cnode ds = SCALAR("vendor.flows", 4, 16);
    char *keys[] = {"dataset"};
    vgl_cnode *items[] = {&ds};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 1, .keys = keys, .items = items, .line = 4,
                     .col = 7};
    add_plugin("demo", "vendor", &map, 3);
    cfg_inputs[0] = (vgl_input_cfg){.topic = "raw", .source = "vendor", .line = 20};
    cfg.ninputs = 1;
    vgl_plugins *ps = load_ok();
    ck_assert_uint_eq(vgl_plugins_count(ps), 1);
    ck_assert_str_eq(vgl_plugins_find(ps, "vendor", VGL_PLUGIN_SOURCE)->name, "demo");
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(error_source_of_wrong_kind)
{
    char p[1024], want[16384];
    cfg_inputs[0] = (vgl_input_cfg){.topic = "raw", .source = "hello", .line = 21};
    cfg.ninputs = 1;
    snprintf(want, sizeof(want),
             "plugin hello (%s): vigil.yaml:21: inputs[0].source needs a source plugin, this "
             "one is kind enrich\n",
             pl_path(p, sizeof(p), "vigil-enrich-hello.so"));
    expect_load_errors(want);
}
END_TEST

START_TEST(error_source_not_found)
{
    cfg_inputs[0] = (vgl_input_cfg){.topic = "raw", .source = "nosuch", .line = 21};
    cfg.ninputs = 1;
    char want[2048];
#ifdef VGL_BUILDDIR
    if (vgl_plugin_running_uninstalled())
        snprintf(want, sizeof(want),
                 "plugin nosuch (vigil-source-nosuch.so): not found in %s, %s, %s\n",
                 plugin_dir(), VGL_PLUGINDIR, VGL_BUILDDIR "/plugins");
    else
#endif
        snprintf(want, sizeof(want), "plugin nosuch (vigil-source-nosuch.so): not found in %s, %s\n",
                 plugin_dir(), VGL_PLUGINDIR);
    expect_load_errors(want);
}
END_TEST

/* ------------------------------------------------------------- batches */

START_TEST(source_normalizes_expands_fails)
{
    cfg_inputs[0] = (vgl_input_cfg){.topic = "raw.demo", .source = "demo", .line = 20};
    cfg.ninputs = 1;
    vgl_plugins *ps = load_ok();
    vgl_plugin_instance *src = vgl_plugins_find(ps, "demo", VGL_PLUGIN_SOURCE);

    vgl_event *plain = event_at("raw.demo", 2, 100);
    set_str(plain, "src", "10.0.0.1");
    set_str(plain, "when", "2024-01-02T03:04:05Z");
    vgl_event *multi = event_at("raw.demo", 2, 101);
    set_str(multi, "src", "10.0.0.2");
    /* flows: [{"dst": "a"}, {"dst": "b"}] */
    vgl_rc rc;
    vgl_value *flows = vgl_event_set(multi, vgl_path_intern("flows"), &rc);
    vgl_value_set_array(flows);
    for (int i = 0; i < 2; i++) {
        vgl_value *obj = vgl_array_push(multi, flows);
        vgl_value_set_object(obj);
        vgl_value *dst = vgl_object_add(multi, obj, "dst", 3, false);
        vgl_value_set_str(multi, dst, i ? "b" : "a", 1, &rc);
    }
    vgl_event *bad = event_at("raw.demo", 2, 102);
    ck_assert_int_eq(vgl_event_set_bool(bad, vgl_path_intern("bad"), true), VGL_OK);

    vgl_batch b;
    vgl_batch_init(&b, pool_alloc, NULL, on_alert, NULL);
    ck_assert_int_eq(vgl_batch_add(&b, plain), VGL_OK);
    ck_assert_int_eq(vgl_batch_add(&b, multi), VGL_OK);
    ck_assert_int_eq(vgl_batch_add(&b, bad), VGL_OK);
    ck_assert_int_eq(vgl_plugin_process(src, 0, &b), VGL_OK);

    ck_assert_uint_eq(b.n, 5);
    /* 0: normalized in place, originals kept beside the ECS fields */
    ck_assert_ptr_eq(b.items[0].ev, plain);
    ck_assert_int_eq(b.items[0].state, VGL_BATCH_LIVE);
    ck_assert_str_eq(get_str(plain, "event.dataset"), "demo.flows");
    ck_assert_str_eq(get_str(plain, "source.ip"), "10.0.0.1");
    ck_assert_str_eq(get_str(plain, "src"), "10.0.0.1");
    ck_assert_int_eq(plain->ts_ms, 1704164645000);
    /* 1: the expanded record, dropped */
    ck_assert_ptr_eq(b.items[1].ev, multi);
    ck_assert_int_eq(b.items[1].state, VGL_BATCH_DROPPED);
    /* 2, 3: its flows, right after it, with its Kafka origin */
    for (int i = 0; i < 2; i++) {
        const vgl_batch_item *it = &b.items[2 + i];
        ck_assert_int_eq(it->state, VGL_BATCH_LIVE);
        ck_assert(it->emitted);
        ck_assert_str_eq(it->ev->meta.topic, "raw.demo");
        ck_assert_int_eq(it->ev->meta.partition, 2);
        ck_assert_int_eq(it->ev->meta.offset, 101);
        ck_assert_str_eq(get_str(it->ev, "flow.dst"), i ? "b" : "a");
        ck_assert_str_eq(get_str(it->ev, "source.ip"), "10.0.0.2");
        ck_assert_str_eq(get_str(it->ev, "event.dataset"), "demo.flows");
        const vgl_value *idx = vgl_event_get(it->ev, vgl_path_intern("flow.index"));
        ck_assert_int_eq(idx->type, VGL_T_INT);
        ck_assert_int_eq(idx->u.i, i);
    }
    /* 4: dead-lettered with the instance's name */
    ck_assert_ptr_eq(b.items[4].ev, bad);
    ck_assert_int_eq(b.items[4].state, VGL_BATCH_FAILED);
    ck_assert_str_eq(b.items[4].reason, "plugin demo: field bad is set");

    vgl_plugin_stats st;
    vgl_plugin_stats_get(src, &st);
    ck_assert_uint_eq(st.calls, 1);
    ck_assert_uint_eq(st.events_in, 3);
    ck_assert_uint_eq(st.emitted, 2);
    ck_assert_uint_eq(st.dropped, 1);
    ck_assert_uint_eq(st.failed, 1);
    ck_assert_uint_eq(st.errors, 0);

    /* the next stage sees 3 live events and skips the others */
    add_plugin("hello", NULL, NULL, 3);
    vgl_plugins *ps2 = vgl_plugins_load(&cfg, &diag);
    ck_assert_ptr_nonnull(ps2);
    vgl_plugin_instance *hello = vgl_plugins_find(ps2, "hello", 0);
    ck_assert_int_eq(vgl_plugin_process(hello, 0, &b), VGL_OK);
    vgl_plugin_stats_get(hello, &st);
    ck_assert_uint_eq(st.events_in, 3);
    ck_assert_str_eq(get_str(b.items[3].ev, "labels.greeting"), "hello");
    ck_assert_ptr_null(get_str(multi, "labels.greeting"));
    ck_assert_ptr_null(get_str(bad, "labels.greeting"));

    vgl_batch_free(&b);
    vgl_plugins_free(ps2);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(expansion_respects_event_limit)
{
    cfg_inputs[0] = (vgl_input_cfg){.topic = "raw", .source = "demo", .line = 20};
    cfg.ninputs = 1;
    vgl_plugins *ps = load_ok();
    vgl_event *multi = event_at("raw", 0, 7);
    vgl_rc rc;
    vgl_value *flows = vgl_event_set(multi, vgl_path_intern("flows"), &rc);
    vgl_value_set_array(flows);
    for (int i = 0; i < 3; i++)
        vgl_value_set_object(vgl_array_push(multi, flows));
    vgl_batch b;
    vgl_batch_init(&b, pool_alloc, NULL, NULL, NULL);
    b.max_events = 2;
    vgl_batch_add(&b, multi);
    ck_assert_int_eq(vgl_plugin_process(vgl_plugins_at(ps, 0), 0, &b), VGL_OK);
    /* one flow fit; then the origin was failed, which the later drop
     * does not undo */
    ck_assert_uint_eq(b.n, 2);
    ck_assert_int_eq(b.items[0].state, VGL_BATCH_FAILED);
    ck_assert_str_eq(b.items[0].reason,
                     "plugin demo: cannot expand the record: event limit reached");
    ck_assert_int_eq(b.items[1].state, VGL_BATCH_LIVE);
    vgl_plugin_stats st;
    vgl_plugin_stats_get(vgl_plugins_at(ps, 0), &st);
    ck_assert_uint_eq(st.errors, 1); /* the refused emit */
    vgl_batch_free(&b);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(detector_emits_alert)
{
    add_plugin("watch", NULL, NULL, 3);
    vgl_plugins *ps = load_ok();
    vgl_plugin_instance *w = vgl_plugins_at(ps, 0);
    vgl_event *e1 = event_at("raw.auth", 1, 40);
    set_str(e1, "user.name", "alice");
    vgl_event *e2 = event_at("raw.auth", 1, 41);
    set_str(e2, "user.name", "root");
    set_str(e2, "source.ip", "203.0.113.7");
    e2->ts_ms = 1704164645000;
    vgl_batch b;
    vgl_batch_init(&b, pool_alloc, NULL, on_alert, NULL);
    vgl_batch_add(&b, e1);
    vgl_batch_add(&b, e2);
    ck_assert_int_eq(vgl_plugin_process(w, 0, &b), VGL_OK);
    ck_assert_uint_eq(nalerts, 1);
    const seen_alert *a = &alerts[0];
    ck_assert_str_eq(a->rule_id, "demo-root-login");
    ck_assert_str_eq(a->title, "Login as the watched user");
    ck_assert_int_eq(a->severity, VGL_SEV_HIGH);
    ck_assert_str_eq(a->tactic, "Privilege Escalation");
    ck_assert_str_eq(a->technique, "T1078");
    ck_assert_str_eq(a->entities, "account=root;ip=203.0.113.7;");
    ck_assert_str_eq(a->tags, "demo,test");
    ck_assert_str_eq(a->evidence, "raw.auth/1@41");
    ck_assert_str_eq(a->fields, "user.name=root;source.ip=203.0.113.7;");
    ck_assert_int_eq(a->time_ms, 1704164645000);
    /* the id is vgl_alert_make_id's over the same parts */
    vgl_entity ents[] = {{"account", "root"}, {"ip", "203.0.113.7"}};
    vgl_evidence ev = {.topic = "raw.auth", .partition = 1, .offset = 41};
    vgl_alert ref = {.rule_id = "demo-root-login", .entities = ents, .nentities = 2,
                     .evidence = &ev, .nevidence = 1};
    vgl_alert_make_id(&ref);
    ck_assert_str_eq(a->id, ref.alert_id);
    ck_assert_uint_eq(strlen(a->id), 32);

    vgl_plugin_stats st;
    vgl_plugin_stats_get(w, &st);
    ck_assert_uint_eq(st.alerts, 1);
    vgl_batch_free(&b);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(detector_may_not_reshape)
{
    add_plugin("watch", NULL, NULL, 3);
    vgl_plugins *ps = load_ok();
    vgl_plugin_instance *w = vgl_plugins_at(ps, 0);
    vgl_event *e = event_at("raw", 0, 1);
    set_str(e, "try_drop", "yes");
    vgl_batch b;
    vgl_batch_init(&b, pool_alloc, NULL, on_alert, NULL);
    vgl_batch_add(&b, e);
    ck_assert_int_eq(vgl_plugin_process(w, 0, &b), VGL_OK);
    ck_assert_int_eq(b.items[0].state, VGL_BATCH_LIVE);
    vgl_plugin_stats st;
    vgl_plugin_stats_get(w, &st);
    ck_assert_uint_eq(st.errors, 1);
    ck_assert_uint_eq(st.dropped, 0);
    const char *line = log_find("msg=\"plugin error\"");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, "plugin=watch what=batch_drop detail=\"only source and "
                                       "enrich plugins may change the batch\" errors_total=1"));
    vgl_batch_free(&b);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(host_contains_bad_calls)
{
    add_plugin("hello", NULL, NULL, 3);
    vgl_plugins *ps = load_ok();
    vgl_plugin_instance *pi = vgl_plugins_at(ps, 0);
    const vgl_host *h = &pi->host;
    const char *s = "x";
    size_t n = 1;
    int64_t i = 5;
    /* NULL events, paths and values are refused, not dereferenced */
    ck_assert(!h->get_str(NULL, NULL, &s, &n));
    ck_assert(!h->get_int(NULL, vgl_path_intern("a"), &i));
    ck_assert(!h->has(NULL, NULL));
    ck_assert_int_eq(h->get_type(NULL, NULL), VGL_T_NULL);
    ck_assert_int_eq(h->set_str(NULL, NULL, "x", 1), VGL_ERR_INVALID);
    ck_assert_int_eq(h->set_value(NULL, NULL, NULL), VGL_ERR_INVALID);
    ck_assert_ptr_null(h->value_at(NULL, 0));
    ck_assert_uint_eq(h->value_count(NULL), 0);
    ck_assert_ptr_null(h->path(h, "a..b"));
    h->counter_add(NULL, 1);
    h->gauge_set(NULL, 1.0);
    ck_assert_ptr_null(h->metric(h, VGL_METRIC_COUNTER, "Bad-Name", NULL, "x"));
    ck_assert_ptr_null(h->metric(h, VGL_METRIC_COUNTER, "ok", "no_equals", "x"));
    /* batch functions outside a process call */
    vgl_batch b;
    vgl_batch_init(&b, pool_alloc, NULL, on_alert, NULL);
    vgl_event *e = event_at("raw", 0, 1);
    vgl_batch_add(&b, e);
    ck_assert_uint_eq(h->batch_count(&b), 0);
    ck_assert_ptr_null(h->batch_event(&b, 0));
    ck_assert_ptr_null(h->batch_emit_new(&b, 0));
    vgl_plugin_alert al = {.rule_id = "r", .title = "t"};
    ck_assert_int_eq(h->alert_emit(&b, &al), VGL_ERR_STATE);
    /* connector functions for a non-connector */
    ck_assert_int_eq(h->produce(h, "t", NULL, 0, "v", 1), VGL_ERR_STATE);
    ck_assert(!h->stopping(h));

    /* invalid alerts, as if inside a call */
    b.cur = pi;
    b.visible = 1;
    ck_assert_int_eq(h->alert_emit(&b, NULL), VGL_ERR_INVALID);
    al.title = NULL;
    ck_assert_int_eq(h->alert_emit(&b, &al), VGL_ERR_INVALID);
    al.title = "t";
    al.severity = (vgl_plugin_severity)9;
    ck_assert_int_eq(h->alert_emit(&b, &al), VGL_ERR_INVALID);
    al.severity = VGL_PLUGIN_SEV_LOW;
    vgl_plugin_entity many[33];
    for (int k = 0; k < 33; k++)
        many[k] = (vgl_plugin_entity){"ip", "1.2.3.4"};
    al.entities = many;
    al.nentities = 33;
    ck_assert_int_eq(h->alert_emit(&b, &al), VGL_ERR_TOOBIG);
    al.nentities = 1;
    many[0].value = NULL;
    ck_assert_int_eq(h->alert_emit(&b, &al), VGL_ERR_INVALID);
    many[0].value = "1.2.3.4";
    vgl_event stale;
    vgl_event_init(&stale, 0);
    al.event = &stale; /* not an event of this batch */
    ck_assert_int_eq(h->alert_emit(&b, &al), VGL_ERR_INVALID);
    al.event = e;
    ck_assert_int_eq(h->alert_emit(&b, &al), VGL_OK);
    ck_assert_uint_eq(nalerts, 1);
    ck_assert_str_eq(alerts[0].entities, "ip=1.2.3.4;");
    ck_assert_int_eq(alerts[0].time_ms, 1700000000000); /* no event time: received */
    vgl_event_destroy(&stale);
    b.cur = NULL;

    vgl_plugin_stats st;
    vgl_plugin_stats_get(pi, &st);
    ck_assert_uint_eq(st.errors, 9);
    vgl_batch_free(&b);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(value_conversions)
{
    add_plugin("hello", NULL, NULL, 3);
    vgl_plugins *ps = load_ok();
    const vgl_host *h = &vgl_plugins_at(ps, 0)->host;
    vgl_event *e = event_at("raw", 0, 1);
    const vgl_path *port = h->path(h, "port"), *ratio = h->path(h, "ratio"),
                   *flag = h->path(h, "flag"), *big = h->path(h, "big"),
                   *whole = h->path(h, "whole"), *list = h->path(h, "list");
    set_str(e, "port", "443");
    set_str(e, "ratio", "0.5");
    set_str(e, "flag", "true");
    ck_assert_int_eq(h->set_double(e, big, 1e30), VGL_OK);
    ck_assert_int_eq(h->set_double(e, whole, 8.0), VGL_OK);
    int64_t i;
    double d;
    bool bl;
    ck_assert(h->get_int(e, port, &i));
    ck_assert_int_eq(i, 443);
    ck_assert(h->get_double(e, ratio, &d));
    ck_assert_double_eq(d, 0.5);
    ck_assert(!h->get_int(e, ratio, &i));
    ck_assert(h->get_bool(e, flag, &bl) && bl);
    ck_assert(!h->get_int(e, big, &i));
    ck_assert(h->get_int(e, whole, &i));
    ck_assert_int_eq(i, 8);
    ck_assert_int_eq(h->get_type(e, port), VGL_T_STRING);
    ck_assert(!h->has(e, list));
    ck_assert_int_eq(h->append_str(e, list, "a", 1), VGL_OK);
    ck_assert_int_eq(h->append_str(e, list, "b", 1), VGL_OK);
    ck_assert_int_eq(h->append_str(e, list, "a", 1), VGL_OK);
    const vgl_value *lv = h->get(e, list);
    ck_assert_int_eq(h->value_type(lv), VGL_T_ARRAY);
    ck_assert_uint_eq(h->value_count(lv), 2);
    const char *s;
    size_t n;
    ck_assert(h->value_str(h->value_at(lv, 1), &s, &n));
    ck_assert_str_eq(s, "b");
    const char *key;
    size_t klen;
    const vgl_value *first = h->value_member(&e->root, 0, &key, &klen);
    ck_assert_ptr_nonnull(first);
    ck_assert_str_eq(key, "port");
    vgl_event_origin o;
    h->origin(e, &o);
    ck_assert_str_eq(o.topic, "raw");
    ck_assert_int_eq(o.offset, 1);
    ck_assert_int_eq(o.received_ms, 1700000000000);
    ck_assert_int_eq(h->time_get(e), INT64_MIN);
    h->time_set(e, 5);
    ck_assert_int_eq(h->time_get(e), 5);
    ck_assert_str_eq(h->path_str(port), "port");
    vgl_plugins_free(ps);
}
END_TEST

typedef struct metric_seen {
    int n;
    double v;
    char label[64];
} metric_seen;

static void metric_each(void *opaque, const char *name, const char *label, const char *help,
                        vgl_metric_type type, double value)
{
    metric_seen *m = opaque;
    ck_assert_str_eq(name, "alerts_total");
    ck_assert_str_eq(help, "Alerts emitted");
    ck_assert_int_eq(type, VGL_METRIC_COUNTER);
    m->n++;
    m->v = value;
    snprintf(m->label, sizeof(m->label), "%s", label);
}

START_TEST(per_worker_instances)
{
    add_plugin("watch", NULL, NULL, 3); /* per-worker */
    add_plugin("hello", NULL, NULL, 5); /* shared */
    vgl_plugins *ps = load_ok();
    vgl_plugin_instance *w = vgl_plugins_at(ps, 0), *h = vgl_plugins_at(ps, 1);
    ck_assert_uint_eq(w->ninst, 1);
    /* before prepare_workers only worker 0 of a per-worker plugin exists */
    vgl_batch b;
    vgl_batch_init(&b, pool_alloc, NULL, on_alert, NULL);
    vgl_event *e = event_at("raw", 0, 1);
    set_str(e, "user.name", "root");
    vgl_batch_add(&b, e);
    ck_assert_int_eq(vgl_plugin_process(w, 2, &b), VGL_ERR_STATE);
    ck_assert_int_eq(vgl_plugins_prepare_workers(ps, 3, &diag), VGL_OK);
    ck_assert_uint_eq(w->ninst, 3);
    ck_assert_uint_eq(h->ninst, 1);
    ck_assert_ptr_ne(w->inst[0], w->inst[2]);
    ck_assert_int_eq(vgl_plugin_process(w, 2, &b), VGL_OK);
    ck_assert_int_eq(vgl_plugin_process(w, 0, &b), VGL_OK);
    ck_assert_int_eq(vgl_plugin_process(h, 7, &b), VGL_OK); /* shared: any worker */
    ck_assert_uint_eq(nalerts, 2);
    /* the metric the per-worker instances declared is one metric */
    metric_seen m = {0};
    vgl_plugin_metrics_each(w, metric_each, &m);
    ck_assert_int_eq(m.n, 1);
    ck_assert_double_eq(m.v, 2.0);
    ck_assert_str_eq(m.label, "rule=demo-root-login");
    vgl_batch_free(&b);
    vgl_plugins_free(ps);
}
END_TEST

/* ---------------------------------------------------------- responders */

START_TEST(responder_outcomes)
{
    add_plugin("pretend", "firewall", NULL, 3);
    vgl_plugins *ps = load_ok();
    vgl_plugin_instance *r = vgl_plugins_find(ps, "firewall", VGL_PLUGIN_RESPOND);
    ck_assert_ptr_nonnull(r);
    char err[128];
    vgl_action_view a = {.action_id = "0123", .action = "block_ip", .target_type = "ip",
                         .target = "203.0.113.7\nlevel=error", .params_json = "{}"};
    ck_assert_int_eq(vgl_plugin_respond(r, &a, err, sizeof(err)), VGL_RESPOND_SUCCEEDED);
    ck_assert_str_eq(err, "");
    /* event-derived text is escaped in the log, never a format */
    const char *line = log_find("msg=blocked");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(
        strstr(line, " plugin=firewall target=\"203.0.113.7\\nlevel=error\" action_id=0123"));
    a.action = "flaky";
    ck_assert_int_eq(vgl_plugin_respond(r, &a, err, sizeof(err)), VGL_RESPOND_RETRY);
    ck_assert_str_eq(err, "upstream timed out after 5s");
    a.action = "disable_user";
    ck_assert_int_eq(vgl_plugin_respond(r, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_str_eq(err, "unsupported action disable_user");
    a.action = "silent";
    ck_assert_int_eq(vgl_plugin_respond(r, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_str_eq(err, "the plugin gave no reason");
    a.action = "bogus";
    ck_assert_int_eq(vgl_plugin_respond(r, &a, err, sizeof(err)), VGL_RESPOND_FAILED);
    ck_assert_str_eq(err, "the plugin returned an invalid status 7");
    vgl_plugin_stats st;
    vgl_plugin_stats_get(r, &st);
    ck_assert_uint_eq(st.calls, 5);
    ck_assert_uint_eq(st.errors, 4);
    /* a responder does not process batches, a detector does not respond */
    vgl_batch b;
    vgl_batch_init(&b, NULL, NULL, NULL, NULL);
    ck_assert_int_eq(vgl_plugin_process(r, 0, &b), VGL_ERR_STATE);
    vgl_batch_free(&b);
    vgl_plugins_free(ps);
}
END_TEST

/* ---------------------------------------------------------- connectors */

static pthread_mutex_t prod_lock = PTHREAD_MUTEX_INITIALIZER;
static char produced[8][64];
static int nproduced;

static vgl_rc capture_produce(void *opaque, const char *topic, const void *key, size_t keylen,
                              const void *value, size_t len)
{
    ck_assert_str_eq(opaque, "producer");
    pthread_mutex_lock(&prod_lock);
    if (nproduced < 8)
        snprintf(produced[nproduced++], 64, "%s|%.*s|%.*s", topic, (int)keylen,
                 (const char *)key, (int)len, (const char *)value);
    pthread_mutex_unlock(&prod_lock);
    return VGL_OK;
}

START_TEST(connector_produces_until_stopped)
{
    vgl_cnode topic = SCALAR("raw.ticks", 4, 14);
    char *keys[] = {"topic"};
    vgl_cnode *items[] = {&topic};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 1, .keys = keys, .items = items, .line = 4,
                     .col = 7};
    add_plugin("ticker", NULL, &map, 3);
    vgl_plugins *ps = load_ok();
    nproduced = 0;
    vgl_plugins_set_producer(ps, capture_produce, "producer");
    ck_assert_int_eq(vgl_plugins_start(ps, &diag), VGL_OK);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&prod_lock);
        int n = nproduced;
        pthread_mutex_unlock(&prod_lock);
        if (n == 3)
            break;
        usleep(10000);
    }
    vgl_plugins_stop(ps);
    ck_assert_int_eq(nproduced, 3);
    ck_assert_str_eq(produced[0], "raw.ticks|ticker|tick 0");
    ck_assert_str_eq(produced[2], "raw.ticks|ticker|tick 2");
    vgl_plugin_instance *pi = vgl_plugins_at(ps, 0);
    vgl_plugin_stats st;
    vgl_plugin_stats_get(pi, &st);
    ck_assert_uint_eq(st.produced, 3);
    /* after stop, produce is refused */
    ck_assert_int_eq(pi->host.produce(&pi->host, "raw.ticks", NULL, 0, "x", 1), VGL_ERR_STATE);
    vgl_plugins_free(ps);
}
END_TEST

START_TEST(connector_start_failure)
{
    char p[1024], want[16384];
    vgl_cnode topic = SCALAR("raw.ticks", 4, 14), count = SCALAR("-1", 5, 14);
    char *keys[] = {"topic", "count"};
    vgl_cnode *items[] = {&topic, &count};
    vgl_cnode map = {.kind = VGL_CN_MAP, .n = 2, .keys = keys, .items = items, .line = 4,
                     .col = 7};
    add_plugin("ticker", NULL, &map, 3);
    vgl_plugins *ps = load_ok();
    vgl_plugins_set_producer(ps, capture_produce, "producer");
    ck_assert_int_eq(vgl_plugins_start(ps, &diag), VGL_ERR_CONFIG);
    char *got = diag_text();
    snprintf(want, sizeof(want), "plugin ticker (%s): start failed: count must not be negative\n",
             pl_path(p, sizeof(p), "vigil-connector-ticker.so"));
    ck_assert_str_eq(got, want);
    free(got);
    vgl_plugins_free(ps);
}
END_TEST

/* ------------------------------------------------------------- listing */

START_TEST(listing)
{
    const char *dirs[] = {plugin_dir()};
    vgl_plugin_list l;
    ck_assert_int_eq(vgl_plugins_list(dirs, 1, &l), VGL_OK);
    static const struct {
        const char *name;
        vgl_plugin_kind kind;
        const char *version, *error;
    } want[] = {
        {"ticker", VGL_PLUGIN_CONNECTOR, "0.1.0", NULL},
        {"nocb", VGL_PLUGIN_DETECT, NULL, "kind detect needs a process callback"},
        {"watch", VGL_PLUGIN_DETECT, "0.2.0", NULL},
        {"abi2", VGL_PLUGIN_ENRICH, NULL, "built for plugin ABI 2.0, this vigil provides 1.1"},
        {"abinewer", VGL_PLUGIN_ENRICH, NULL, "built for plugin ABI 1.2, this vigil provides 1.1"},
        {"hello", VGL_PLUGIN_ENRICH, "1.0.0", NULL},
        {"initfail", VGL_PLUGIN_ENRICH, "1.0.0", NULL}, /* listing does not call init */
        {"nodesc", VGL_PLUGIN_ENRICH, NULL, "no vigil_plugin descriptor (not a vigil plugin?)"},
        {"required", VGL_PLUGIN_ENRICH, "1.0.0", NULL},
        {"pretend", VGL_PLUGIN_RESPOND, "0.3.0", NULL},
        {"demo", VGL_PLUGIN_SOURCE, "0.1.0", NULL},
    };
    ck_assert_uint_eq(l.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l.n; i++) {
        const vgl_plugin_entry *e = &l.items[i];
        ck_assert_str_eq(e->name, want[i].name);
        ck_assert_int_eq(e->kind, want[i].kind);
        if (want[i].version)
            ck_assert_str_eq(e->version, want[i].version);
        else
            ck_assert_ptr_null(e->version);
        if (want[i].error)
            ck_assert_str_eq(e->error, want[i].error);
        else
            ck_assert_ptr_null(e->error);
        ck_assert_ptr_null(e->shadowed_by);
    }
    const vgl_plugin_entry *hello = &l.items[5];
    ck_assert_str_eq(hello->description, "adds labels.greeting to every event");
    ck_assert_uint_eq(hello->abi_major, 1);
    ck_assert_uint_eq(hello->abi_minor, 0);
    ck_assert_uint_eq(hello->noptions, 1);
    ck_assert_str_eq(hello->options[0].name, "greeting");
    ck_assert_int_eq(hello->options[0].type, VGL_OPT_STRING);
    ck_assert_str_eq(hello->options[0].default_value, "hello");
    ck_assert(!hello->options[0].required);
    const vgl_plugin_entry *req = &l.items[8];
    ck_assert(req->options[0].required);
    ck_assert_ptr_null(req->options[1].default_value);
    ck_assert_uint_eq(l.items[3].abi_major, 2);
    vgl_plugin_list_free(&l);
}
END_TEST

START_TEST(listing_shadowed_and_misnamed)
{
    make_tmpdir();
    copy_plugin("vigil-enrich-hello.so", "vigil-enrich-hello.so");
    copy_plugin("vigil-enrich-hello.so", "vigil-thing-hello.so");
    const char *dirs[] = {tmpdir, "/nonexistent/dir", plugin_dir()};
    vgl_plugin_list l;
    ck_assert_int_eq(vgl_plugins_list(dirs, 3, &l), VGL_OK);
    ck_assert_uint_eq(l.n, 13);
    ck_assert_str_eq(l.items[0].name, "hello");
    ck_assert_ptr_null(l.items[0].error);
    ck_assert_str_eq(l.items[1].name, "thing-hello");
    ck_assert_int_eq(l.items[1].kind, 0);
    ck_assert_str_eq(l.items[1].error, "the file name is not vigil-KIND-NAME.so with KIND one "
                                       "of source, connector, enrich, detect, respond");
    char want[1024];
    snprintf(want, sizeof(want), "%s/vigil-enrich-hello.so", tmpdir);
    ck_assert_str_eq(l.items[2 + 5].name, "hello");
    ck_assert_str_eq(l.items[2 + 5].shadowed_by, want);
    vgl_plugin_list_free(&l);
}
END_TEST

/* --------------------------------------------------------------- suite */

static Suite *plugin_suite(void)
{
    Suite *s = suite_create("plugin");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, search_path_order);
    tcase_add_test(tc, abi_rule);
    tcase_add_test(tc, error_not_found);
    tcase_add_test(tc, error_no_descriptor);
    tcase_add_test(tc, error_abi_major);
    tcase_add_test(tc, error_abi_minor_newer);
    tcase_add_test(tc, error_init_fails);
    tcase_add_test(tc, error_init_fails_silently);
    tcase_add_test(tc, error_descriptor_callbacks);
    tcase_add_test(tc, error_explicit_path_missing);
    tcase_add_test(tc, explicit_path_loads);
    tcase_add_test(tc, error_name_mismatch);
    tcase_add_test(tc, error_kind_mismatch);
    tcase_add_test(tc, error_ambiguous);
    tcase_add_test(tc, libtool_build_layout);
    tcase_add_test(tc, error_invalid_name);
    tcase_add_test(tc, error_duplicate_id);
    tcase_add_test(tc, errors_all_reported);
    tcase_add_test(tc, load_registry_and_implicit_source);
    tcase_add_test(tc, source_configured_as_instance);
    tcase_add_test(tc, error_source_of_wrong_kind);
    tcase_add_test(tc, error_source_not_found);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, option_required_missing);
    tcase_add_test(tc, option_required_missing_in_map);
    tcase_add_test(tc, option_unknown_key);
    tcase_add_test(tc, option_unknown_key_no_options);
    tcase_add_test(tc, option_wrong_types);
    tcase_add_test(tc, option_list_item_not_scalar);
    tcase_add_test(tc, option_config_not_a_map);
    tcase_add_test(tc, option_defaults_reach_init);
    tcase_add_test(tc, option_values_reach_init);
    suite_add_tcase(s, tc);

    tc = tcase_create("batch");
    tcase_add_checked_fixture(tc, event_setup, event_teardown);
    tcase_add_test(tc, source_normalizes_expands_fails);
    tcase_add_test(tc, expansion_respects_event_limit);
    tcase_add_test(tc, detector_emits_alert);
    tcase_add_test(tc, detector_may_not_reshape);
    tcase_add_test(tc, host_contains_bad_calls);
    tcase_add_test(tc, value_conversions);
    tcase_add_test(tc, per_worker_instances);
    suite_add_tcase(s, tc);

    tc = tcase_create("respond_connect");
    tcase_add_checked_fixture(tc, event_setup, event_teardown);
    tcase_add_test(tc, responder_outcomes);
    tcase_add_test(tc, connector_produces_until_stopped);
    tcase_add_test(tc, connector_start_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("listing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, listing);
    tcase_add_test(tc, listing_shadowed_and_misnamed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plugin_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
