# core/: incidents, automation, vigil respond (automake fragment, paths from the top)
core_libvigilcore_la_SOURCES += core/incidents.c core/incidents.h \
	core/automation.c core/automation.h
vigil_SOURCES += core/cmd_respond.c

check_PROGRAMS += tests/unit/check_incidents tests/unit/check_automation \
	tests/integration/it_respond

tests_unit_check_incidents_SOURCES = tests/unit/check_incidents.c
tests_unit_check_incidents_CFLAGS = $(TEST_CFLAGS)
tests_unit_check_incidents_LDADD = $(TEST_LIBS)
tests_unit_check_automation_SOURCES = tests/unit/check_automation.c
tests_unit_check_automation_CFLAGS = $(TEST_CFLAGS)
tests_unit_check_automation_LDADD = $(TEST_LIBS)
tests_integration_it_respond_SOURCES = tests/integration/it_respond.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_it_respond_CFLAGS = $(TEST_CFLAGS)
tests_integration_it_respond_LDADD = $(TEST_LIBS)
# the integration test runs `vigil respond` with the test responder plugin
EXTRA_tests_integration_it_respond_DEPENDENCIES = vigil tests/plugins/vigil-respond-pretend.la

check_PROGRAMS += tests/integration/it_incidents
tests_integration_it_incidents_SOURCES = tests/integration/it_incidents.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_it_incidents_CFLAGS = $(TEST_CFLAGS)
tests_integration_it_incidents_LDADD = $(TEST_LIBS)
EXTRA_tests_integration_it_incidents_DEPENDENCIES = vigil

check_PROGRAMS += tests/integration/it_reload
tests_integration_it_reload_SOURCES = tests/integration/it_reload.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_it_reload_CFLAGS = $(TEST_CFLAGS)
tests_integration_it_reload_LDADD = $(TEST_LIBS)
EXTRA_tests_integration_it_reload_DEPENDENCIES = vigil
