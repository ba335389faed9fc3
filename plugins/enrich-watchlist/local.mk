# plugins/enrich-watchlist: automake fragment included by the top Makefile.am (paths from the top).
# The CSV reader and the RCU pointer are shared with plugins/enrich-threatintel.
plugins_LTLIBRARIES += plugins/enrich-watchlist/vigil-enrich-watchlist.la
plugins_enrich_watchlist_vigil_enrich_watchlist_la_SOURCES = \
	plugins/enrich-watchlist/watchlist.c \
	plugins/enrich-threatintel/csv.c plugins/enrich-threatintel/csv.h \
	plugins/enrich-threatintel/rcu.h
plugins_enrich_watchlist_vigil_enrich_watchlist_la_CFLAGS = $(VGL_PLUGIN_CC) -pthread \
	-I$(top_srcdir)/plugins/enrich-threatintel
plugins_enrich_watchlist_vigil_enrich_watchlist_la_LDFLAGS = $(VGL_PLUGIN_LINK) -pthread

check_PROGRAMS += plugins/enrich-watchlist/tests/check_watchlist
plugins_enrich_watchlist_tests_check_watchlist_SOURCES = \
	plugins/enrich-watchlist/tests/check_watchlist.c plugins/enrich-geoip/tests/plugin_harness.h
plugins_enrich_watchlist_tests_check_watchlist_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/enrich-geoip/tests \
	-DPLUGIN_DIR='"$(abs_top_builddir)/plugins/enrich-watchlist/.libs"' \
	-DDATA_DIR='"$(abs_top_srcdir)/plugins/enrich-watchlist/tests/data"'
plugins_enrich_watchlist_tests_check_watchlist_LDADD = $(TEST_LIBS)
EXTRA_plugins_enrich_watchlist_tests_check_watchlist_DEPENDENCIES = \
	plugins/enrich-watchlist/vigil-enrich-watchlist.la

EXTRA_DIST += plugins/enrich-watchlist/README.md plugins/enrich-watchlist/example.yaml \
	plugins/enrich-watchlist/tests/data
