/*
 * Plugin host (see plugin.h): search path, dlopen + descriptor + ABI check,
 * option validation, instances, the host function table, the batch, and
 * the `vigil plugins` listing.
 */
#include "plugin.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#ifndef VGL_PLUGINDIR
#define VGL_PLUGINDIR "/usr/local/lib/vigil/plugins"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define MAX_OPTIONS 256
#define MAX_ALERT_ITEMS 32
#define MAX_LOG_FIELDS 16
#define ERROR_LOG_INTERVAL_MS 60000
#define REASON_MAX 512

_Static_assert((int)VGL_PLUGIN_SEV_CRITICAL == (int)VGL_SEV_CRITICAL &&
                   (int)VGL_PLUGIN_SEV_INFORMATIONAL == (int)VGL_SEV_INFORMATIONAL,
               "plugin severities follow vgl_severity");
_Static_assert((int)VGL_PLUGIN_LOG_DEBUG == (int)VGL_LOG_DEBUG &&
                   (int)VGL_PLUGIN_LOG_ERROR == (int)VGL_LOG_ERROR,
               "plugin log levels follow vgl_log_level");
_Static_assert(offsetof(vgl_plugin_desc, abi_major) == 0 &&
                   offsetof(vgl_plugin_desc, abi_minor) == 4,
               "abi_major/abi_minor are frozen at the start of the descriptor");

/* One loaded shared object, shared by the instances that use it. */
struct vgl_plugin_so {
    vgl_plugin_so *next;
    char *path;
    void *dl;
    const vgl_plugin_desc *desc;
    unsigned refs;
};

struct vgl_plugin_metric {
    struct vgl_plugin_metric *next;
    char *name, *label, *help;
    vgl_metric_type type;
    _Atomic uint64_t value; /* counter value, or the bits of the gauge's double */
};

typedef struct opt_value {
    const vgl_plugin_option *decl;
    bool set;
    char *str;
    int64_t i;     /* INT, DURATION (ms) */
    double d;
    bool b;
    uint64_t size;
    char **list;
    size_t nlist;
} opt_value;

struct vgl_plugin_config {
    opt_value *opts;
    size_t n;
};

struct vgl_plugins {
    vgl_plugin_instance **items;
    size_t n;
    vgl_plugin_so *sos;
    vgl_produce_fn produce;
    void *produce_opaque;
    pthread_mutex_t lock; /* metrics lists, stop wake-ups */
    pthread_cond_t stop_cond;
    atomic_bool stopping;
};

static const char *const kind_names[] = {NULL, "source", "connector", "enrich", "detect",
                                         "respond"};

const char *vgl_plugin_kind_name(vgl_plugin_kind kind)
{
    return kind >= VGL_PLUGIN_SOURCE && kind <= VGL_PLUGIN_RESPOND ? kind_names[kind] : "?";
}

bool vgl_plugin_kind_parse(const char *s, size_t len, vgl_plugin_kind *out)
{
    for (int k = VGL_PLUGIN_SOURCE; k <= VGL_PLUGIN_RESPOND; k++) {
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], s, len) == 0) {
            *out = (vgl_plugin_kind)k;
            return true;
        }
    }
    return false;
}

const char *vgl_option_type_name(vgl_option_type t)
{
    static const char *const names[] = {NULL,   "string",   "int",  "double",
                                        "bool", "duration", "size", "list"};
    return t >= VGL_OPT_STRING && t <= VGL_OPT_LIST ? names[t] : "?";
}

bool vgl_plugin_abi_compatible(uint32_t plugin_major, uint32_t plugin_minor,
                               uint32_t host_major, uint32_t host_minor, char *err,
                               size_t errlen)
{
    if (plugin_major == host_major && plugin_minor <= host_minor)
        return true;
    snprintf(err, errlen, "built for plugin ABI %u.%u, this vigil provides %u.%u",
             (unsigned)plugin_major, (unsigned)plugin_minor, (unsigned)host_major,
             (unsigned)host_minor);
    return false;
}

/* ------------------------------------------------------------- helpers */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Plugin-supplied text on one line: control bytes become spaces. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static bool valid_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
            return false;
    return true;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* "plugin NAME (PATH): " + reason, one diag line. */
static void plugin_error(vgl_diag *diag, const char *name, const char *id, const char *path,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void plugin_error(vgl_diag *diag, const char *name, const char *id, const char *path,
                         const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    one_line(reason);
    if (id && strcmp(id, name) != 0)
        vgl_diag_add(diag, "plugin %s/%s (%s): %s", name, id, path, reason);
    else
        vgl_diag_add(diag, "plugin %s (%s): %s", name, path, reason);
}

/* "FILE:LINE:COL" of a node, else "FILE:LINE" of the entry. */
static void position(char *buf, size_t len, const char *file, const vgl_cnode *node, int line)
{
    if (node)
        snprintf(buf, len, "%s:%d:%d", file, node->line, node->col);
    else
        snprintf(buf, len, "%s:%d", file, line);
}

/* ---------------------------------------------------------- search path */

bool vgl_plugin_running_uninstalled(void)
{
#ifdef VGL_BUILDDIR
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    size_t bl = strlen(VGL_BUILDDIR);
    return strncmp(exe, VGL_BUILDDIR, bl) == 0 && exe[bl] == '/';
#else
    return false;
#endif
}

static bool dirs_push(vgl_plugin_dirs *d, const char *dir)
{
    char **nd = realloc(d->dirs, (d->n + 1) * sizeof(*nd));
    if (!nd)
        return false;
    d->dirs = nd;
    if (!(d->dirs[d->n] = strdup(dir)))
        return false;
    d->n++;
    return true;
}

vgl_rc vgl_plugin_dirs_init(vgl_plugin_dirs *d, char *const *plugin_path, size_t npath)
{
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; i < npath; i++)
        if (plugin_path[i] && !dirs_push(d, plugin_path[i]))
            goto nomem;
    if (!dirs_push(d, VGL_PLUGINDIR))
        goto nomem;
#ifdef VGL_BUILDDIR
    if (vgl_plugin_running_uninstalled() && !dirs_push(d, VGL_BUILDDIR "/plugins"))
        goto nomem;
#endif
    return VGL_OK;
nomem:
    vgl_plugin_dirs_free(d);
    return VGL_ERR_NOMEM;
}

void vgl_plugin_dirs_free(vgl_plugin_dirs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->dirs[i]);
    free(d->dirs);
    memset(d, 0, sizeof(*d));
}

/* Find NAME in the search path. Returns a malloc'd path, or NULL with err
 * set (not found, or ambiguous within one directory). */
static char *find_plugin(const vgl_plugin_dirs *d, const char *name, vgl_plugin_kind prefer,
                         char *err, size_t errlen)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < d->n; i++) {
        char *found[VGL_PLUGIN_RESPOND + 1] = {0};
        int nfound = 0;
        for (int k = VGL_PLUGIN_SOURCE; k <= VGL_PLUGIN_RESPOND; k++) {
            snprintf(path, sizeof(path), "%s/vigil-%s-%s.so", d->dirs[i], kind_names[k], name);
            /* the build tree: plugins/FOLDERKIND-NAME/.libs/vigil-KIND-NAME.so,
             * where the folder's kind may differ (connectors are built in
             * source-NAME/) */
            for (int fk = VGL_PLUGIN_SOURCE; fk <= VGL_PLUGIN_RESPOND && !is_file(path); fk++)
                snprintf(path, sizeof(path), "%s/%s-%s/.libs/vigil-%s-%s.so", d->dirs[i],
                         kind_names[fk], name, kind_names[k], name);
            if (is_file(path)) {
                found[k] = strdup(path);
                nfound++;
            }
        }
        if (nfound == 0)
            continue;
        char *pick = NULL;
        if (nfound == 1) {
            for (int k = VGL_PLUGIN_SOURCE; k <= VGL_PLUGIN_RESPOND; k++)
                if (found[k])
                    pick = found[k];
        } else if (prefer && found[prefer]) {
            pick = found[prefer];
        } else {
            size_t len = (size_t)snprintf(err, errlen, "ambiguous: %s has", d->dirs[i]);
            const char *sep = " ";
            for (int k = VGL_PLUGIN_SOURCE; k <= VGL_PLUGIN_RESPOND && len < errlen; k++) {
                if (!found[k])
                    continue;
                len += (size_t)snprintf(err + len, errlen - len, "%svigil-%s-%s.so", sep,
                                        kind_names[k], name);
                sep = " and ";
            }
            if (len < errlen)
                snprintf(err + len, errlen - len, "; set `path` in the plugin's config entry");
        }
        for (int k = VGL_PLUGIN_SOURCE; k <= VGL_PLUGIN_RESPOND; k++)
            if (found[k] != pick)
                free(found[k]);
        if (!pick && err[0] == '\0')
            snprintf(err, errlen, "out of memory");
        return pick;
    }
    size_t len = (size_t)snprintf(err, errlen, "not found in ");
    for (size_t i = 0; i < d->n && len < errlen; i++)
        len += (size_t)snprintf(err + len, errlen - len, "%s%s", i ? ", " : "", d->dirs[i]);
    return NULL;
}

/* ------------------------------------------------- descriptor checks */

/* As the core config: true/false in any case, not yes/no/on/off. */
static bool parse_bool_text(const char *s, bool *out)
{
    if (strcasecmp(s, "true") == 0)
        return *out = true, true;
    if (strcasecmp(s, "false") == 0)
        return *out = false, true;
    return false;
}

static bool parse_int_text(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 24)
        return false;
    char tmp[32];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    const char *p = tmp;
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return false;
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE)
        return false;
    *out = (int64_t)v;
    return true;
}

