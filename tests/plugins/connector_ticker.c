/*
 * Test connector (vigil-connector-ticker.so): its own thread produces
 * `count` records "tick N" (key "ticker") to `topic`, then waits for the
 * shutdown with host->wait_stop.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

typedef struct ticker {
    const vgl_host *host;
    const char *topic;
    int64_t count;
    pthread_t thread;
    bool running;
} ticker;

static void *ticker_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                         size_t errlen)
{
    ticker *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->host = host;
    host->config_str(cfg, "topic", &t->topic);
    host->config_int(cfg, "count", &t->count);
    return t;
}

static void *ticker_main(void *arg)
{
    ticker *t = arg;
    for (int64_t i = 0; i < t->count && !t->host->stopping(t->host); i++) {
        char rec[64];
        int n = snprintf(rec, sizeof(rec), "tick %lld", (long long)i);
        t->host->produce(t->host, t->topic, "ticker", 6, rec, (size_t)n);
    }
    while (!t->host->wait_stop(t->host, 1000))
        ;
    return NULL;
}

static vgl_rc ticker_start(void *inst, char *err, size_t errlen)
{
    ticker *t = inst;
    if (t->count < 0) {
        snprintf(err, errlen, "count must not be negative");
        return VGL_ERR_CONFIG;
    }
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        snprintf(err, errlen, "cannot start a thread");
        return VGL_ERR_NOMEM;
    }
    t->running = true;
    return VGL_OK;
}

static void ticker_stop(void *inst)
{
    ticker *t = inst;
    if (t->running)
        pthread_join(t->thread, NULL);
    t->running = false;
}

static void ticker_destroy(void *inst)
{
    free(inst);
}

static const vgl_plugin_option ticker_options[] = {
    {.name = "topic", .type = VGL_OPT_STRING, .required = true,
     .description = "topic to produce to"},
    {.name = "count", .type = VGL_OPT_INT, .default_value = "3",
     .description = "records to produce"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "ticker",
    .version = "0.1.0",
    .description = "test connector: produces a few records",
    .kind = VGL_PLUGIN_CONNECTOR,
    .options = ticker_options,
    .init = ticker_init,
    .start = ticker_start,
    .stop = ticker_stop,
    .destroy = ticker_destroy,
};
