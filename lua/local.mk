# lua/: the rule pack and its tests (automake fragment, paths from the top).
#
# The rules install to $(luadir)/rules/<tactic>/<id>-<slug>.lua: nobase keeps
# the lua/rules/... path under $(pkgdatadir), and $(pkgdatadir)/lua is $(luadir).
# A new rule file is added to the list below (automake takes no wildcards) and
# gets a test folder lua/tests/<id>/ with positive.jsonl, negative.jsonl and
# expected.jsonl, listed in EXTRA_DIST; lua/tests/run-rule-tests.sh finds the
# folders by itself and fails for a rule without one.

vglrulepackdir = $(pkgdatadir)
nobase_dist_vglrulepack_DATA = \
	lua/rules/command-and-control/VGL-C2-0001-beaconing.lua \
	lua/rules/command-and-control/VGL-C2-0002-lolbin-download.lua \
	lua/rules/credential-access/VGL-CA-0001-brute-force-one-account.lua \
	lua/rules/credential-access/VGL-CA-0002-password-spray.lua \
	lua/rules/credential-access/VGL-CA-0003-mfa-fatigue.lua \
	lua/rules/credential-access/VGL-CA-0004-kerberoasting.lua \
	lua/rules/credential-access/VGL-CA-0005-lsass-memory-access.lua \
	lua/rules/credential-access/VGL-CA-0006-credential-dumping-tools.lua \
	lua/rules/credential-access/VGL-CA-0007-sam-hive-copy.lua \
	lua/rules/defense-evasion/VGL-DE-0001-rc4-tgt-request.lua \
	lua/rules/defense-evasion/VGL-DE-0002-mshta-script-or-url.lua \
	lua/rules/defense-evasion/VGL-DE-0003-regsvr32-scriptlet.lua \
	lua/rules/defense-evasion/VGL-DE-0004-certutil-decode.lua \
	lua/rules/defense-evasion/VGL-DE-0005-wdigest-logon-credential-enabled.lua \
	lua/rules/defense-evasion/VGL-DE-0006-amsi-bypass.lua \
	lua/rules/defense-evasion/VGL-DE-0007-azure-diagnostic-settings-removed.lua \
	lua/rules/discovery/VGL-DI-0001-port-scan.lua \
	lua/rules/discovery/VGL-DI-0002-discovery-command-burst.lua \
	lua/rules/execution/VGL-EX-0001-encoded-powershell.lua \
	lua/rules/execution/VGL-EX-0002-remote-scheduled-task-command.lua \
	lua/rules/execution/VGL-EX-0003-scheduled-task-after-network-logon.lua \
	lua/rules/impact/VGL-IM-0001-mass-resource-deletion.lua \
	lua/rules/impact/VGL-IM-0002-shadow-copy-deletion.lua \
	lua/rules/initial-access/VGL-IA-0001-signins-from-two-countries.lua \
	lua/rules/initial-access/VGL-IA-0002-signin-from-threat-intel-ip.lua \
	lua/rules/initial-access/VGL-IA-0003-endpoint-alert-then-risky-signin.lua \
	lua/rules/initial-access/VGL-IA-0004-impossible-travel-speed.lua \
	lua/rules/lateral-movement/VGL-LM-0001-remote-logons-to-many-hosts.lua \
	lua/rules/lateral-movement/VGL-LM-0002-admin-protocol-fan-out.lua \
	lua/rules/persistence/VGL-PS-0001-role-assignment.lua \
	lua/rules/persistence/VGL-PS-0002-new-service-installed.lua \
	lua/rules/persistence/VGL-PS-0003-suspicious-service-binary.lua \
	lua/rules/persistence/VGL-PS-0004-local-admin-account-created.lua \
	lua/rules/persistence/VGL-PS-0005-account-created-from-command-line.lua

# every rule's positive/negative/expected events through `vigil test`
# (VGL_SRCDIR and VGL_BUILDDIR come from AM_TESTS_ENVIRONMENT)
TESTS += lua/tests/run-rule-tests.sh

# the test folders one by one: naming lua/tests itself would also ship the
# .log/.trs files a VPATH build leaves in its own lua/tests
EXTRA_DIST += lua/tests/run-rule-tests.sh lua/tests/hostile.jsonl \
	lua/tests/VGL-C2-0001 \
	lua/tests/VGL-C2-0002 \
	lua/tests/VGL-CA-0001 \
	lua/tests/VGL-CA-0002 \
	lua/tests/VGL-CA-0003 \
	lua/tests/VGL-CA-0004 \
	lua/tests/VGL-CA-0005 \
	lua/tests/VGL-CA-0006 \
	lua/tests/VGL-CA-0007 \
	lua/tests/VGL-DE-0001 \
	lua/tests/VGL-DE-0002 \
	lua/tests/VGL-DE-0003 \
	lua/tests/VGL-DE-0004 \
	lua/tests/VGL-DE-0005 \
	lua/tests/VGL-DE-0006 \
	lua/tests/VGL-DE-0007 \
	lua/tests/VGL-DI-0001 \
	lua/tests/VGL-DI-0002 \
	lua/tests/VGL-EX-0001 \
	lua/tests/VGL-EX-0002 \
	lua/tests/VGL-EX-0003 \
	lua/tests/VGL-IA-0001 \
	lua/tests/VGL-IA-0002 \
	lua/tests/VGL-IA-0003 \
	lua/tests/VGL-IA-0004 \
	lua/tests/VGL-IM-0001 \
	lua/tests/VGL-IM-0002 \
	lua/tests/VGL-LM-0001 \
	lua/tests/VGL-LM-0002 \
	lua/tests/VGL-PS-0001 \
	lua/tests/VGL-PS-0002 \
	lua/tests/VGL-PS-0003 \
	lua/tests/VGL-PS-0004 \
	lua/tests/VGL-PS-0005 \
	lua/tests/VGL-PS-0006
