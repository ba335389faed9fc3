/* Test plugin with a required option (vigil-enrich-required.so). */
#include <stdlib.h>

#include <vigil/plugin.h>

static void *required_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                           size_t errlen)
{
    (void)err;
    (void)errlen;
    const char *db = NULL;
    /* the host guarantees a required option is set before init runs */
    if (!host->config_str(cfg, "database", &db) || !db)
        abort();
    return (void *)host;
}

static vgl_rc required_process(void *inst, vgl_batch *batch)
{
    (void)inst;
    (void)batch;
    return VGL_OK;
}

static const vgl_plugin_option required_options[] = {
    {.name = "database", .type = VGL_OPT_STRING, .required = true,
     .description = "path of the database"},
    {.name = "limit", .type = VGL_OPT_INT, .description = "optional limit (no default)"},
    {0},
};

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "required",
    .version = "1.0.0",
    .description = "needs a database option",
    .kind = VGL_PLUGIN_ENRICH,
    .options = required_options,
    .init = required_init,
    .process = required_process,
};
