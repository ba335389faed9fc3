#!/bin/sh
# The whole response chain with real processes and an independent client:
# `vigil run` (embedded cluster) raises an alert, the incident's block_ip
# automation writes an action, `vigil respond` hands it to the respond-exec
# plugin, which runs a test program with the action as arguments (argv, no
# shell), and the outcome lands on the action results topic (read by kcat).
set -eu
B=${VGL_BUILDDIR:?} S=${VGL_SRCDIR:?}
t=$(mktemp -d)
run=""; resp=""
cleanup() {
    for p in $resp $run; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$t"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$t"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }

cat >"$t/rule.lua" <<'EOR'
return vigil.rule {
  id = "IT-RESP-0001", title = "Failed sign-in burst", severity = "high",
  tactic = "Credential Access", technique = "T1110",
  where = { ["event.outcome"] = "failure" },
  entities = { ip = "source.ip", account = "user.name" },
}
EOR
cat >"$t/vigil.yaml" <<EOC
kafka: {brokers: embedded, group: it-resp}
inputs: [{topic: resp.in}]
outputs: {alerts: resp.alerts, incidents: resp.incidents, actions: resp.actions,
          action_results: resp.results, dead_letter: resp.dlq}
rules: {paths: ["$t/rule.lua"]}
automation:
  - name: block-it
    when: {severity: [high]}
    do: [{action: block_ip, target: ip, duration: 1h}]
plugins:
  - name: exec
    id: firewall
    config:
      command: ["$S/plugins/respond-exec/tests/data/record.sh", "$t/rec", "{action}",
                "{target.type}", "{target.value}", "{action_id}"]
      timeout: 10s
      allowed_actions: [block_ip]
response:
  responder: firewall
  group: it-resp-responder
limits: {workers: 1, shutdown_timeout: 10s}
EOC

"$B/vigil" run -c "$t/vigil.yaml" --bootstrap-file "$t/bootstrap" >"$t/run.log" 2>&1 &
run=$!
i=0
while [ ! -s "$t/bootstrap" ]; do
    i=$((i + 1)); [ $i -le 200 ] || fail "vigil run did not start"
    kill -0 "$run" 2>/dev/null || fail "vigil run exited"
    sleep 0.1
done
bs=$(cat "$t/bootstrap")
"$B/vigil" respond -c "$t/vigil.yaml" --brokers "$bs" >"$t/respond.log" 2>&1 &
resp=$!

printf '%s\n' '{"@timestamp":"2024-03-01T10:00:00Z","event":{"outcome":"failure"},"source":{"ip":"198.51.100.23"},"user":{"name":"alice"}}' \
    | kcat -P -b "$bs" -t resp.in || fail "kcat -P"

i=0
while :; do
    kcat -C -b "$bs" -t resp.results -e -q >"$t/results.out" 2>/dev/null || true
    [ -s "$t/results.out" ] && break
    i=$((i + 1)); [ $i -le 60 ] || fail "no action result within 30 s"
    kill -0 "$resp" 2>/dev/null || fail "vigil respond exited"
    sleep 0.5
done
grep -q '"status":"succeeded"' "$t/results.out" || fail "result: $(cat "$t/results.out")"
grep -q '"action":"block_ip"' "$t/results.out" || fail "result: $(cat "$t/results.out")"
# the program got the action as separate arguments, exactly
aid=$(sed -n 's/.*"action_id":"\([0-9a-f]*\)".*/\1/p' "$t/results.out" | head -1)
[ -n "$aid" ] || fail "no action_id in the result"
want=$(printf '%s\n' block_ip ip 198.51.100.23 "$aid")
got=$(tr '\0' '\n' <"$t/rec.argv")
[ "$got" = "$want" ] || fail "argv: got [$got] want [$want]"
# and the action JSON on stdin
grep -q '"198.51.100.23"' "$t/rec.stdin" || fail "stdin lacks the action"
[ "$(wc -l <"$t/rec.count")" = 1 ] || fail "the program ran $(wc -l <"$t/rec.count") times"
echo "response chain: alert -> incident -> block_ip action -> respond-exec -> result succeeded"
