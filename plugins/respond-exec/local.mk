# plugins/respond-exec: automake fragment included by the top Makefile.am (paths from the top).
# action_json.c is also compiled into plugins/respond-webhook (the same document is POSTed).
plugins_LTLIBRARIES += plugins/respond-exec/vigil-respond-exec.la
plugins_respond_exec_vigil_respond_exec_la_SOURCES = plugins/respond-exec/exec.c \
	plugins/respond-exec/action_json.c plugins/respond-exec/action_json.h
plugins_respond_exec_vigil_respond_exec_la_CFLAGS = $(VGL_PLUGIN_CC)
plugins_respond_exec_vigil_respond_exec_la_LDFLAGS = $(VGL_PLUGIN_LINK)

check_PROGRAMS += plugins/respond-exec/tests/check_exec
plugins_respond_exec_tests_check_exec_SOURCES = plugins/respond-exec/tests/check_exec.c
plugins_respond_exec_tests_check_exec_CFLAGS = $(TEST_CFLAGS) \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/respond-exec/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/respond-exec/tests/data"'
plugins_respond_exec_tests_check_exec_LDADD = $(TEST_LIBS)
EXTRA_plugins_respond_exec_tests_check_exec_DEPENDENCIES = plugins/respond-exec/vigil-respond-exec.la

EXTRA_DIST += plugins/respond-exec/README.md plugins/respond-exec/example.yaml \
	plugins/respond-exec/tests/data
