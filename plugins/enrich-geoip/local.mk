# plugins/enrich-geoip: automake fragment included by the top Makefile.am (paths from the top).
plugins_LTLIBRARIES += plugins/enrich-geoip/vigil-enrich-geoip.la
plugins_enrich_geoip_vigil_enrich_geoip_la_SOURCES = plugins/enrich-geoip/geoip.c
plugins_enrich_geoip_vigil_enrich_geoip_la_CFLAGS = $(VGL_PLUGIN_CC) $(MAXMINDDB_CFLAGS)
plugins_enrich_geoip_vigil_enrich_geoip_la_LDFLAGS = $(VGL_PLUGIN_LINK)
plugins_enrich_geoip_vigil_enrich_geoip_la_LIBADD = $(MAXMINDDB_LIBS)

check_PROGRAMS += plugins/enrich-geoip/tests/check_geoip
plugins_enrich_geoip_tests_check_geoip_SOURCES = plugins/enrich-geoip/tests/check_geoip.c \
	plugins/enrich-geoip/tests/plugin_harness.h
plugins_enrich_geoip_tests_check_geoip_CFLAGS = $(TEST_CFLAGS) \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/enrich-geoip/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/enrich-geoip/tests/data"'
plugins_enrich_geoip_tests_check_geoip_LDADD = $(TEST_LIBS)
EXTRA_plugins_enrich_geoip_tests_check_geoip_DEPENDENCIES = plugins/enrich-geoip/vigil-enrich-geoip.la

EXTRA_DIST += plugins/enrich-geoip/README.md plugins/enrich-geoip/example.yaml \
	plugins/enrich-geoip/tests/mkmmdb.py plugins/enrich-geoip/tests/data
