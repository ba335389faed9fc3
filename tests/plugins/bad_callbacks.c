/* Test plugin whose descriptor lacks its kind's callback
 * (vigil-detect-nocb.so: a detector without process): refused. */
#include <vigil/plugin.h>

static void *nocb_init(const vgl_host *host, const vgl_plugin_config *cfg, char *err,
                       size_t errlen)
{
    (void)cfg;
    (void)err;
    (void)errlen;
    return (void *)host;
}

VGL_PLUGIN_EXPORT const vgl_plugin_desc vigil_plugin = {
    VGL_PLUGIN_ABI_VERSION,
    .name = "nocb",
    .version = "1.0.0",
    .description = "a detector that forgot process",
    .kind = VGL_PLUGIN_DETECT,
    .init = nocb_init,
};
