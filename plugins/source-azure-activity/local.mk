# plugins/source-azure-activity: automake fragment included by the top Makefile.am (paths from the top).
# azure_common.[ch] are shared with source-entra-signin and source-nsg-flow (compiled into
# each plugin: plugins link nothing of each other); so is tests/plugin_harness.[ch].
plugins_LTLIBRARIES += plugins/source-azure-activity/vigil-source-azure-activity.la
plugins_source_azure_activity_vigil_source_azure_activity_la_SOURCES = \
	plugins/source-azure-activity/azure_activity.c \
	plugins/source-azure-activity/azure_common.c plugins/source-azure-activity/azure_common.h
plugins_source_azure_activity_vigil_source_azure_activity_la_CFLAGS = $(VGL_PLUGIN_CC)
plugins_source_azure_activity_vigil_source_azure_activity_la_LDFLAGS = $(VGL_PLUGIN_LINK)

check_PROGRAMS += plugins/source-azure-activity/tests/check_azure_activity
plugins_source_azure_activity_tests_check_azure_activity_SOURCES = \
	plugins/source-azure-activity/tests/check_azure_activity.c \
	plugins/source-azure-activity/tests/plugin_harness.c \
	plugins/source-azure-activity/tests/plugin_harness.h
plugins_source_azure_activity_tests_check_azure_activity_CFLAGS = $(TEST_CFLAGS) \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/source-azure-activity/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/source-azure-activity/tests/data"'
plugins_source_azure_activity_tests_check_azure_activity_LDADD = $(TEST_LIBS)
EXTRA_plugins_source_azure_activity_tests_check_azure_activity_DEPENDENCIES = \
	plugins/source-azure-activity/vigil-source-azure-activity.la

EXTRA_DIST += plugins/source-azure-activity/README.md plugins/source-azure-activity/example.yaml \
	plugins/source-azure-activity/tests/data
