/*
 * The tutorial plugin of docs/plugins.md: an enricher that adds
 * labels.greeting to every event. Built as vigil-enrich-hello.so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

typedef struct hello {
    const vgl_host *host;          /* borrowed until destroy */
    const vgl_path *greeting_path; /* interned by the host, lives until exit */
    const char *greeting;          /* borrowed from the config until destroy */
    size_t greeting_len;
    vgl_plugin_metric *greeted;    /* owned by the host */
} hello;

static void *hello_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                        size_t errlen)
{
    hello *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->host = host;
    host->config_str(cfg, "greeting", &h->greeting); /* has a default */
    h->greeting_len = strlen(h->greeting);
    h->greeting_path = host->path(host, "labels.greeting");
    h->greeted = host->metric(host, VGL_METRIC_COUNTER, "greeted_events_total", NULL,
                              "Events that received a greeting");
    return h;
}

static vgl_rc hello_process(void *inst, vgl_batch *batch)
{
    hello *h = inst;
    vgl_rc result = VGL_OK;
    size_t n = h->host->batch_count(batch);
    for (size_t i = 0; i < n; i++) {
        vgl_event *ev = h->host->batch_event(batch, i);
        if (!ev)
            continue; /* dropped or failed by an earlier stage */
        vgl_rc rc = h->host->set_str(ev, h->greeting_path, h->greeting, h->greeting_len);
        if (rc != VGL_OK) {
            result = rc; /* over the event's memory limit: the host counts it */
            continue;
        }
        h->host->counter_add(h->greeted, 1);
    }
    return result;
}

static void hello_destroy(void *inst)
{
    free(inst);
}

static const vgl_plugin_option hello_options[] = {
    {.name = "greeting", .type = VGL_OPT_STRING, .default_value = "hello",
     .description = "text written to labels.greeting"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    /* built as an ABI 1.0 plugin: a newer host (1.1) keeps loading it */
    .abi_major = 1,
    .abi_minor = 0,
    .name = "hello",
    .version = "1.0.0",
    .description = "adds labels.greeting to every event",
    .kind = VGL_PLUGIN_ENRICH,
    .threading = VGL_THREADING_SHARED, /* read-only state: one instance for all workers */
    .options = hello_options,
    .init = hello_init,
    .process = hello_process,
    .destroy = hello_destroy,
};
