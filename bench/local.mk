# bench/: the benchmark suite (automake fragment, paths from the top).
# `make bench` builds vigil, the plugins and the micro-benchmark program and
# runs every bench script; never part of `make check`. docs/benchmarks.md
# says what each script measures and holds the latest figures.
#
# Sizes are passed through: make bench BENCH_RULES_ARGS="200000 1"
# BENCH_E2E_ARGS="500000" BENCH_BUS_ARGS="300000 32" BENCH_MICRO_ARGS="20000"

EXTRA_PROGRAMS += bench/micro/micro
bench_micro_micro_SOURCES = bench/micro/micro.c
bench_micro_micro_CFLAGS = $(AM_CFLAGS) $(DEP_CFLAGS)
bench_micro_micro_LDADD = core/libvigilcore.la $(DEP_LIBS)

EXTRA_DIST += bench/bus.sh bench/rules.sh bench/e2e.sh bench/micro.sh bench/keys.sh bench/gen.py bench/results.md \
	bench/results.md \
	bench/latency.py

BENCH_ENV = VIGIL='$(abs_top_builddir)/vigil' MICRO='$(abs_top_builddir)/bench/micro/micro'

.PHONY: bench
bench: vigil $(plugins_LTLIBRARIES) bench/micro/micro$(EXEEXT)
	$(BENCH_ENV) $(SHELL) $(srcdir)/bench/micro.sh $(BENCH_MICRO_ARGS)
	$(BENCH_ENV) $(SHELL) $(srcdir)/bench/rules.sh $(BENCH_RULES_ARGS)
	$(BENCH_ENV) $(SHELL) $(srcdir)/bench/bus.sh $(BENCH_BUS_ARGS)
	$(BENCH_ENV) $(SHELL) $(srcdir)/bench/e2e.sh $(BENCH_E2E_ARGS)
	$(BENCH_ENV) $(SHELL) $(srcdir)/bench/keys.sh $(BENCH_KEYS_ARGS)
