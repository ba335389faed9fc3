# plugins/enrich-threatintel: automake fragment included by the top Makefile.am (paths from the top).
# csv.[ch] and rcu.h are shared with plugins/enrich-watchlist.
TI_CORE = plugins/enrich-threatintel/intel.c plugins/enrich-threatintel/intel.h \
	plugins/enrich-threatintel/feeds.c plugins/enrich-threatintel/feeds.h \
	plugins/enrich-threatintel/csv.c plugins/enrich-threatintel/csv.h \
	plugins/enrich-threatintel/json.c plugins/enrich-threatintel/json.h

plugins_LTLIBRARIES += plugins/enrich-threatintel/vigil-enrich-threatintel.la
plugins_enrich_threatintel_vigil_enrich_threatintel_la_SOURCES = \
	plugins/enrich-threatintel/threatintel.c plugins/enrich-threatintel/rcu.h $(TI_CORE)
plugins_enrich_threatintel_vigil_enrich_threatintel_la_CFLAGS = $(VGL_PLUGIN_CC) -pthread
plugins_enrich_threatintel_vigil_enrich_threatintel_la_LDFLAGS = $(VGL_PLUGIN_LINK) -pthread

check_PROGRAMS += plugins/enrich-threatintel/tests/check_threatintel
plugins_enrich_threatintel_tests_check_threatintel_SOURCES = \
	plugins/enrich-threatintel/tests/check_threatintel.c $(TI_CORE) \
	plugins/enrich-geoip/tests/plugin_harness.h
plugins_enrich_threatintel_tests_check_threatintel_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/enrich-geoip/tests -I$(top_srcdir)/plugins/enrich-threatintel \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/enrich-threatintel/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/enrich-threatintel/tests/data"'
plugins_enrich_threatintel_tests_check_threatintel_LDADD = $(TEST_LIBS)
EXTRA_plugins_enrich_threatintel_tests_check_threatintel_DEPENDENCIES = \
	plugins/enrich-threatintel/vigil-enrich-threatintel.la

# Benchmark, built only on request:
#   make plugins/enrich-threatintel/bench/bench_threatintel
EXTRA_PROGRAMS += plugins/enrich-threatintel/bench/bench_threatintel
plugins_enrich_threatintel_bench_bench_threatintel_SOURCES = \
	plugins/enrich-threatintel/bench/bench_threatintel.c $(TI_CORE)
plugins_enrich_threatintel_bench_bench_threatintel_CFLAGS = $(WARN_CFLAGS) -O2 \
	-I$(top_srcdir)/plugins/enrich-threatintel

EXTRA_DIST += plugins/enrich-threatintel/README.md plugins/enrich-threatintel/example.yaml \
	plugins/enrich-threatintel/tests/data
