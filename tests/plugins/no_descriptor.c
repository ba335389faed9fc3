/* Test shared object without the vigil_plugin descriptor
 * (vigil-enrich-nodesc.so): refused. */
#include <vigil/plugin.h>

VGL_PLUGIN_EXPORT int vigil_plugin_version(void);
VGL_PLUGIN_EXPORT int vigil_plugin_version(void)
{
    return 1;
}
