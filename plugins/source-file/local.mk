# plugins/source-file: automake fragment included by the top Makefile.am (paths from the top).
# The plugin is a connector, so its file is vigil-connector-file.so.
plugins_LTLIBRARIES += plugins/source-file/vigil-connector-file.la
plugins_source_file_vigil_connector_file_la_SOURCES = plugins/source-file/file.c \
	plugins/source-file/file_json.c plugins/source-file/file_json.h
plugins_source_file_vigil_connector_file_la_CFLAGS = $(VGL_PLUGIN_CC) -pthread
plugins_source_file_vigil_connector_file_la_LDFLAGS = $(VGL_PLUGIN_LINK) -pthread

check_PROGRAMS += plugins/source-file/tests/check_file
plugins_source_file_tests_check_file_SOURCES = plugins/source-file/tests/check_file.c \
	plugins/source-file/file_json.c
plugins_source_file_tests_check_file_CFLAGS = $(TEST_CFLAGS) \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/source-file/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/source-file/tests/data"'
plugins_source_file_tests_check_file_LDADD = $(TEST_LIBS)
EXTRA_plugins_source_file_tests_check_file_DEPENDENCIES = \
	plugins/source-file/vigil-connector-file.la

EXTRA_DIST += plugins/source-file/README.md plugins/source-file/example.yaml \
	plugins/source-file/tests/data
