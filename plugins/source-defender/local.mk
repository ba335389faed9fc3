# plugins/source-defender: automake fragment included by the top Makefile.am (paths from the top).
# ecs_norm.c (account/host/address helpers) is shared with source-winevent and
# compiled into this plugin too: nothing is exported from either .so.
plugins_LTLIBRARIES += plugins/source-defender/vigil-source-defender.la
plugins_source_defender_vigil_source_defender_la_SOURCES = \
	plugins/source-defender/defender.c \
	plugins/source-defender/embedded_json.c plugins/source-defender/embedded_json.h \
	plugins/source-winevent/ecs_norm.c plugins/source-winevent/ecs_norm.h
plugins_source_defender_vigil_source_defender_la_CFLAGS = $(VGL_PLUGIN_CC)
plugins_source_defender_vigil_source_defender_la_LDFLAGS = $(VGL_PLUGIN_LINK)

check_PROGRAMS += plugins/source-defender/tests/check_defender
plugins_source_defender_tests_check_defender_SOURCES = \
	plugins/source-defender/tests/check_defender.c \
	plugins/source-winevent/tests/plugin_harness.c \
	plugins/source-winevent/tests/plugin_harness.h
plugins_source_defender_tests_check_defender_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/source-winevent/tests \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/source-defender/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/source-defender/tests/data"'
plugins_source_defender_tests_check_defender_LDADD = $(TEST_LIBS)
EXTRA_plugins_source_defender_tests_check_defender_DEPENDENCIES = \
	plugins/source-defender/vigil-source-defender.la

EXTRA_DIST += plugins/source-defender/README.md plugins/source-defender/example.yaml \
	plugins/source-defender/tests/data
