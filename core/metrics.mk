# core/: metrics registry and the operator's HTTP endpoint (/metrics, /healthz,
# /readyz), the Grafana dashboard and the systemd unit (automake fragment,
# included from the top Makefile.am; paths are relative to the top).
core_libvigilcore_la_SOURCES += core/metrics.c core/metrics.h core/http.c core/http.h

check_PROGRAMS += tests/unit/check_metrics
tests_unit_check_metrics_SOURCES = tests/unit/check_metrics.c
tests_unit_check_metrics_CFLAGS = $(TEST_CFLAGS)
tests_unit_check_metrics_LDADD = $(TEST_LIBS)

# Shipped as examples under $(pkgdatadir): the dashboard to import into
# Grafana, the unit to copy into /etc/systemd/system (docs/operations.md).
# The unit is deliberately not installed into a systemd directory: those lie
# outside the prefix (and distcheck), and differ between distributions.
vigilgrafanadir = $(pkgdatadir)/grafana
dist_vigilgrafana_DATA = configs/grafana/vigil-dashboard.json
vigilsystemddir = $(pkgdatadir)/systemd
dist_vigilsystemd_DATA = configs/systemd/vigil.service
