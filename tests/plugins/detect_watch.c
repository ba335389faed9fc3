/*
 * Test detection plugin (vigil-detect-watch.so): alerts on a login by the
 * configured user. Declares one option of every type and logs the values
 * it got at init, so the tests can check option parsing end to end.
 * An event with `try_drop` makes it call batch_drop, which a detector may
 * not: the host refuses and counts an error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

typedef struct demo_detect {
    const vgl_host *host;
    const char *user;
    bool enabled;
    const char *const *tags;
    size_t ntags;
    const vgl_path *user_name, *source_ip, *try_drop;
    vgl_plugin_metric *alerts;
} demo_detect;

static void *detect_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                         size_t errlen)
{
    demo_detect *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->host = host;
    int64_t min_port = 0, window_ms = 0;
    double ratio = 0;
    uint64_t max_mem = 0;
    host->config_str(cfg, "user", &d->user);
    host->config_int(cfg, "min_port", &min_port);
    host->config_double(cfg, "ratio", &ratio);
    host->config_bool(cfg, "enabled", &d->enabled);
    host->config_duration(cfg, "window", &window_ms);
    host->config_size(cfg, "max_mem", &max_mem);
    d->ntags = host->config_list(cfg, "tags", &d->tags);

    char port[32], r[32], win[32], mem[32], ntags[32];
    snprintf(port, sizeof(port), "%" PRId64, min_port);
    snprintf(r, sizeof(r), "%g", ratio);
    snprintf(win, sizeof(win), "%" PRId64, window_ms);
    snprintf(mem, sizeof(mem), "%" PRIu64, max_mem);
    snprintf(ntags, sizeof(ntags), "%zu", d->ntags);
    vgl_pair fields[] = {
        {"user", d->user},       {"min_port", port},
        {"ratio", r},            {"enabled", d->enabled ? "true" : "false"},
        {"window_ms", win},      {"max_mem", mem},
        {"ntags", ntags},        {"tag0", d->ntags ? d->tags[0] : ""},
    };
    host->log(host, VGL_PLUGIN_LOG_INFO, "demo detector configured", fields,
              sizeof(fields) / sizeof(fields[0]));

    d->user_name = host->path(host, "user.name");
    d->source_ip = host->path(host, "source.ip");
    d->try_drop = host->path(host, "try_drop");
    d->alerts = host->metric(host, VGL_METRIC_COUNTER, "alerts_total", "rule=demo-root-login",
                             "Alerts emitted");
    return d;
}

static vgl_rc detect_process(void *inst, vgl_batch *batch)
{
    demo_detect *d = inst;
    const vgl_host *h = d->host;
    size_t n = h->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->batch_event(batch, i);
        if (!ev || !d->enabled)
            continue;
        if (h->has(ev, d->try_drop))
            h->batch_drop(batch, i); /* refused: detectors do not reshape the batch */
        const char *user, *ip = NULL;
        size_t ulen, iplen = 0;
        if (!h->get_str(ev, d->user_name, &user, &ulen) || ulen != strlen(d->user) ||
            memcmp(user, d->user, ulen) != 0)
            continue;
        h->get_str(ev, d->source_ip, &ip, &iplen);
        vgl_plugin_entity ents[2] = {{"account", user}, {"ip", ip}};
        const vgl_path *evidence[] = {d->user_name, d->source_ip};
        vgl_plugin_alert a = {
            .rule_id = "demo-root-login",
            .title = "Login as the watched user",
            .severity = VGL_PLUGIN_SEV_HIGH,
            .tactic = "Privilege Escalation",
            .technique = "T1078",
            .entities = ents,
            .nentities = ip ? 2 : 1,
            .tags = d->tags,
            .ntags = d->ntags,
            .event = ev,
            .evidence_fields = evidence,
            .nevidence_fields = 2,
        };
        if (h->alert_emit(batch, &a) == VGL_OK)
            h->counter_add(d->alerts, 1);
    }
    return VGL_OK;
}

static void detect_destroy(void *inst)
{
    free(inst);
}

static const vgl_plugin_option detect_options[] = {
    {.name = "user", .type = VGL_OPT_STRING, .default_value = "root",
     .description = "user name to alert on"},
    {.name = "min_port", .type = VGL_OPT_INT, .default_value = "0", .description = "int"},
    {.name = "ratio", .type = VGL_OPT_DOUBLE, .default_value = "0.5", .description = "double"},
    {.name = "enabled", .type = VGL_OPT_BOOL, .default_value = "true", .description = "bool"},
    {.name = "window", .type = VGL_OPT_DURATION, .default_value = "5m",
     .description = "duration"},
    {.name = "max_mem", .type = VGL_OPT_SIZE, .default_value = "1MiB", .description = "size"},
    {.name = "tags", .type = VGL_OPT_LIST, .default_value = "demo,test",
     .description = "tags of the alert"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "watch",
    .version = "0.2.0",
    .description = "test detector: alerts when the watched user logs in",
    .kind = VGL_PLUGIN_DETECT,
    .threading = VGL_THREADING_PER_WORKER,
    .options = detect_options,
    .init = detect_init,
    .process = detect_process,
    .destroy = detect_destroy,
};
