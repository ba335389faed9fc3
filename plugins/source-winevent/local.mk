# plugins/source-winevent: automake fragment included by the top Makefile.am (paths from the top).
plugins_LTLIBRARIES += plugins/source-winevent/vigil-source-winevent.la
plugins_source_winevent_vigil_source_winevent_la_SOURCES = \
	plugins/source-winevent/winevent.c \
	plugins/source-winevent/ecs_norm.c plugins/source-winevent/ecs_norm.h
plugins_source_winevent_vigil_source_winevent_la_CFLAGS = $(VGL_PLUGIN_CC)
plugins_source_winevent_vigil_source_winevent_la_LDFLAGS = $(VGL_PLUGIN_LINK)

check_PROGRAMS += plugins/source-winevent/tests/check_winevent
plugins_source_winevent_tests_check_winevent_SOURCES = \
	plugins/source-winevent/tests/check_winevent.c \
	plugins/source-winevent/tests/plugin_harness.c \
	plugins/source-winevent/tests/plugin_harness.h
plugins_source_winevent_tests_check_winevent_CFLAGS = $(TEST_CFLAGS) \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/source-winevent/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/source-winevent/tests/data"'
plugins_source_winevent_tests_check_winevent_LDADD = $(TEST_LIBS)
EXTRA_plugins_source_winevent_tests_check_winevent_DEPENDENCIES = \
	plugins/source-winevent/vigil-source-winevent.la

EXTRA_DIST += plugins/source-winevent/README.md plugins/source-winevent/example.yaml \
	plugins/source-winevent/tests/data
