/*
 * Test plugin whose init fails (vigil-enrich-initfail.so): with a message,
 * or, with `silent: true`, without one.
 */
#include <stdio.h>

#include <vigil/plugin.h>

static void *initfail_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                           size_t errlen)
{
    bool silent = false;
    host->config_bool(cfg, "silent", &silent);
    if (!silent)
        snprintf(err, errlen,
                 "cannot open /nonexistent/GeoLite2-City.mmdb: No such file or directory");
    return NULL;
}

static vgl_rc initfail_process(void *inst, vgl_batch *batch)
{
    (void)inst;
    (void)batch;
    return VGL_OK;
}

static const vgl_plugin_option initfail_options[] = {
    {.name = "silent", .type = VGL_OPT_BOOL, .default_value = "false",
     .description = "fail without a message"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "initfail",
    .version = "1.0.0",
    .description = "init always fails",
    .kind = VGL_PLUGIN_ENRICH,
    .options = initfail_options,
    .init = initfail_init,
    .process = initfail_process,
};
