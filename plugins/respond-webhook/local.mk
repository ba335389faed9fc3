# plugins/respond-webhook: automake fragment included by the top Makefile.am (paths from the top).
# The action document is built by plugins/respond-exec/action_json.c, compiled in here too.
plugins_LTLIBRARIES += plugins/respond-webhook/vigil-respond-webhook.la
plugins_respond_webhook_vigil_respond_webhook_la_SOURCES = plugins/respond-webhook/webhook.c \
	plugins/respond-exec/action_json.c plugins/respond-exec/action_json.h
plugins_respond_webhook_vigil_respond_webhook_la_CFLAGS = $(VGL_PLUGIN_CC) $(CURL_CFLAGS) \
	-I$(top_srcdir)/plugins/respond-exec
plugins_respond_webhook_vigil_respond_webhook_la_LDFLAGS = $(VGL_PLUGIN_LINK)
plugins_respond_webhook_vigil_respond_webhook_la_LIBADD = $(CURL_LIBS)

check_PROGRAMS += plugins/respond-webhook/tests/check_webhook
plugins_respond_webhook_tests_check_webhook_SOURCES = plugins/respond-webhook/tests/check_webhook.c
plugins_respond_webhook_tests_check_webhook_CFLAGS = $(TEST_CFLAGS) \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/respond-webhook/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/respond-webhook/tests/data"'
plugins_respond_webhook_tests_check_webhook_LDADD = $(TEST_LIBS)
EXTRA_plugins_respond_webhook_tests_check_webhook_DEPENDENCIES = \
	plugins/respond-webhook/vigil-respond-webhook.la

EXTRA_DIST += plugins/respond-webhook/README.md plugins/respond-webhook/example.yaml
