# plugins/detect-anomaly: automake fragment included by the top Makefile.am (paths from the top).
# -fno-math-errno: sqrt() becomes one instruction, so the plugin links only libc.
plugins_LTLIBRARIES += plugins/detect-anomaly/vigil-detect-anomaly.la
plugins_detect_anomaly_vigil_detect_anomaly_la_SOURCES = plugins/detect-anomaly/anomaly.c
plugins_detect_anomaly_vigil_detect_anomaly_la_CFLAGS = $(VGL_PLUGIN_CC) -fno-math-errno
plugins_detect_anomaly_vigil_detect_anomaly_la_LDFLAGS = $(VGL_PLUGIN_LINK)

check_PROGRAMS += plugins/detect-anomaly/tests/check_anomaly
plugins_detect_anomaly_tests_check_anomaly_SOURCES = \
	plugins/detect-anomaly/tests/check_anomaly.c plugins/enrich-geoip/tests/plugin_harness.h
plugins_detect_anomaly_tests_check_anomaly_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/enrich-geoip/tests \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/detect-anomaly/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/detect-anomaly/tests/data"'
plugins_detect_anomaly_tests_check_anomaly_LDADD = $(TEST_LIBS) -lm
EXTRA_plugins_detect_anomaly_tests_check_anomaly_DEPENDENCIES = \
	plugins/detect-anomaly/vigil-detect-anomaly.la

EXTRA_DIST += plugins/detect-anomaly/README.md plugins/detect-anomaly/example.yaml \
	plugins/detect-anomaly/tests/data