static bool parse_double_text(const char *s, double *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    double d = strtod(s, &end);
    if (*end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static const char *type_phrase(vgl_option_type t)
{
    switch (t) {
    case VGL_OPT_STRING: return "a string";
    case VGL_OPT_INT: return "an integer";
    case VGL_OPT_DOUBLE: return "a number";
    case VGL_OPT_BOOL: return "true or false";
    case VGL_OPT_DURATION: return "a duration such as 500ms, 30s, 5m or 7d";
    case VGL_OPT_SIZE: return "a size such as 4096, 512KiB or 1MiB";
    case VGL_OPT_LIST: return "a list";
    }
    return "?";
}

/* Parse a scalar option value into out; false when the text does not fit. */
static bool parse_option_scalar(vgl_option_type t, const char *text, opt_value *out)
{
    switch (t) {
    case VGL_OPT_STRING:
        free(out->str);
        return (out->str = strdup(text)) != NULL;
    case VGL_OPT_INT: return parse_int_text(text, strlen(text), &out->i);
    case VGL_OPT_DOUBLE: return parse_double_text(text, &out->d);
    case VGL_OPT_BOOL: return parse_bool_text(text, &out->b);
    case VGL_OPT_DURATION: return vgl_parse_duration(text, &out->i);
    case VGL_OPT_SIZE: {
        size_t sz;
        if (!vgl_parse_size(text, &sz))
            return false;
        out->size = sz;
        return true;
    }
    case VGL_OPT_LIST: return false;
    }
    return false;
}

static void opt_value_clear(opt_value *v)
{
    free(v->str);
    for (size_t i = 0; i < v->nlist; i++)
        free(v->list[i]);
    free(v->list);
    const vgl_plugin_option *decl = v->decl;
    memset(v, 0, sizeof(*v));
    v->decl = decl;
}

/* Parse a default: a comma-free single scalar, or for lists a
 * comma-separated text ("a,b"). */
static bool parse_default(const vgl_plugin_option *o, opt_value *out)
{
    if (o->type != VGL_OPT_LIST)
        return parse_option_scalar(o->type, o->default_value, out);
    const char *s = o->default_value;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        char **nl = realloc(out->list, (out->nlist + 1) * sizeof(*nl));
        if (!nl)
            return false;
        out->list = nl;
        if (!(out->list[out->nlist] = strndup(s, n)))
            return false;
        out->nlist++;
        if (!e)
            break;
        s = e + 1;
    }
    return true;
}

/* Everything the host checks in a descriptor whose ABI is compatible.
 * Returns false with the reason in err. */
static bool desc_check(const vgl_plugin_desc *d, char *err, size_t errlen)
{
    if (!d->name)
        return snprintf(err, errlen, "descriptor has no name"), false;
    if (!valid_name(d->name))
        return snprintf(err, errlen, "descriptor name \"%.64s\" is not [A-Za-z0-9_-]+", d->name),
               false;
    if (d->kind < VGL_PLUGIN_SOURCE || d->kind > VGL_PLUGIN_RESPOND)
        return snprintf(err, errlen,
                        "descriptor kind %d is not source, connector, enrich, detect or respond",
                        (int)d->kind),
               false;
    if (d->threading != VGL_THREADING_PER_WORKER && d->threading != VGL_THREADING_SHARED)
        return snprintf(err, errlen, "descriptor threading %d is not PER_WORKER or SHARED",
                        (int)d->threading),
               false;
    const char *kn = vgl_plugin_kind_name(d->kind);
    bool per_event = d->kind == VGL_PLUGIN_SOURCE || d->kind == VGL_PLUGIN_ENRICH ||
                     d->kind == VGL_PLUGIN_DETECT;
    struct {
        const char *what;
        bool set, wanted;
    } cb[] = {
        {"init", d->init != NULL, true},
        {"start", d->start != NULL, d->kind == VGL_PLUGIN_CONNECTOR},
        {"stop", d->stop != NULL, d->kind == VGL_PLUGIN_CONNECTOR},
        {"process", d->process != NULL, per_event},
        {"respond", d->respond != NULL, d->kind == VGL_PLUGIN_RESPOND},
    };
    for (size_t i = 0; i < sizeof(cb) / sizeof(cb[0]); i++) {
        if (cb[i].wanted && !cb[i].set)
            return snprintf(err, errlen, "kind %s needs a %s callback", kn, cb[i].what), false;
        if (!cb[i].wanted && cb[i].set)
            return snprintf(err, errlen, "kind %s does not use a %s callback", kn, cb[i].what),
                   false;
    }
    for (size_t i = 0; i < 8; i++)
        if (d->reserved_fn[i] || d->reserved[i])
            return snprintf(err, errlen, "descriptor sets reserved members (must be NULL)"),
                   false;
    if (!d->options)
        return true;
    size_t n = 0;
    for (; n < MAX_OPTIONS && d->options[n].name; n++) {
        const vgl_plugin_option *o = &d->options[n];
        if (o->type < VGL_OPT_STRING || o->type > VGL_OPT_LIST)
            return snprintf(err, errlen, "option \"%.64s\" has an invalid type %d", o->name,
                            (int)o->type),
                   false;
        for (size_t j = 0; j < n; j++)
            if (strcmp(d->options[j].name, o->name) == 0)
                return snprintf(err, errlen, "option \"%.64s\" is declared twice", o->name),
                       false;
        if (o->required && o->default_value)
            return snprintf(err, errlen, "option \"%.64s\" is required and has a default",
                            o->name),
                   false;
        if (o->default_value) {
            opt_value tmp = {0};
            bool ok = parse_default(o, &tmp);
            opt_value_clear(&tmp);
            if (!ok)
                return snprintf(err, errlen, "option \"%.64s\": default \"%.64s\" is not %s",
                                o->name, o->default_value, type_phrase(o->type)),
                       false;
        }
    }
    if (n == MAX_OPTIONS)
        return snprintf(err, errlen, "options array has no {0} terminator within %d entries",
                        MAX_OPTIONS),
               false;
    return true;
}

/* Open a file and check its descriptor. NULL with the reason in err. */
static vgl_plugin_so *so_open(const char *path, char *err, size_t errlen)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        snprintf(err, errlen, "cannot load: %s", e ? e : "dlopen failed");
        return NULL;
    }
    const vgl_plugin_desc *d = dlsym(dl, VGL_PLUGIN_SYMBOL);
    if (!d) {
        snprintf(err, errlen, "no %s descriptor (not a vigil plugin?)", VGL_PLUGIN_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    if (!vgl_plugin_abi_compatible(d->abi_major, d->abi_minor, VGL_PLUGIN_ABI_MAJOR,
                                   VGL_PLUGIN_ABI_MINOR, err, errlen) ||
        !desc_check(d, err, errlen)) {
        dlclose(dl);
        return NULL;
    }
    vgl_plugin_so *so = calloc(1, sizeof(*so));
    if (!so || !(so->path = strdup(path))) {
        free(so);
        dlclose(dl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    so->dl = dl;
    so->desc = d;
    return so;
}

static void so_close(vgl_plugin_so *so)
{
    /* VGL_PLUGIN_NO_DLCLOSE keeps plugins mapped so that leak checkers
     * can name their functions at exit. */
    const char *keep = getenv("VGL_PLUGIN_NO_DLCLOSE");
    if (!(keep && *keep && strcmp(keep, "0") != 0))
        dlclose(so->dl);
    free(so->path);
    free(so);
}

static vgl_plugin_so *so_get(vgl_plugins *ps, const char *path, char *err, size_t errlen)
{
    for (vgl_plugin_so *so = ps->sos; so; so = so->next) {
        if (strcmp(so->path, path) == 0) {
            so->refs++;
            return so;
        }
    }
    vgl_plugin_so *so = so_open(path, err, errlen);
    if (!so)
        return NULL;
    so->refs = 1;
    so->next = ps->sos;
    ps->sos = so;
    return so;
}

static void so_put(vgl_plugins *ps, vgl_plugin_so *so)
{
    if (!so || --so->refs > 0)
        return;
    for (vgl_plugin_so **pp = &ps->sos; *pp; pp = &(*pp)->next) {
        if (*pp == so) {
            *pp = so->next;
            break;
        }
    }
    so_close(so);
}

/* ------------------------------------------------------ option checks */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void unknown_option_hint(const vgl_plugin_desc *d, const char *key, char *buf,
                                size_t len)
{
    if (!d->options || !d->options[0].name) {
        snprintf(buf, len, " (this plugin takes no options)");
        return;
    }
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; d->options[i].name; i++) {
        size_t dist = edit_distance(key, d->options[i].name);
        if (dist < bestd) {
            bestd = dist;
            best = d->options[i].name;
        }
    }
    if (best) {
        snprintf(buf, len, " (did you mean \"%s\"?)", best);
        return;
    }
    size_t n = (size_t)snprintf(buf, len, " (options:");
    for (size_t i = 0; d->options[i].name && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s %s", i ? "," : "", d->options[i].name);
    if (n < len)
        snprintf(buf + n, len - n, ")");
}

static const char *node_kind_phrase(const vgl_cnode *n)
{
    return n->kind == VGL_CN_MAP ? "a map" : n->kind == VGL_CN_SEQ ? "a list" : "a scalar";
}

static void config_free(vgl_plugin_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        opt_value_clear(&c->opts[i]);
    free(c->opts);
    free(c);
}

typedef struct load_ctx {
    vgl_diag *diag;
    const char *file; /* config file name for positions */
    const char *name, *id, *path;
    int line;         /* entry line */
} load_ctx;

/* Validate the config map against the declared options; every problem is
 * reported. NULL when anything was wrong. */
static vgl_plugin_config *config_build(const vgl_plugin_desc *d, const vgl_cnode *node,
                                       const load_ctx *lc)
{
    char pos[512];
    bool ok = true;
    vgl_plugin_config *c = calloc(1, sizeof(*c));
    if (!c)
        goto nomem;
    size_t nopt = 0;
    while (d->options && d->options[nopt].name)
        nopt++;
    if (nopt && !(c->opts = calloc(nopt, sizeof(*c->opts))))
        goto nomem;
    c->n = nopt;
    for (size_t i = 0; i < nopt; i++)
        c->opts[i].decl = &d->options[i];

    if (node && node->kind != VGL_CN_MAP) {
        position(pos, sizeof(pos), lc->file, node, lc->line);
        plugin_error(lc->diag, lc->name, lc->id, lc->path,
                     "%s: `config` must be a map of options, got %s", pos,
                     node_kind_phrase(node));
        config_free(c);
        return NULL;
    }
    for (size_t k = 0; node && k < node->n; k++) {
        const char *key = node->keys[k];
        const vgl_cnode *val = node->items[k];
        opt_value *ov = NULL;
        for (size_t i = 0; i < nopt; i++)
            if (strcmp(c->opts[i].decl->name, key) == 0)
                ov = &c->opts[i];
        position(pos, sizeof(pos), lc->file, val, lc->line);
        if (!ov) {
            char hint[512];
            unknown_option_hint(d, key, hint, sizeof(hint));
            plugin_error(lc->diag, lc->name, lc->id, lc->path, "%s: unknown option \"%s\"%s",
                         pos, key, hint);
            ok = false;
            continue;
        }
        vgl_option_type t = ov->decl->type;
        opt_value_clear(ov);
        if (t == VGL_OPT_LIST) {
            if (val->kind != VGL_CN_SEQ) {
                plugin_error(lc->diag, lc->name, lc->id, lc->path,
                             "%s: option \"%s\" must be a list, got %s", pos, key,
                             node_kind_phrase(val));
                ok = false;
                continue;
            }
            if (val->n && !(ov->list = calloc(val->n, sizeof(char *))))
                goto nomem;
            for (size_t j = 0; j < val->n; j++) {
                const vgl_cnode *it = val->items[j];
                if (it->kind != VGL_CN_SCALAR) {
                    position(pos, sizeof(pos), lc->file, it, lc->line);
                    plugin_error(lc->diag, lc->name, lc->id, lc->path,
                                 "%s: option \"%s\" item %zu must be a scalar, got %s", pos,
                                 key, j + 1, node_kind_phrase(it));
                    ok = false;
                    break;
                }
                if (!(ov->list[ov->nlist] = strdup(it->scalar ? it->scalar : "")))
                    goto nomem;
                ov->nlist++;
            }
            ov->set = true;
            continue;
        }
        if (val->kind != VGL_CN_SCALAR) {
            plugin_error(lc->diag, lc->name, lc->id, lc->path,
                         "%s: option \"%s\" must be %s, got %s", pos, key, type_phrase(t),
                         node_kind_phrase(val));
            ok = false;
            continue;
        }
        const char *text = val->scalar ? val->scalar : "";
        if (!parse_option_scalar(t, text, ov)) {
            if (t == VGL_OPT_STRING)
                goto nomem;
            plugin_error(lc->diag, lc->name, lc->id, lc->path,
                         "%s: option \"%s\" must be %s, got \"%.128s\"", pos, key,
                         type_phrase(t), text);
            ok = false;
            continue;
        }
        ov->set = true;
    }
    for (size_t i = 0; i < nopt; i++) {
        opt_value *ov = &c->opts[i];
        if (ov->set)
            continue;
        if (ov->decl->required) {
            position(pos, sizeof(pos), lc->file, node, lc->line);
            plugin_error(lc->diag, lc->name, lc->id, lc->path,
                         "%s: missing required option \"%s\" (%s)", pos, ov->decl->name,
                         type_phrase(ov->decl->type));
            ok = false;
        } else if (ov->decl->default_value) {
            if (!parse_default(ov->decl, ov))
                goto nomem;
            ov->set = true;
        }
    }
    if (!ok) {
        config_free(c);
        return NULL;
    }
    return c;
nomem:
    plugin_error(lc->diag, lc->name, lc->id, lc->path, "out of memory");
    config_free(c);
    return NULL;
}

static const opt_value *config_find(const vgl_plugin_config *c, const char *name,
                                    vgl_option_type t)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->opts[i].decl->name, name) == 0)
            return c->opts[i].decl->type == t && c->opts[i].set ? &c->opts[i] : NULL;
    return NULL;
}

