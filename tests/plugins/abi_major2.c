/* Test plugin built for plugin ABI major 2 (vigil-enrich-abi2.so): refused. */
#include <vigil/plugin.h>

static void *abi2_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                       size_t errlen)
{
    (void)cfg;
    (void)err;
    (void)errlen;
    return (void *)host;
}

static vgl_rc abi2_process(void *inst, vgl_batch *batch)
{
    (void)inst;
    (void)batch;
    return VGL_OK;
}

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    .abi_major = 2,
    .abi_minor = 0,
    .name = "abi2",
    .version = "2.0.0",
    .description = "built for a future vigil",
    .kind = VGL_PLUGIN_ENRICH,
    .init = abi2_init,
    .process = abi2_process,
};
