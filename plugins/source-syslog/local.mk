# plugins/source-syslog: automake fragment included by the top Makefile.am (paths from the top).
# The plugin is a connector, so its file is vigil-connector-syslog.so.
plugins_LTLIBRARIES += plugins/source-syslog/vigil-connector-syslog.la
plugins_source_syslog_vigil_connector_syslog_la_SOURCES = plugins/source-syslog/syslog.c \
	plugins/source-syslog/syslog_parse.c plugins/source-syslog/syslog_parse.h
plugins_source_syslog_vigil_connector_syslog_la_CFLAGS = $(VGL_PLUGIN_CC) -pthread
plugins_source_syslog_vigil_connector_syslog_la_LDFLAGS = $(VGL_PLUGIN_LINK) -pthread

check_PROGRAMS += plugins/source-syslog/tests/check_syslog
plugins_source_syslog_tests_check_syslog_SOURCES = plugins/source-syslog/tests/check_syslog.c \
	plugins/source-syslog/syslog_parse.c
plugins_source_syslog_tests_check_syslog_CFLAGS = $(TEST_CFLAGS) \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/source-syslog/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/source-syslog/tests/data"'
plugins_source_syslog_tests_check_syslog_LDADD = $(TEST_LIBS)
EXTRA_plugins_source_syslog_tests_check_syslog_DEPENDENCIES = \
	plugins/source-syslog/vigil-connector-syslog.la

EXTRA_DIST += plugins/source-syslog/README.md plugins/source-syslog/example.yaml
