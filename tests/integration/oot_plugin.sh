#!/bin/sh
# A plugin built OUT OF TREE, the way a third party builds one
#   cc $(pkg-config --cflags vigil-plugin) -shared -o vigil-detect-watch.so watch.c
# loads and runs in `vigil test` and in `vigil run` (embedded cluster, kcat
# as the independent client).
set -eu
B=${VGL_BUILDDIR:?} S=${VGL_SRCDIR:?}
t=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$t"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done; exit 1; }

# the plugin source lives outside the tree, built with the public header only
cp "$S/tests/plugins/detect_watch.c" "$t/watch.c"
cflags=$(PKG_CONFIG_PATH="$B" pkg-config --cflags vigil-plugin) || fail "pkg-config vigil-plugin"
${CC:-cc} $cflags -shared -Wl,-z,defs -o "$t/vigil-detect-watch.so" "$t/watch.c" ||
    fail "out-of-tree build"

printf '%s\n' \
    '{"@timestamp":"2024-01-01T00:00:00Z","user":{"name":"mallory"},"source":{"ip":"192.0.2.1"}}' \
    '{"@timestamp":"2024-01-01T00:00:01Z","user":{"name":"bob"},"source":{"ip":"192.0.2.2"}}' \
    >"$t/events.jsonl"
cat >"$t/vigil.yaml" <<EOC
kafka: {brokers: embedded}
plugin_path: [$t]
plugins:
  - name: watch
    config: {user: mallory}
inputs: [{topic: oot.in}]
outputs: {alerts: oot.alerts, incidents: oot.incidents, actions: oot.actions,
          action_results: oot.results, dead_letter: oot.dlq}
rules: {paths: []}
limits: {workers: 1, shutdown_timeout: 10s}
EOC

# vigil test
"$B/vigil" test -c "$t/vigil.yaml" "$t/events.jsonl" >"$t/test.out" 2>"$t/test.log" ||
    fail "vigil test exited $?"
n=$(grep -c '"rule_id":"demo-root-login"' "$t/test.out" || true)
[ "$n" = 1 ] || fail "vigil test: expected 1 alert of the out-of-tree plugin, got $n"
grep -q '"value":"mallory"' "$t/test.out" || fail "vigil test: alert lacks the account entity"

# vigil run
"$B/vigil" run -c "$t/vigil.yaml" --bootstrap-file "$t/bootstrap" >"$t/run.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$t/bootstrap" ]; do
    i=$((i + 1)); [ $i -le 200 ] || fail "vigil run did not start"
    kill -0 "$pid" 2>/dev/null || fail "vigil run exited"
    sleep 0.1
done
bs=$(cat "$t/bootstrap")
kcat -P -b "$bs" -t oot.in -l "$t/events.jsonl" || fail "kcat -P"
i=0
while :; do
    kcat -C -b "$bs" -t oot.alerts -e -q >"$t/alerts.out" 2>/dev/null || true
    grep -q '"rule_id":"demo-root-login"' "$t/alerts.out" && break
    i=$((i + 1)); [ $i -le 60 ] || fail "vigil run: no alert from the out-of-tree plugin"
    sleep 0.5
done
n=$(grep -c '"rule_id":"demo-root-login"' "$t/alerts.out")
[ "$n" = 1 ] || fail "vigil run: expected 1 alert, got $n"
kill -TERM "$pid"; wait "$pid" || fail "vigil run exited non-zero on SIGTERM"; pid=""
echo "out-of-tree plugin: loaded and alerting in vigil test and vigil run"
