/* Test plugin built for a newer minor than the host's
 * (vigil-enrich-abinewer.so): refused. */
#include <vigil/plugin.h>

static void *newer_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                        size_t errlen)
{
    (void)cfg;
    (void)err;
    (void)errlen;
    return (void *)host;
}

static vgl_rc newer_process(void *inst, vgl_batch *batch)
{
    (void)inst;
    (void)batch;
    return VGL_OK;
}

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    .abi_major = VGL_PLUGIN_ABI_MAJOR,
    .abi_minor = VGL_PLUGIN_ABI_MINOR + 1,
    .name = "abinewer",
    .version = "1.0.0",
    .description = "built against a newer vigil",
    .kind = VGL_PLUGIN_ENRICH,
    .init = newer_init,
    .process = newer_process,
};
