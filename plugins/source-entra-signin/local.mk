# plugins/source-entra-signin: automake fragment included by the top Makefile.am (paths from the top).
# The Azure helpers live in plugins/source-azure-activity/azure_common.[ch] and are
# compiled into each Azure source plugin (plugins link nothing of each other).
plugins_LTLIBRARIES += plugins/source-entra-signin/vigil-source-entra-signin.la
plugins_source_entra_signin_vigil_source_entra_signin_la_SOURCES = \
	plugins/source-entra-signin/entra_signin.c \
	plugins/source-azure-activity/azure_common.c plugins/source-azure-activity/azure_common.h
plugins_source_entra_signin_vigil_source_entra_signin_la_CFLAGS = $(VGL_PLUGIN_CC) \
	-I$(top_srcdir)/plugins/source-azure-activity
plugins_source_entra_signin_vigil_source_entra_signin_la_LDFLAGS = $(VGL_PLUGIN_LINK)

check_PROGRAMS += plugins/source-entra-signin/tests/check_entra_signin
plugins_source_entra_signin_tests_check_entra_signin_SOURCES = \
	plugins/source-entra-signin/tests/check_entra_signin.c \
	plugins/source-azure-activity/tests/plugin_harness.c \
	plugins/source-azure-activity/tests/plugin_harness.h
plugins_source_entra_signin_tests_check_entra_signin_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/source-azure-activity/tests \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/source-entra-signin/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/source-entra-signin/tests/data"'
plugins_source_entra_signin_tests_check_entra_signin_LDADD = $(TEST_LIBS)
EXTRA_plugins_source_entra_signin_tests_check_entra_signin_DEPENDENCIES = \
	plugins/source-entra-signin/vigil-source-entra-signin.la

EXTRA_DIST += plugins/source-entra-signin/README.md plugins/source-entra-signin/example.yaml \
	plugins/source-entra-signin/tests/data