static bool h_config_str(const vgl_plugin_config *c, const char *name, const char **out)
{
    const opt_value *v = config_find(c, name, VGL_OPT_STRING);
    if (v && out)
        *out = v->str;
    return v != NULL;
}

static bool h_config_int(const vgl_plugin_config *c, const char *name, int64_t *out)
{
    const opt_value *v = config_find(c, name, VGL_OPT_INT);
    if (v && out)
        *out = v->i;
    return v != NULL;
}

static bool h_config_double(const vgl_plugin_config *c, const char *name, double *out)
{
    const opt_value *v = config_find(c, name, VGL_OPT_DOUBLE);
    if (v && out)
        *out = v->d;
    return v != NULL;
}

static bool h_config_bool(const vgl_plugin_config *c, const char *name, bool *out)
{
    const opt_value *v = config_find(c, name, VGL_OPT_BOOL);
    if (v && out)
        *out = v->b;
    return v != NULL;
}

static bool h_config_duration(const vgl_plugin_config *c, const char *name, int64_t *ms)
{
    const opt_value *v = config_find(c, name, VGL_OPT_DURATION);
    if (v && ms)
        *ms = v->i;
    return v != NULL;
}

static bool h_config_size(const vgl_plugin_config *c, const char *name, uint64_t *bytes)
{
    const opt_value *v = config_find(c, name, VGL_OPT_SIZE);
    if (v && bytes)
        *bytes = v->size;
    return v != NULL;
}

static size_t h_config_list(const vgl_plugin_config *c, const char *name,
                            const char *const **items)
{
    const opt_value *v = config_find(c, name, VGL_OPT_LIST);
    if (items)
        *items = v ? (const char *const *)v->list : NULL;
    return v ? v->nlist : 0;
}

/* ------------------------------------------------------ host: identity */

static vgl_plugin_instance *inst_of(const vgl_host *h)
{
    return (vgl_plugin_instance *)h; /* host is the first member */
}
_Static_assert(offsetof(vgl_plugin_instance, host) == 0, "host first");

static void count_error(vgl_plugin_instance *pi, const char *what, const char *detail)
{
    atomic_fetch_add_explicit(&pi->errors, 1, memory_order_relaxed);
    int64_t now = vgl_now_ms();
    int64_t last = atomic_load_explicit(&pi->last_error_log_ms, memory_order_relaxed);
    if (last && now - last < ERROR_LOG_INTERVAL_MS)
        return;
    if (!atomic_compare_exchange_strong(&pi->last_error_log_ms, &last, now))
        return;
    vgl_warn("plugin error", "plugin=%s what=%s detail=%s errors_total=%llu", pi->id, what,
             detail ? detail : "",
             (unsigned long long)atomic_load_explicit(&pi->errors, memory_order_relaxed));
}

/* ------------------------------------------------------- host: logging */

static void h_log(const vgl_host *h, vgl_plugin_log_level level, const char *msg,
                  const vgl_pair *fields, size_t nfields)
{
    if (!h)
        return;
    vgl_log_level lvl = (int)level < 0 ? VGL_LOG_ERROR
                        : level > VGL_PLUGIN_LOG_DEBUG ? VGL_LOG_DEBUG
                                                       : (vgl_log_level)level;
    if (!vgl_log_enabled(lvl))
        return;
    if (!fields)
        nfields = 0;
    if (nfields > MAX_LOG_FIELDS)
        nfields = MAX_LOG_FIELDS;
    /* The format is built from sanitized keys only ([A-Za-z0-9_.-], never
     * '%'); every value goes through %s, which log.c quotes and escapes. */
    char fmt[MAX_LOG_FIELDS * 72 + 16];
    size_t fl = 0;
    memcpy(fmt, "plugin=%s", 9);
    fl = 9;
    const char *vals[MAX_LOG_FIELDS] = {0};
    for (size_t i = 0; i < nfields; i++) {
        fmt[fl++] = ' ';
        const char *k = fields[i].key && *fields[i].key ? fields[i].key : "field";
        for (size_t j = 0; k[j] && j < 64; j++) {
            char c = k[j];
            fmt[fl++] = isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' ? c : '_';
        }
        memcpy(fmt + fl, "=%s", 3);
        fl += 3;
        vals[i] = fields[i].value ? fields[i].value : "";
    }
    fmt[fl] = '\0';
    vgl_log(lvl, msg ? msg : "", fmt, inst_of(h)->id, vals[0], vals[1], vals[2], vals[3],
            vals[4], vals[5], vals[6], vals[7], vals[8], vals[9], vals[10], vals[11], vals[12],
            vals[13], vals[14], vals[15]);
}

static bool h_log_enabled(const vgl_host *h, vgl_plugin_log_level level)
{
    (void)h;
    return (int)level >= 0 && vgl_log_enabled((vgl_log_level)level);
}

/* ------------------------------------------------------- host: metrics */

