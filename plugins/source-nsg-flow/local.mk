# plugins/source-nsg-flow: automake fragment included by the top Makefile.am (paths from the top).
# The Azure helpers are shared with source-azure-activity and source-entra-signin
# (compiled into each plugin: plugins link nothing of each other).
plugins_LTLIBRARIES += plugins/source-nsg-flow/vigil-source-nsg-flow.la
plugins_source_nsg_flow_vigil_source_nsg_flow_la_SOURCES = \
	plugins/source-nsg-flow/nsg_flow.c \
	plugins/source-azure-activity/azure_common.c plugins/source-azure-activity/azure_common.h
plugins_source_nsg_flow_vigil_source_nsg_flow_la_CFLAGS = $(VGL_PLUGIN_CC) \
	-I$(top_srcdir)/plugins/source-azure-activity
plugins_source_nsg_flow_vigil_source_nsg_flow_la_LDFLAGS = $(VGL_PLUGIN_LINK)

check_PROGRAMS += plugins/source-nsg-flow/tests/check_nsg_flow
plugins_source_nsg_flow_tests_check_nsg_flow_SOURCES = \
	plugins/source-nsg-flow/tests/check_nsg_flow.c \
	plugins/source-azure-activity/tests/plugin_harness.c \
	plugins/source-azure-activity/tests/plugin_harness.h
plugins_source_nsg_flow_tests_check_nsg_flow_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/source-azure-activity/tests \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/source-nsg-flow/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/source-nsg-flow/tests/data"'
plugins_source_nsg_flow_tests_check_nsg_flow_LDADD = $(TEST_LIBS)
EXTRA_plugins_source_nsg_flow_tests_check_nsg_flow_DEPENDENCIES = \
	plugins/source-nsg-flow/vigil-source-nsg-flow.la

EXTRA_DIST += plugins/source-nsg-flow/README.md plugins/source-nsg-flow/example.yaml \
	plugins/source-nsg-flow/tests/data
