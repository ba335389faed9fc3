#!/bin/bash
# bench/bus.sh: throughput of the event bus alone (consume -> decode JSON ->
# pass-through stages -> produce every event to an output topic, offsets
# committed), against a raw `kcat -C` consume of the same topic in the same
# run. Uses a standalone embedded cluster (vigil broker).
#
#   bench/bus.sh [EVENTS] [PARTITIONS]      defaults: 300000 events, 32 partitions
#   VIGIL=./vigil WORKERS=2 bench/bus.sh
#
# The embedded cluster keeps at most 5 MiB per partition: ~400-byte events x
# EVENTS / PARTITIONS must stay below that (the script checks the counts).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VIGIL=${VIGIL:-"$here/vigil"}
N=${1:-300000}
P=${2:-32}
WORKERS=${WORKERS:-$(nproc)}
per=$(( N * 420 / P ))
if [ "$per" -gt $((5 * 1024 * 1024)) ]; then
    echo "bus.sh: $N events on $P partitions exceed the embedded cluster's 5 MiB per partition;" \
         "use more partitions" >&2
    exit 2
fi
work=$(mktemp -d)
bpid=""; vpid=""
cleanup() {
    [ -n "$vpid" ] && kill -TERM "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null || true
    [ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# ~400-byte sign-in-like events, 5000 users, 2000 source IPs
python3 - "$N" >"$work/events.jsonl" <<'EOF'
import json, random, sys
random.seed(7)
n = int(sys.argv[1])
for i in range(n):
    u = random.randrange(5000); ip = random.randrange(2000)
    print(json.dumps({
        "@timestamp": "2024-05-01T%02d:%02d:%02d.%03dZ" % (i // 3600000 % 24, i // 60000 % 60, i // 1000 % 60, i % 1000),
        "event": {"category": "authentication", "action": "signin",
                  "outcome": "failure" if random.random() < 0.1 else "success", "code": "0"},
        "user": {"name": "user%04d@contoso.com" % u, "id": "%08x-0000-4000-8000-%012x" % (u, u)},
        "source": {"ip": "203.0.%d.%d" % (ip // 250, ip % 250), "port": 40000 + i % 20000},
        "azure": {"signin": {"app_name": "Office 365 Exchange Online", "client_app": "Browser",
                             "risk_level": "none"}},
        "user_agent": {"original": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"},
    }, separators=(",", ":")))
EOF
bytes=$(wc -c <"$work/events.jsonl")
echo "events: $N ($((bytes / N)) bytes avg), partitions: $P, workers: $WORKERS"

"$VIGIL" broker --topic bench.in:"$P" --topic bench.out:"$P" --topic bench.dlq:1 >"$work/broker.out" 2>"$work/broker.log" &
bpid=$!
for _ in $(seq 100); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bs=$(head -1 "$work/broker.out")
kcat -P -b "$bs" -t bench.in -K '\t' -l <(awk '{printf "%d\t%s\n", NR, $0}' "$work/events.jsonl")

end_offsets() { # topic -> sum of end offsets
    local t=$1 args=()
    for p in $(seq 0 $((P - 1))); do args+=(-t "$t:$p:-1"); done
    kcat -b "$bs" -Q "${args[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}'
}
have=$(end_offsets bench.in)
[ "$have" -eq "$N" ] || { echo "bus.sh: input topic holds $have of $N events" >&2; exit 1; }

# raw consume with kcat
t0=$(date +%s.%N)
got=$(kcat -C -b "$bs" -t bench.in -o beginning -e -q -f '%o\n' | wc -l)
t1=$(date +%s.%N)
kcat_s=$(awk "BEGIN{print $t1 - $t0}")
[ "$got" -eq "$N" ] || { echo "bus.sh: kcat read $got of $N" >&2; exit 1; }

cat >"$work/bench.yaml" <<EOF
kafka: {brokers: "$bs", group: bench-$$}
inputs: [{topic: bench.in}]
outputs: {events: bench.out, dead_letter: bench.dlq}
rules: {paths: []}
limits: {workers: $WORKERS}
log: {level: warn}
EOF
t0=$(date +%s.%N)
"$VIGIL" run -c "$work/bench.yaml" 2>"$work/vigil.log" &
vpid=$!
while :; do
    out=$(end_offsets bench.out)
    [ "$out" -ge "$N" ] && break
    kill -0 "$vpid" 2>/dev/null || { echo "bus.sh: vigil exited:" >&2; cat "$work/vigil.log" >&2; exit 1; }
    sleep 0.5
done
t1=$(date +%s.%N)
kill -TERM "$vpid"; wait "$vpid" || true; vpid=""
vigil_s=$(awk "BEGIN{print $t1 - $t0}")
# steady state, without the consumer-group join: first to last output
# record's CreateTime (set by vigil's producer)
steady_s=$(kcat -C -b "$bs" -t bench.out -o beginning -e -q -f '%T\n' |
    awk 'NR == 1 {lo = $1; hi = $1} {if ($1 < lo) lo = $1; if ($1 > hi) hi = $1}
         END {print (hi - lo) / 1000.0}')
awk -v n="$N" -v k="$kcat_s" -v v="$vigil_s" -v s="$steady_s" 'BEGIN {
    printf "kcat -C   : %8.0f events/s (%.2fs)\n", n / k, k
    printf "vigil bus : %8.0f events/s (%.2fs, consume+decode+produce+commit, incl. startup)\n", n / v, v
    printf "vigil bus : %8.0f events/s steady (%.2fs first to last output record)\n", n / s, s
    printf "ratio vigil/kcat: %.2f (steady), %.2f (incl. startup)\n", k / s, k / v }'