static bool valid_metric_name(const char *s)
{
    if (!s || !(islower((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static bool valid_label(const char *s)
{
    if (!s)
        return true;
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (const char *p = s; p < eq; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return false;
    return true;
}

static vgl_plugin_metric *h_metric(const vgl_host *h, vgl_metric_type type, const char *name,
                                   const char *label, const char *help)
{
    if (!h)
        return NULL;
    vgl_plugin_instance *pi = inst_of(h);
    if (!valid_metric_name(name) || !valid_label(label) ||
        (type != VGL_METRIC_COUNTER && type != VGL_METRIC_GAUGE)) {
        count_error(pi, "metric", "invalid metric name, label or type");
        return NULL;
    }
    pthread_mutex_lock(&pi->reg->lock);
    vgl_plugin_metric *m;
    for (m = pi->metrics; m; m = m->next) {
        if (strcmp(m->name, name) == 0 &&
            ((!label && !m->label) || (label && m->label && strcmp(label, m->label) == 0)))
            break;
    }
    if (m && m->type != type)
        m = NULL;
    else if (!m && (m = calloc(1, sizeof(*m)))) {
        m->name = strdup(name);
        m->label = xstrdup(label);
        m->help = strdup(help ? help : "");
        m->type = type;
        if (!m->name || (label && !m->label) || !m->help) {
            free(m->name);
            free(m->label);
            free(m->help);
            free(m);
            m = NULL;
        } else {
            m->next = pi->metrics;
            pi->metrics = m;
        }
    }
    pthread_mutex_unlock(&pi->reg->lock);
    return m;
}

static void h_counter_add(vgl_plugin_metric *m, uint64_t delta)
{
    if (m && m->type == VGL_METRIC_COUNTER)
        atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

static void h_gauge_set(vgl_plugin_metric *m, double v)
{
    if (!m || m->type != VGL_METRIC_GAUGE)
        return;
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    atomic_store_explicit(&m->value, bits, memory_order_relaxed);
}

void vgl_plugin_metrics_each(const vgl_plugin_instance *pi, vgl_plugin_metric_fn fn,
                             void *opaque)
{
    pthread_mutex_lock(&pi->reg->lock);
    for (vgl_plugin_metric *m = pi->metrics; m; m = m->next) {
        uint64_t bits = atomic_load_explicit(&m->value, memory_order_relaxed);
        double v;
        if (m->type == VGL_METRIC_GAUGE)
            memcpy(&v, &bits, sizeof(v));
        else
            v = (double)bits;
        fn(opaque, m->name, m->label, m->help, m->type, v);
    }
    pthread_mutex_unlock(&pi->reg->lock);
}

/* ------------------------------------------------- host: paths, fields */

static const vgl_path *h_path(const vgl_host *h, const char *dotted)
{
    (void)h;
    return vgl_path_intern(dotted);
}

static const char *h_path_str(const vgl_path *p)
{
    return p ? p->str : NULL;
}

static bool value_str(const vgl_value *v, const char **s, size_t *len)
{
    if (!v || v->type != VGL_T_STRING)
        return false;
    if (s)
        *s = v->u.s;
    if (len)
        *len = v->n;
    return true;
}

static bool value_int(const vgl_value *v, int64_t *out)
{
    int64_t i;
    if (!v)
        return false;
    switch (v->type) {
    case VGL_T_INT: i = v->u.i; break;
    case VGL_T_DOUBLE:
        /* exact integers only; 2^63 itself does not fit */
        if (!isfinite(v->u.d) || v->u.d != trunc(v->u.d) || v->u.d < -9223372036854775808.0 ||
            v->u.d >= 9223372036854775808.0)
            return false;
        i = (int64_t)v->u.d;
        break;
    case VGL_T_STRING:
        if (!parse_int_text(v->u.s, v->n, &i))
            return false;
        break;
    default: return false;
    }
    if (out)
        *out = i;
    return true;
}

static bool value_double(const vgl_value *v, double *out)
{
    double d;
    if (!v || !vgl_value_number(v, &d))
        return false;
    if (out)
        *out = d;
    return true;
}

static bool value_bool(const vgl_value *v, bool *out)
{
    bool b;
    if (!v)
        return false;
    if (v->type == VGL_T_BOOL)
        b = v->u.b;
    else if (v->type == VGL_T_STRING && v->n == 4 && memcmp(v->u.s, "true", 4) == 0)
        b = true;
    else if (v->type == VGL_T_STRING && v->n == 5 && memcmp(v->u.s, "false", 5) == 0)
        b = false;
    else
        return false;
    if (out)
        *out = b;
    return true;
}

static const vgl_value *h_get(const vgl_event *ev, const vgl_path *p)
{
    return ev && p ? vgl_event_get(ev, p) : NULL;
}

static bool h_has(const vgl_event *ev, const vgl_path *p)
{
    return h_get(ev, p) != NULL;
}

static vgl_type h_get_type(const vgl_event *ev, const vgl_path *p)
{
    const vgl_value *v = h_get(ev, p);
    return v ? (vgl_type)v->type : VGL_T_NULL;
}

static bool h_get_str(const vgl_event *ev, const vgl_path *p, const char **s, size_t *len)
{
    return value_str(h_get(ev, p), s, len);
}

static bool h_get_int(const vgl_event *ev, const vgl_path *p, int64_t *out)
{
    return value_int(h_get(ev, p), out);
}

static bool h_get_double(const vgl_event *ev, const vgl_path *p, double *out)
{
    return value_double(h_get(ev, p), out);
}

static bool h_get_bool(const vgl_event *ev, const vgl_path *p, bool *out)
{
    return value_bool(h_get(ev, p), out);
}

static vgl_rc h_set_str(vgl_event *ev, const vgl_path *p, const char *s, size_t len)
{
    if (!ev || !p || (!s && len))
        return VGL_ERR_INVALID;
    if (len > UINT32_MAX)
        return VGL_ERR_TOOBIG;
    return vgl_event_set_str(ev, p, s ? s : "", len);
}

static vgl_rc h_set_int(vgl_event *ev, const vgl_path *p, int64_t v)
{
    return ev && p ? vgl_event_set_int(ev, p, v) : VGL_ERR_INVALID;
}

static vgl_rc h_set_double(vgl_event *ev, const vgl_path *p, double v)
{
    return ev && p ? vgl_event_set_double(ev, p, v) : VGL_ERR_INVALID;
}

static vgl_rc h_set_bool(vgl_event *ev, const vgl_path *p, bool v)
{
    return ev && p ? vgl_event_set_bool(ev, p, v) : VGL_ERR_INVALID;
}

static vgl_rc h_append_str(vgl_event *ev, const vgl_path *p, const char *s, size_t len)
{
    if (!ev || !p || (!s && len))
        return VGL_ERR_INVALID;
    if (len > UINT32_MAX)
        return VGL_ERR_TOOBIG;
    return vgl_event_append_str(ev, p, s ? s : "", len);
}

static vgl_rc h_set_value(vgl_event *ev, const vgl_path *p, const vgl_value *v)
{
    return ev && p && v ? vgl_event_set_value(ev, p, v) : VGL_ERR_INVALID;
}

static const vgl_value *h_value_get(const vgl_value *obj, const vgl_path *p)
{
    if (!obj || !p || obj->type != VGL_T_OBJECT)
        return NULL;
    /* same lookup as vgl_event_get, from obj instead of the root */
    const vgl_value *cur = obj;
    for (uint32_t i = 0; i < p->nseg; i++) {
        const vgl_path_seg *sg = &p->seg[i];
        const vgl_value *next = vgl_object_get(cur, sg->s, sg->len, sg->hash);
        if (!next)
            return i + 1 < p->nseg ? vgl_object_get(cur, sg->s, sg->rest_len, sg->rest_hash)
                                   : NULL;
        cur = next;
    }
    return cur;
}

static vgl_type h_value_type(const vgl_value *v)
{
    return v ? (vgl_type)v->type : VGL_T_NULL;
}

static size_t h_value_count(const vgl_value *v)
{
    if (!v || (v->type != VGL_T_ARRAY && v->type != VGL_T_OBJECT && v->type != VGL_T_STRING))
        return 0;
    return v->n;
}

static const vgl_value *h_value_at(const vgl_value *arr, size_t i)
{
    return arr && arr->type == VGL_T_ARRAY && i < arr->n ? &arr->u.items[i] : NULL;
}

static const vgl_value *h_value_member(const vgl_value *obj, size_t i, const char **key,
                                       size_t *klen)
{
    if (!obj || obj->type != VGL_T_OBJECT || i >= obj->n)
        return NULL;
    const vgl_member *m = &obj->u.members[i];
    if (key)
        *key = m->key;
    if (klen)
        *klen = m->klen;
    return &m->v;
}

static const vgl_value *h_member_get(const vgl_value *obj, const char *key, size_t klen)
{
    if (!obj || !key)
        return NULL;
    return vgl_object_get(obj, key, klen, vgl_hash(key, klen));
}

static int64_t h_time_get(const vgl_event *ev)
{
    return ev ? ev->ts_ms : VGL_TS_NONE;
}

static void h_time_set(vgl_event *ev, int64_t ms)
{
    if (ev)
        ev->ts_ms = ms;
}

static bool h_time_parse(const char *s, size_t len, int64_t *ms)
{
    int64_t v;
    if (!s || !vgl_time_parse(s, len, &v))
        return false;
    if (ms)
        *ms = v;
    return true;
}

static void h_origin(const vgl_event *ev, vgl_event_origin *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    out->partition = -1;
    out->offset = -1;
    if (!ev)
        return;
    out->topic = ev->meta.topic;
    out->partition = ev->meta.partition;
    out->offset = ev->meta.offset;
    out->key = ev->meta.key;
    out->key_len = ev->meta.key_len;
    out->received_ms = ev->meta.received_ms;
}

/* ------------------------------------------------------- host: batch */

void vgl_batch_init(vgl_batch *b, vgl_event_alloc_fn alloc, void *alloc_opaque,
                    vgl_alert_fn on_alert, void *alert_opaque)
{
    memset(b, 0, sizeof(*b));
    b->alloc = alloc;
    b->alloc_opaque = alloc_opaque;
    b->on_alert = on_alert;
    b->alert_opaque = alert_opaque;
}

static bool batch_reserve(vgl_batch *b, size_t need)
{
    if (need <= b->cap)
        return true;
    size_t ncap = b->cap ? b->cap : 16;
    while (ncap < need)
        ncap *= 2;
    vgl_batch_item *ni = realloc(b->items, ncap * sizeof(*ni));
    if (!ni)
        return false;
    b->items = ni;
    b->cap = ncap;
    return true;
}

vgl_rc vgl_batch_add(vgl_batch *b, vgl_event *ev)
{
    if (!ev)
        return VGL_ERR_INVALID;
    if (!batch_reserve(b, b->n + 1))
        return VGL_ERR_NOMEM;
    b->items[b->n++] = (vgl_batch_item){.ev = ev, .state = VGL_BATCH_LIVE};
    return VGL_OK;
}

static void batch_set_failed(vgl_batch *b, size_t i, const char *prefix, const char *reason)
{
    vgl_batch_item *it = &b->items[i];
    if (it->state == VGL_BATCH_FAILED)
        return; /* the first failure names the cause */
    char buf[REASON_MAX];
    if (prefix)
        snprintf(buf, sizeof(buf), "plugin %s: %s", prefix, reason ? reason : "no reason given");
    else
        snprintf(buf, sizeof(buf), "%s", reason ? reason : "no reason given");
    one_line(buf);
    it->state = VGL_BATCH_FAILED;
    it->reason = strdup(buf); /* NULL on OOM: the worker then uses a generic reason */
}

void vgl_batch_fail(vgl_batch *b, size_t i, const char *reason)
{
    if (i < b->n)
        batch_set_failed(b, i, NULL, reason);
}

void vgl_batch_clear(vgl_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i].reason);
    b->n = 0;
    b->npending = 0;
    b->visible = 0;
    b->cur = NULL;
}

void vgl_batch_free(vgl_batch *b)
{
    vgl_batch_clear(b);
    free(b->items);
    free(b->pending);
    memset(b, 0, sizeof(*b));
}

static size_t h_batch_count(const vgl_batch *b)
{
    return b && b->cur ? b->visible : 0;
}

static vgl_event *h_batch_event(vgl_batch *b, size_t i)
{
    if (!b || !b->cur || i >= b->visible || b->items[i].state != VGL_BATCH_LIVE)
        return NULL;
    return b->items[i].ev;
}

/* May the current plugin change the batch's membership? */
static bool may_reshape(vgl_batch *b, const char *what)
{
    if (!b || !b->cur)
        return false;
    vgl_plugin_kind k = b->cur->desc->kind;
    if (k == VGL_PLUGIN_SOURCE || k == VGL_PLUGIN_ENRICH)
        return true;
    count_error(b->cur, what, "only source and enrich plugins may change the batch");
    return false;
}

static vgl_event *h_batch_emit_new(vgl_batch *b, size_t origin)
{
    if (!may_reshape(b, "batch_emit_new"))
        return NULL;
    vgl_plugin_instance *pi = b->cur;
    if (origin >= b->visible || b->items[origin].state != VGL_BATCH_LIVE) {
        count_error(pi, "batch_emit_new", "origin is not a live event of the batch");
        return NULL;
    }
    if (!b->alloc) {
        count_error(pi, "batch_emit_new", "this batch cannot take new events");
        return NULL;
    }
    if (b->max_events && b->n + b->npending >= b->max_events) {
        count_error(pi, "batch_emit_new", "the batch's event limit is reached");
        return NULL;
    }
    /* reserve first: an allocated event must never be lost */
    if (b->npending == b->pending_cap) {
        size_t ncap = b->pending_cap ? b->pending_cap * 2 : 16;
        struct vgl_batch_pending *np = realloc(b->pending, ncap * sizeof(*np));
        if (!np) {
            count_error(pi, "batch_emit_new", "out of memory");
            return NULL;
        }
        b->pending = np;
        b->pending_cap = ncap;
    }
    vgl_event *ev = b->alloc(b->alloc_opaque);
    if (!ev) {
        count_error(pi, "batch_emit_new", "no event available (memory limit)");
        return NULL;
    }
    const vgl_event *o = b->items[origin].ev;
    ev->meta = o->meta;
    ev->ts_ms = o->ts_ms;
    b->pending[b->npending] =
        (struct vgl_batch_pending){.origin = origin, .seq = b->npending, .ev = ev};
    b->npending++;
    atomic_fetch_add_explicit(&pi->emitted, 1, memory_order_relaxed);
    return ev;
}

static void h_batch_drop(vgl_batch *b, size_t i)
{
    if (!may_reshape(b, "batch_drop") || i >= b->visible)
        return;
    if (b->items[i].state == VGL_BATCH_LIVE) {
        b->items[i].state = VGL_BATCH_DROPPED;
        atomic_fetch_add_explicit(&b->cur->dropped, 1, memory_order_relaxed);
    }
}

static void h_batch_fail(vgl_batch *b, size_t i, const char *reason)
{
    if (!may_reshape(b, "batch_fail") || i >= b->visible)
        return;
    if (b->items[i].state != VGL_BATCH_FAILED)
        atomic_fetch_add_explicit(&b->cur->failed, 1, memory_order_relaxed);
    batch_set_failed(b, i, b->cur->id, reason);
}

static int pending_cmp(const void *a, const void *b)
{
    const struct vgl_batch_pending *x = a, *y = b;
    if (x->origin != y->origin)
        return x->origin < y->origin ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Insert the events emitted during a call right after their origins. */
static vgl_rc batch_merge_pending(vgl_batch *b)
{
    size_t np = b->npending;
    if (np == 0)
        return VGL_OK;
    for (size_t j = 1; j < np; j++) {
        if (b->pending[j].origin < b->pending[j - 1].origin) {
            qsort(b->pending, np, sizeof(*b->pending), pending_cmp);
            break;
        }
    }
    if (!batch_reserve(b, b->n + np)) {
        /* cannot grow: keep the originals; the worker still recycles the
         * emitted events, which it allocated */
        b->npending = 0;
        return VGL_ERR_NOMEM;
    }
    size_t i = b->n, j = np, k = b->n + np;
    while (j > 0) {
        if (i > 0 && i - 1 > b->pending[j - 1].origin) {
            b->items[--k] = b->items[--i];
        } else {
            j--;
            b->items[--k] = (vgl_batch_item){.ev = b->pending[j].ev,
                                              .state = VGL_BATCH_LIVE,
                                              .emitted = true};
        }
    }
    b->n += np;
    b->npending = 0;
    return VGL_OK;
}

/* Is ev one of the batch's events visible to the current call (or emitted
 * during it)? Guards against a stale pointer from an earlier batch. */
static bool batch_owns(const vgl_batch *b, const vgl_event *ev)
{
    for (size_t i = 0; i < b->visible; i++)
        if (b->items[i].ev == ev)
            return true;
    for (size_t i = 0; i < b->npending; i++)
        if (b->pending[i].ev == ev)
            return true;
    return false;
}

static vgl_rc h_alert_emit(vgl_batch *b, const vgl_plugin_alert *pa)
{
    if (!b || !b->cur)
        return VGL_ERR_STATE;
    vgl_plugin_instance *pi = b->cur;
    const char *bad = NULL;
    if (!pa)
        bad = "alert is NULL";
    else if (!pa->rule_id || !*pa->rule_id)
        bad = "alert has no rule_id";
    else if (!pa->title || !*pa->title)
        bad = "alert has no title";
    else if ((int)pa->severity < VGL_PLUGIN_SEV_INFORMATIONAL ||
             pa->severity > VGL_PLUGIN_SEV_CRITICAL)
        bad = "alert severity is out of range";
    else if (pa->nentities > MAX_ALERT_ITEMS || pa->ntags > MAX_ALERT_ITEMS ||
             pa->nevidence_fields > MAX_ALERT_ITEMS) {
        count_error(pi, "alert_emit", "over 32 entities, tags or evidence fields");
        return VGL_ERR_TOOBIG;
    } else if ((pa->nentities && !pa->entities) || (pa->ntags && !pa->tags) ||
               (pa->nevidence_fields && !pa->evidence_fields))
        bad = "alert has a count without its array";
    else if (pa->event && !batch_owns(b, pa->event))
        bad = "alert event is not an event of the current batch";
    for (size_t i = 0; !bad && i < pa->nentities; i++)
        if (!pa->entities[i].type || !pa->entities[i].value)
            bad = "alert entity without type or value";
    for (size_t i = 0; !bad && i < pa->ntags; i++)
        if (!pa->tags[i])
            bad = "alert tag is NULL";
    if (bad) {
        count_error(pi, "alert_emit", bad);
        return VGL_ERR_INVALID;
    }

    vgl_entity ents[MAX_ALERT_ITEMS];
    for (size_t i = 0; i < pa->nentities; i++)
        ents[i] = (vgl_entity){pa->entities[i].type, pa->entities[i].value};
    vgl_alert a = {
        .rule_id = pa->rule_id,
        .title = pa->title,
        .description = pa->description,
        .severity = (vgl_severity)pa->severity,
        .tactic = pa->tactic,
        .technique = pa->technique,
        .entities = ents,
        .nentities = pa->nentities,
        .tags = pa->tags,
        .ntags = pa->ntags,
        .time_ms = vgl_now_ms(),
    };
    vgl_evidence evd;
    vgl_value fields;
    if (pa->event) {
        /* the host's events are mutable; the plugin saw them const */
        vgl_event *ev = (vgl_event *)pa->event;
        vgl_value_set_object(&fields);
        for (size_t i = 0; i < pa->nevidence_fields; i++) {
            const vgl_path *p = pa->evidence_fields[i];
            const vgl_value *v = p ? vgl_event_get(ev, p) : NULL;
            if (!v)
                continue;
            /* path strings live until exit; values are shared, not copied:
             * nothing modifies the event during the callback */
            vgl_value *slot = vgl_object_add(ev, &fields, p->str, strlen(p->str), true);
            if (slot)
                *slot = *v;
        }
        evd = (vgl_evidence){.topic = ev->meta.topic,
                             .partition = ev->meta.partition,
                             .offset = ev->meta.offset,
                             .ts_ms = ev->ts_ms,
                             .fields = fields.n ? &fields : NULL};
        a.evidence = &evd;
        a.nevidence = 1;
        if (ev->ts_ms != VGL_TS_NONE)
            a.time_ms = ev->ts_ms;
        else if (ev->meta.received_ms > 0)
            a.time_ms = ev->meta.received_ms;
    }
    vgl_alert_make_id(&a);
    atomic_fetch_add_explicit(&pi->alerts, 1, memory_order_relaxed);
    if (b->on_alert)
        b->on_alert(b->alert_opaque, &a);
    return VGL_OK;
}

/* --------------------------------------------------- host: connectors */

static vgl_rc h_produce(const vgl_host *h, const char *topic, const void *key, size_t keylen,
                        const void *value, size_t len)
{
    if (!h)
        return VGL_ERR_INVALID;
    vgl_plugin_instance *pi = inst_of(h);
    if (!topic || !*topic || (!value && len) || (!key && keylen)) {
        count_error(pi, "produce", "invalid arguments");
        return VGL_ERR_INVALID;
    }
    if (!atomic_load(&pi->can_produce) || !pi->reg->produce) {
        count_error(pi, "produce", "called outside start..stop");
        return VGL_ERR_STATE;
    }
    vgl_rc rc = pi->reg->produce(pi->reg->produce_opaque, topic, key, keylen, value, len);
    if (rc == VGL_OK)
        atomic_fetch_add_explicit(&pi->produced, 1, memory_order_relaxed);
    else
        count_error(pi, "produce", vgl_rc_str(rc));
    return rc;
}

static bool h_stopping(const vgl_host *h)
{
    return h && atomic_load(&inst_of(h)->reg->stopping);
}

static bool h_wait_stop(const vgl_host *h, int64_t timeout_ms)
{
    if (!h)
        return false;
    vgl_plugins *ps = inst_of(h)->reg;
    if (timeout_ms < 0)
        timeout_ms = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ps->lock);
    while (!atomic_load(&ps->stopping)) {
        if (pthread_cond_timedwait(&ps->stop_cond, &ps->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&ps->lock);
    return atomic_load(&ps->stopping);
}

static const vgl_host host_template = {
    .abi_major = VGL_PLUGIN_ABI_MAJOR,
    .abi_minor = VGL_PLUGIN_ABI_MINOR,
    .vigil_version = PACKAGE_VERSION,
    .log = h_log,
    .log_enabled = h_log_enabled,
    .metric = h_metric,
    .counter_add = h_counter_add,
    .gauge_set = h_gauge_set,
    .config_str = h_config_str,
    .config_int = h_config_int,
    .config_double = h_config_double,
    .config_bool = h_config_bool,
    .config_duration = h_config_duration,
    .config_size = h_config_size,
    .config_list = h_config_list,
    .path = h_path,
    .path_str = h_path_str,
    .has = h_has,
    .get_type = h_get_type,
    .get_str = h_get_str,
    .get_int = h_get_int,
    .get_double = h_get_double,
    .get_bool = h_get_bool,
    .set_str = h_set_str,
    .set_int = h_set_int,
    .set_double = h_set_double,
    .set_bool = h_set_bool,
    .append_str = h_append_str,
    .set_value = h_set_value,
    .get = h_get,
    .value_get = h_value_get,
    .value_type = h_value_type,
    .value_count = h_value_count,
    .value_at = h_value_at,
    .value_member = h_value_member,
    .member_get = h_member_get,
    .value_str = value_str,
    .value_int = value_int,
    .value_double = value_double,
    .value_bool = value_bool,
    .time_get = h_time_get,
    .time_set = h_time_set,
    .time_parse = h_time_parse,
    .origin = h_origin,
    .batch_count = h_batch_count,
    .batch_event = h_batch_event,
    .batch_emit_new = h_batch_emit_new,
    .batch_drop = h_batch_drop,
    .batch_fail = h_batch_fail,
    .alert_emit = h_alert_emit,
    .produce = h_produce,
    .stopping = h_stopping,
    .wait_stop = h_wait_stop,
};

/* ----------------------------------------------------------- instances */

static void instance_free(vgl_plugins *ps, vgl_plugin_instance *pi)
{
    if (!pi)
        return;
    if (pi->desc && pi->desc->destroy) {
        for (unsigned w = pi->ninst; w-- > 0;)
            if (pi->inst[w])
                pi->desc->destroy(pi->inst[w]);
    }
    free(pi->inst);
    config_free(pi->cfg);
    vgl_plugin_metric *m = pi->metrics;
    while (m) {
        vgl_plugin_metric *next = m->next;
        free(m->name);
        free(m->label);
        free(m->help);
        free(m);
        m = next;
    }
    pthread_mutex_destroy(&pi->respond_lock);
    so_put(ps, pi->so);
    free(pi->id);
    free(pi->name);
    free(pi);
}

/* Call init for instance slot w; false with the diag line written. */
static bool instance_init_one(vgl_plugin_instance *pi, unsigned w, vgl_diag *diag)
{
    char err[512] = "";
    void *inst = pi->desc->init(&pi->host, pi->cfg, err, sizeof(err));
    err[sizeof(err) - 1] = '\0';
    if (!inst) {
        plugin_error(diag, pi->name, pi->id, pi->path, "%s",
                     err[0] ? err : "init failed without giving a reason");
        return false;
    }
    pi->inst[w] = inst;
    return true;
}

typedef struct load_req {
    const char *name;
    const char *id;
    const char *explicit_path;
    const vgl_cnode *config;
    int line;
    vgl_plugin_kind need_kind;  /* 0 = any */
    const char *need_what;      /* "inputs[2].source" */
    int need_line;
} load_req;

static vgl_plugin_instance *instance_load(vgl_plugins *ps, const vgl_plugin_dirs *dirs,
                                          const char *file, const load_req *rq, vgl_diag *diag)
{
    char err[2048] = "";
    char where[512];
    const char *name = rq->name ? rq->name : "?";
    const char *id = rq->id ? rq->id : name;
    if (!valid_name(name)) {
        snprintf(where, sizeof(where), "%s:%d", file, rq->line);
        plugin_error(diag, name, NULL, where,
                     "invalid plugin name (letters, digits, '-' and '_' only)");
        return NULL;
    }
    char *path = NULL;
    char pattern[512];
    if (rq->explicit_path) {
        path = strdup(rq->explicit_path);
    } else {
        path = find_plugin(dirs, name, rq->need_kind, err, sizeof(err));
        if (!path) {
            if (rq->need_kind)
                snprintf(pattern, sizeof(pattern), "vigil-%s-%s.so",
                         vgl_plugin_kind_name(rq->need_kind), name);
            else
                snprintf(pattern, sizeof(pattern), "vigil-*-%s.so", name);
            plugin_error(diag, name, id, pattern, "%s", err);
            return NULL;
        }
    }
    if (!path) {
        plugin_error(diag, name, id, rq->explicit_path, "out of memory");
        return NULL;
    }
    vgl_plugin_instance *pi = calloc(1, sizeof(*pi));
    if (!pi) {
        plugin_error(diag, name, id, path, "out of memory");
        free(path);
        return NULL;
    }
    pthread_mutex_init(&pi->respond_lock, NULL);
    pi->reg = ps;
    pi->line = rq->line;
    pi->host = host_template;
    if (!(pi->id = strdup(id)) || !(pi->name = strdup(name))) {
        plugin_error(diag, name, id, path, "out of memory");
        goto fail;
    }
    pi->host.instance_id = pi->id;
    if (!(pi->so = so_get(ps, path, err, sizeof(err)))) {
        plugin_error(diag, name, id, path, "%s", err);
        goto fail;
    }
    pi->path = pi->so->path;
    pi->desc = pi->so->desc;
    const vgl_plugin_desc *d = pi->desc;
    if (strcmp(d->name, name) != 0) {
        plugin_error(diag, name, id, path, "the descriptor's name is \"%s\", not \"%s\"",
                     d->name, name);
        goto fail;
    }
    if (!rq->explicit_path) {
        /* the file name's kind must match the descriptor's */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        vgl_plugin_kind fk;
        const char *dash = strchr(base + 6, '-');
        if (dash && vgl_plugin_kind_parse(base + 6, (size_t)(dash - base - 6), &fk) &&
            fk != d->kind) {
            plugin_error(diag, name, id, path,
                         "the file name says kind %s but the descriptor says %s",
                         vgl_plugin_kind_name(fk), vgl_plugin_kind_name(d->kind));
            goto fail;
        }
    }
    if (rq->need_kind && d->kind != rq->need_kind) {
        plugin_error(diag, name, id, path, "%s:%d: %s needs a %s plugin, this one is kind %s",
                     file, rq->need_line, rq->need_what, vgl_plugin_kind_name(rq->need_kind),
                     vgl_plugin_kind_name(d->kind));
        goto fail;
    }
    load_ctx lc = {diag, file, name, id, pi->path, rq->line};
    if (!(pi->cfg = config_build(d, rq->config, &lc)))
        goto fail;
    if (!(pi->inst = calloc(1, sizeof(void *)))) {
        plugin_error(diag, name, id, path, "out of memory");
        goto fail;
    }
    pi->ninst = 1;
    if (!instance_init_one(pi, 0, diag))
        goto fail;
    free(path);
    return pi;
fail:
    free(path);
    instance_free(ps, pi);
    return NULL;
}

static bool registry_push(vgl_plugins *ps, vgl_plugin_instance *pi)
{
    vgl_plugin_instance **ni = realloc(ps->items, (ps->n + 1) * sizeof(*ni));
    if (!ni)
        return false;
    ps->items = ni;
    ps->items[ps->n++] = pi;
    return true;
}

static vgl_plugins *registry_new(void)
{
    vgl_plugins *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    pthread_mutex_init(&ps->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ps->stop_cond, &ca);
    pthread_condattr_destroy(&ca);
    return ps;
}

vgl_plugins *vgl_plugins_load(const vgl_config *cfg, vgl_diag *diag)
{
    vgl_plugins *ps = registry_new();
    vgl_plugin_dirs dirs;
    if (!ps || vgl_plugin_dirs_init(&dirs, cfg->plugin_path, cfg->nplugin_path) != VGL_OK) {
        vgl_diag_add(diag, "plugins: out of memory");
        vgl_plugins_free(ps);
        return NULL;
    }
    const char *file = cfg->path ? cfg->path : "config";
    bool ok = true;
    for (size_t i = 0; i < cfg->nplugins; i++) {
        const vgl_plugin_cfg *pc = &cfg->plugins[i];
        const char *id = pc->id ? pc->id : pc->name;
        vgl_plugin_instance *dup = id ? vgl_plugins_find(ps, id, 0) : NULL;
        if (dup && strcmp(dup->id, id) == 0) {
            plugin_error(diag, pc->name, id, dup->path,
                         "%s:%d: instance id \"%s\" is already used at line %d", file,
                         pc->line, id, dup->line);
            ok = false;
            continue;
        }
        load_req rq = {.name = pc->name, .id = id, .explicit_path = pc->path,
                       .config = pc->config, .line = pc->line};
        vgl_plugin_instance *pi = instance_load(ps, &dirs, file, &rq, diag);
        if (!pi || !registry_push(ps, pi)) {
            if (pi) {
                plugin_error(diag, pi->name, pi->id, pi->path, "out of memory");
                instance_free(ps, pi);
            }
            ok = false;
        }
    }
    for (size_t i = 0; i < cfg->ninputs; i++) {
        const vgl_input_cfg *in = &cfg->inputs[i];
        if (!in->source)
            continue;
        char what[64];
        snprintf(what, sizeof(what), "inputs[%zu].source", i);
        /* a configured instance by id (or plugin name) */
        vgl_plugin_instance *pi = NULL;
        for (size_t j = 0; j < ps->n && !pi; j++)
            if (strcmp(ps->items[j]->id, in->source) == 0)
                pi = ps->items[j];
        for (size_t j = 0; j < ps->n && !pi; j++)
            if (strcmp(ps->items[j]->name, in->source) == 0)
                pi = ps->items[j];
        if (pi) {
            if (pi->desc->kind != VGL_PLUGIN_SOURCE) {
                plugin_error(diag, pi->name, pi->id, pi->path,
                             "%s:%d: %s needs a source plugin, this one is kind %s", file,
                             in->line, what, vgl_plugin_kind_name(pi->desc->kind));
                ok = false;
            }
            continue;
        }
        bool tried = false; /* an earlier input named the same missing source */
        for (size_t j = 0; j < i; j++)
            if (cfg->inputs[j].source && strcmp(cfg->inputs[j].source, in->source) == 0)
                tried = true;
        if (tried)
            continue;
        load_req rq = {.name = in->source, .id = in->source, .line = in->line,
                       .need_kind = VGL_PLUGIN_SOURCE, .need_what = what,
                       .need_line = in->line};
        pi = instance_load(ps, &dirs, file, &rq, diag);
        if (!pi || !registry_push(ps, pi)) {
            if (pi)
                instance_free(ps, pi);
            ok = false;
        }
    }
    vgl_plugin_dirs_free(&dirs);
    if (!ok) {
        vgl_plugins_free(ps);
        return NULL;
    }
    return ps;
}

vgl_rc vgl_plugins_prepare_workers(vgl_plugins *ps, unsigned nworkers, vgl_diag *diag)
{
    bool ok = true;
    if (nworkers == 0)
        nworkers = 1;
    for (size_t i = 0; i < ps->n; i++) {
        vgl_plugin_instance *pi = ps->items[i];
        vgl_plugin_kind k = pi->desc->kind;
        if (pi->desc->threading != VGL_THREADING_PER_WORKER ||
            (k != VGL_PLUGIN_SOURCE && k != VGL_PLUGIN_ENRICH && k != VGL_PLUGIN_DETECT) ||
            pi->ninst >= nworkers)
            continue;
        void **ni = realloc(pi->inst, nworkers * sizeof(void *));
        if (!ni) {
            plugin_error(diag, pi->name, pi->id, pi->path, "out of memory");
            ok = false;
            continue;
        }
        pi->inst = ni;
        for (unsigned w = pi->ninst; w < nworkers; w++)
            ni[w] = NULL;
        unsigned w = pi->ninst;
        pi->ninst = nworkers; /* destroy skips the NULL slots */
        for (; w < nworkers; w++) {
            if (!instance_init_one(pi, w, diag)) {
                ok = false;
                break;
            }
        }
    }
    return ok ? VGL_OK : VGL_ERR_CONFIG;
}

void vgl_plugins_free(vgl_plugins *ps)
{
    if (!ps)
        return;
    vgl_plugins_stop(ps);
    for (size_t i = ps->n; i-- > 0;)
        instance_free(ps, ps->items[i]);
    free(ps->items);
    while (ps->sos) { /* only left when an instance leaked a reference */
        ps->sos->refs = 1;
        so_put(ps, ps->sos);
    }
    pthread_cond_destroy(&ps->stop_cond);
    pthread_mutex_destroy(&ps->lock);
    free(ps);
}

size_t vgl_plugins_count(const vgl_plugins *ps)
{
    return ps ? ps->n : 0;
}

vgl_plugin_instance *vgl_plugins_at(const vgl_plugins *ps, size_t i)
{
    return ps && i < ps->n ? ps->items[i] : NULL;
}

vgl_plugin_instance *vgl_plugins_find(const vgl_plugins *ps, const char *id,
                                      vgl_plugin_kind kind)
{
    if (!ps || !id)
        return NULL;
    for (int by_name = 0; by_name < 2; by_name++) {
        for (size_t i = 0; i < ps->n; i++) {
            vgl_plugin_instance *pi = ps->items[i];
            if (strcmp(by_name ? pi->name : pi->id, id) == 0 &&
                (!kind || pi->desc->kind == kind))
                return pi;
        }
    }
    return NULL;
}

vgl_rc vgl_plugin_process(vgl_plugin_instance *pi, unsigned worker, vgl_batch *b)
{
    if (!pi->desc->process)
        return VGL_ERR_STATE;
    void *inst = worker < pi->ninst ? pi->inst[worker]
                 : pi->desc->threading == VGL_THREADING_SHARED ? pi->inst[0]
                                                               : NULL;
    if (!inst)
        return VGL_ERR_STATE;
    size_t live = 0;
    for (size_t i = 0; i < b->n; i++)
        live += b->items[i].state == VGL_BATCH_LIVE;
    b->cur = pi;
    b->visible = b->n;
    b->npending = 0;
    int64_t t0 = vgl_mono_ns();
    vgl_rc rc = pi->desc->process(inst, b);
    int64_t t1 = vgl_mono_ns();
    b->cur = NULL;
    vgl_rc mrc = batch_merge_pending(b);
    b->visible = 0;
    atomic_fetch_add_explicit(&pi->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pi->events_in, live, memory_order_relaxed);
    atomic_fetch_add_explicit(&pi->time_ns, (uint64_t)(t1 - t0), memory_order_relaxed);
    if (rc != VGL_OK)
        count_error(pi, "process", vgl_rc_str(rc));
    else if (mrc != VGL_OK)
        count_error(pi, "batch_emit_new", "out of memory merging emitted events");
    return rc != VGL_OK ? rc : mrc;
}

vgl_respond_status vgl_plugin_respond(vgl_plugin_instance *pi, const vgl_action_view *action,
                                      char *err, size_t errlen)
{
    char local[512];
    if (!err || errlen == 0) {
        err = local;
        errlen = sizeof(local);
    }
    err[0] = '\0';
    if (!pi->desc->respond || !action) {
        snprintf(err, errlen, "plugin %s is not a responder", pi->id);
        return VGL_RESPOND_FAILED;
    }
    bool serialize = pi->desc->threading != VGL_THREADING_SHARED;
    if (serialize)
        pthread_mutex_lock(&pi->respond_lock);
    int64_t t0 = vgl_mono_ns();
    vgl_respond_status st = pi->desc->respond(pi->inst[0], action, err, errlen);
    int64_t t1 = vgl_mono_ns();
    if (serialize)
        pthread_mutex_unlock(&pi->respond_lock);
    err[errlen - 1] = '\0';
    one_line(err);
    atomic_fetch_add_explicit(&pi->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pi->time_ns, (uint64_t)(t1 - t0), memory_order_relaxed);
    switch (st) {
    case VGL_RESPOND_SUCCEEDED:
        err[0] = '\0';
        return st;
    case VGL_RESPOND_FAILED:
    case VGL_RESPOND_RETRY:
        if (!err[0])
            snprintf(err, errlen, "the plugin gave no reason");
        count_error(pi, "respond", err);
        return st;
    }
    snprintf(err, errlen, "the plugin returned an invalid status %d", (int)st);
    count_error(pi, "respond", err);
    return VGL_RESPOND_FAILED;
}

void vgl_plugins_set_producer(vgl_plugins *ps, vgl_produce_fn fn, void *opaque)
{
    ps->produce = fn;
    ps->produce_opaque = opaque;
}

vgl_rc vgl_plugins_start(vgl_plugins *ps, vgl_diag *diag)
{
    for (size_t i = 0; i < ps->n; i++) {
        vgl_plugin_instance *pi = ps->items[i];
        if (pi->desc->kind != VGL_PLUGIN_CONNECTOR || pi->started)
            continue;
        char err[512] = "";
        atomic_store(&pi->can_produce, true);
        vgl_rc rc = pi->desc->start(pi->inst[0], err, sizeof(err));
        err[sizeof(err) - 1] = '\0';
        if (rc != VGL_OK) {
            atomic_store(&pi->can_produce, false);
            plugin_error(diag, pi->name, pi->id, pi->path, "start failed: %s",
                         err[0] ? err : vgl_rc_str(rc));
            vgl_plugins_stop(ps);
            return VGL_ERR_CONFIG;
        }
        pi->started = true;
    }
    return VGL_OK;
}

void vgl_plugins_stop(vgl_plugins *ps)
{
    pthread_mutex_lock(&ps->lock);
    atomic_store(&ps->stopping, true);
    pthread_cond_broadcast(&ps->stop_cond);
    pthread_mutex_unlock(&ps->lock);
    for (size_t i = ps->n; i-- > 0;) {
        vgl_plugin_instance *pi = ps->items[i];
        if (!pi->started || pi->stopped)
            continue;
        pi->desc->stop(pi->inst[0]);
        atomic_store(&pi->can_produce, false);
        pi->stopped = true;
    }
}

void vgl_plugin_stats_get(const vgl_plugin_instance *pi, vgl_plugin_stats *out)
{
    out->calls = atomic_load_explicit(&pi->calls, memory_order_relaxed);
    out->errors = atomic_load_explicit(&pi->errors, memory_order_relaxed);
    out->time_ns = atomic_load_explicit(&pi->time_ns, memory_order_relaxed);
    out->events_in = atomic_load_explicit(&pi->events_in, memory_order_relaxed);
    out->emitted = atomic_load_explicit(&pi->emitted, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&pi->dropped, memory_order_relaxed);
    out->failed = atomic_load_explicit(&pi->failed, memory_order_relaxed);
    out->alerts = atomic_load_explicit(&pi->alerts, memory_order_relaxed);
    out->produced = atomic_load_explicit(&pi->produced, memory_order_relaxed);
}

/* ------------------------------------------------------------- listing */

/* "vigil-KIND-NAME.so" -> kind and name; false when it is not vigil-*.so. */
static bool parse_file_name(const char *base, vgl_plugin_kind *kind, char *name, size_t nlen)
{
    size_t len = strlen(base);
    if (len < 10 || strncmp(base, "vigil-", 6) != 0 || strcmp(base + len - 3, ".so") != 0)
        return false;
    const char *k = base + 6;
    const char *dash = memchr(k, '-', len - 9);
    *kind = 0;
    if (dash && vgl_plugin_kind_parse(k, (size_t)(dash - k), kind)) {
        snprintf(name, nlen, "%.*s", (int)(base + len - 3 - dash - 1), dash + 1);
    } else {
        *kind = 0;
        snprintf(name, nlen, "%.*s", (int)(len - 9), k);
    }
    return true;
}

static void entry_probe(vgl_plugin_entry *e)
{
    char err[1024] = "";
    if (!e->kind) {
        e->error = strdup("the file name is not vigil-KIND-NAME.so with KIND one of source, "
                          "connector, enrich, detect, respond");
        return;
    }
    void *dl = dlopen(e->path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *de = dlerror();
        snprintf(err, sizeof(err), "cannot load: %s", de ? de : "dlopen failed");
        one_line(err);
        e->error = strdup(err);
        return;
    }
    const vgl_plugin_desc *d = dlsym(dl, VGL_PLUGIN_SYMBOL);
    if (!d) {
        snprintf(err, sizeof(err), "no %s descriptor (not a vigil plugin?)", VGL_PLUGIN_SYMBOL);
    } else {
        e->abi_major = d->abi_major;
        e->abi_minor = d->abi_minor;
        if (vgl_plugin_abi_compatible(d->abi_major, d->abi_minor, VGL_PLUGIN_ABI_MAJOR,
                                      VGL_PLUGIN_ABI_MINOR, err, sizeof(err)) &&
            desc_check(d, err, sizeof(err))) {
            e->version = strdup(d->version ? d->version : "");
            e->description = strdup(d->description ? d->description : "");
            if (strcmp(d->name, e->name) != 0)
                snprintf(err, sizeof(err), "the descriptor's name is \"%s\", not \"%s\"",
                         d->name, e->name);
            else if (d->kind != e->kind)
                snprintf(err, sizeof(err),
                         "the file name says kind %s but the descriptor says %s",
                         vgl_plugin_kind_name(e->kind), vgl_plugin_kind_name(d->kind));
            size_t n = 0;
            while (d->options && d->options[n].name)
                n++;
            if (n && (e->options = calloc(n, sizeof(*e->options)))) {
                e->noptions = n;
                for (size_t i = 0; i < n; i++) {
                    const vgl_plugin_option *o = &d->options[i];
                    e->options[i] = (vgl_plugin_entry_option){
                        .name = xstrdup(o->name),
                        .type = o->type,
                        .default_value = xstrdup(o->default_value),
                        .description = xstrdup(o->description ? o->description : ""),
                        .required = o->required,
                    };
                }
            }
        }
    }
    if (err[0]) {
        one_line(err);
        e->error = strdup(err);
    }
    dlclose(dl);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool list_push(vgl_plugin_list *out, size_t *cap, const char *path, const char *base)
{
    if (out->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        vgl_plugin_entry *ni = realloc(out->items, ncap * sizeof(*ni));
        if (!ni)
            return false;
        out->items = ni;
        *cap = ncap;
    }
    vgl_plugin_entry *e = &out->items[out->n];
    memset(e, 0, sizeof(*e));
    char name[256];
    if (!parse_file_name(base, &e->kind, name, sizeof(name)))
        return true;
    e->name = strdup(name);
    e->path = strdup(path);
    if (!e->name || !e->path) {
        free(e->name);
        free(e->path);
        return false;
    }
    out->n++;
    for (size_t i = 0; i + 1 < out->n; i++) {
        if (strcmp(out->items[i].name, e->name) == 0 && !out->items[i].shadowed_by) {
            e->shadowed_by = strdup(out->items[i].path);
            break;
        }
    }
    entry_probe(e);
    return true;
}

vgl_rc vgl_plugins_list(const char *const *dirs, size_t ndirs, vgl_plugin_list *out)
{
    memset(out, 0, sizeof(*out));
    size_t cap = 0;
    vgl_rc rc = VGL_OK;
    char path[PATH_MAX];
    for (size_t d = 0; d < ndirs && rc == VGL_OK; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue;
        /* collect relative paths: "vigil-K-N.so" or "K-N/.libs/vigil-K-N.so" */
        char **found = NULL;
        size_t nfound = 0, fcap = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
            const char *n = de->d_name;
            char rel[PATH_MAX];
            if (strncmp(n, "vigil-", 6) == 0) {
                snprintf(rel, sizeof(rel), "%s", n);
            } else {
                const char *dash = strchr(n, '-');
                vgl_plugin_kind k;
                if (!dash || !vgl_plugin_kind_parse(n, (size_t)(dash - n), &k))
                    continue;
                /* a build-tree folder FOLDERKIND-NAME holds vigil-KIND-NAME.so,
                 * KIND not necessarily the folder's (as in find_plugin) */
                rel[0] = '\0';
                for (int pk = VGL_PLUGIN_SOURCE; pk <= VGL_PLUGIN_RESPOND; pk++) {
                    char cand[PATH_MAX];
                    if (snprintf(cand, sizeof(cand), "%s/.libs/vigil-%s-%s.so", n,
                                 kind_names[pk], dash + 1) >= (int)sizeof(cand) ||
                        snprintf(path, sizeof(path), "%s/%s", dirs[d], cand) >=
                            (int)sizeof(path) ||
                        !is_file(path))
                        continue;
                    snprintf(rel, sizeof(rel), "%s", cand);
                    break;
                }
                if (!rel[0])
                    continue;
            }
            int pl = snprintf(path, sizeof(path), "%s/%s", dirs[d], rel);
            size_t rl = strlen(rel);
            if (pl < 0 || (size_t)pl >= sizeof(path) || rl < 4 ||
                strcmp(rel + rl - 3, ".so") != 0 || !is_file(path))
                continue;
            if (nfound == fcap) {
                fcap = fcap ? fcap * 2 : 16;
                char **nf = realloc(found, fcap * sizeof(*nf));
                if (!nf) {
                    rc = VGL_ERR_NOMEM;
                    break;
                }
                found = nf;
            }
            if (!(found[nfound] = strdup(rel))) {
                rc = VGL_ERR_NOMEM;
                break;
            }
            nfound++;
        }
        closedir(dir);
        if (nfound)
            qsort(found, nfound, sizeof(*found), str_cmp);
        for (size_t i = 0; i < nfound; i++) {
            snprintf(path, sizeof(path), "%s/%s", dirs[d], found[i]);
            const char *base = strrchr(found[i], '/');
            base = base ? base + 1 : found[i];
            if (rc == VGL_OK && !list_push(out, &cap, path, base))
                rc = VGL_ERR_NOMEM;
            free(found[i]);
        }
        free(found);
    }
    if (rc != VGL_OK)
        vgl_plugin_list_free(out);
    return rc;
}

void vgl_plugin_list_free(vgl_plugin_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        vgl_plugin_entry *e = &l->items[i];
        for (size_t j = 0; j < e->noptions; j++) {
            free(e->options[j].name);
            free(e->options[j].default_value);
            free(e->options[j].description);
        }
        free(e->options);
        free(e->name);
        free(e->path);
        free(e->version);
        free(e->description);
        free(e->error);
        free(e->shadowed_by);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}
