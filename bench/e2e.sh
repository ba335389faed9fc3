#!/bin/bash
# bench/e2e.sh: the full pipeline end to end, Kafka in, Kafka out, on a
# standalone embedded cluster (vigil broker):
#   raw Entra ID sign-ins (diagnostic-export shape, bench/gen.py, keyed by
#   source address) -> decode -> entra-signin source plugin -> geoip
#   (the test City and ASN databases) -> threatintel (a generated CSV of
#   TI_COUNT indicators) -> rules (1, 20, 200: half stateless, half
#   threshold) -> alerts, incidents (global grouping through its internal
#   topic) -> output topics
# against a raw `kcat -C` of the same topic in the same run (defaults and
# -X queued.min.messages=1000000; the better one is the raw limit).
#
# Phase 1, throughput: N events are produced first (the topic gets enough
# partitions to stay under the embedded cluster's 5 MiB per partition, and
# the script checks that every partition still starts at offset 0 and that
# the end offsets add up to N), then vigil consumes the backlog once per
# rule set. events/s is steady state: from the first metrics poll that saw
# events consumed to the poll where all N are consumed and none is in
# flight (polled every 0.25 s from vigil's /metrics). Also: startup to
# /readyz, peak RSS (VmHWM), alerts and incidents written.
# Phase 2, latency: with the 20-rule set, LAT_SECONDS of the same events
# are produced at LAT_RATE events/s (default: half of the 20-rule
# throughput just measured) while vigil runs; each alert's latency is its
# output record's CreateTime minus the CreateTime of the newest input
# record in its evidence (bench/latency.py).
#
#   bench/e2e.sh [EVENTS]                         default 2000000
#   RULESETS="1 20 200" WORKERS=2 TI_COUNT=1000000 LAT_SECONDS=5 LAT_RATE=
#   PERF=FILE (perf record the 20-rule run into FILE, report in FILE.txt)
#   KAFKA_PROPS='k: v, ...' (librdkafka properties of vigil run, throughput runs)
#   LAT_KAFKA_PROPS='fetch.wait.max.ms: 10' (the same for the latency run)
#   VIGIL=./vigil KEEP=1 bench/e2e.sh 500000
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
VIGIL=${VIGIL:-"$src/vigil"}
N=${1:-2000000}
RULESETS=${RULESETS:-"1 20 200"}
WORKERS=${WORKERS:-$(nproc)}
TI_COUNT=${TI_COUNT:-1000000}
LAT_SECONDS=${LAT_SECONDS:-5}
LAT_RATE=${LAT_RATE:-}
PERF=${PERF:-}
PORT=${PORT:-$((19000 + $$ % 1000))}
KAFKA_PROPS=${KAFKA_PROPS:-}
# The embedded (mock) cluster holds a fetch that finds no new data for the
# whole fetch.wait.max.ms (500 ms by default) instead of answering when data
# arrives, as a real broker does: at a paced rate that wait is the latency
# of any consumer (kcat -C included). The latency phase therefore sets 10 ms.
LAT_KAFKA_PROPS=${LAT_KAFKA_PROPS-"fetch.wait.max.ms: 10"}
MMDB="$src/plugins/enrich-geoip/tests/data"
RETENTION=$((5 * 1024 * 1024))
OUTP=32 # partitions of the alert, incident and grouping topics
for tool in kcat curl python3; do
    command -v $tool >/dev/null || { echo "e2e.sh: $tool not found" >&2; exit 2; }
done
work=$(mktemp -d)
bpid=""; vpid=""; ppid_=""
cleanup() {
    [ -n "$ppid_" ] && kill -INT "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null || true
    [ -n "$vpid" ] && kill -TERM "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null || true
    [ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
log() { echo "$*" >&2; }

# ------------------------------------------------------------------ data
python3 "$src/bench/gen.py" events --shape entra --count "$N" --seed 1 --keyed >"$work/in.tsv"
bytes=$(( $(wc -c <"$work/in.tsv") ))
avg=$(( (bytes - N * 16) / N )) # minus the key (~15 bytes) and the tab
python3 "$src/bench/gen.py" ti --count "$TI_COUNT" --out "$work/ti.csv"
for r in $RULESETS; do python3 "$src/bench/gen.py" rules --count "$r" --out "$work/rules$r"; done

# partitions: twice the bytes over the retention (keys hash unevenly), a
# power of two, at least 8
parts() {
    local need=$(( ($1 * 2 + RETENTION - 1) / RETENTION )) p=8
    while [ "$p" -lt "$need" ]; do p=$((p * 2)); done
    echo "$p"
}
P=$(parts "$bytes")
topics=(--topic "bench.in:$P" --topic bench.dlq:1 --topic bench.actions:1 --topic bench.results:1)
for r in $RULESETS lat; do
    # OUTP partitions each, the grouping topic too (rather than the
    # recommended 1): the alerts of millions of events overflow one
    # partition's 5 MiB retention. Checked after each run.
    topics+=(--topic "bench.alerts.$r:$OUTP" --topic "bench.incidents.$r:$OUTP" --topic "bench.grouping.$r:$OUTP")
done

LATP=64
"$VIGIL" broker "${topics[@]}" --topic "bench.lat:$LATP" --topic "bench.floor:$LATP" >"$work/broker.out" 2>"$work/broker.log" &
bpid=$!
for _ in $(seq 100); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bs=$(head -1 "$work/broker.out")
[ -n "$bs" ] || { log "e2e.sh: vigil broker did not start:"; cat "$work/broker.log" >&2; exit 1; }

# offsets TOPIC PARTITIONS WHICH(-1 end, -2 start) -> one line per partition
offsets() {
    local args=() p
    for p in $(seq 0 $(($2 - 1))); do args+=(-t "$1:$p:$3"); done
    kcat -b "$bs" -Q "${args[@]}" 2>/dev/null | awk '{print $NF}'
}
# check TOPIC PARTITIONS COUNT: nothing dropped by retention, all there
check_topic() {
    local first ends
    first=$(offsets "$1" "$2" -2 | sort -n | tail -1)
    ends=$(offsets "$1" "$2" -1 | awk '{s += $1} END {print s + 0}')
    [ "$first" = 0 ] || { log "e2e.sh: $1 lost records to the 5 MiB retention (a partition starts at $first)"; exit 1; }
    [ "$ends" -eq "$3" ] || { log "e2e.sh: $1 holds $ends of $3 records"; exit 1; }
}
t0=$(now)
kcat -P -b "$bs" -t bench.in -K '\t' -z none -l "$work/in.tsv"
t1=$(now)
check_topic bench.in "$P" "$N"
echo "events: $N raw Entra sign-ins, $avg bytes average, on $P partitions ($((bytes / P / 1024)) KiB per partition on average, retention 5120); produced in $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")s; offsets checked"
echo "vigil: $VIGIL, $WORKERS workers; threat intel: $TI_COUNT indicators"

# -------------------------------------------------------------- kcat -C
kcat_run() {
    local a b got
    a=$(now)
    got=$(kcat -C -b "$bs" -t bench.in -o beginning -e -q "$@" -f '%o\n' | wc -l)
    b=$(now)
    [ "$got" -eq "$N" ] || { log "e2e.sh: kcat read $got of $N"; exit 1; }
    awk "BEGIN{print $N / ($b - $a)}"
}
kcat_def=$(kcat_run)
kcat_deep=$(kcat_run -X queued.min.messages=1000000)
kcat_best=$(awk "BEGIN{print ($kcat_def > $kcat_deep) ? $kcat_def : $kcat_deep}")
printf 'kcat -C               : %8.0f events/s (defaults)\n' "$kcat_def"
printf 'kcat -C               : %8.0f events/s (-X queued.min.messages=1000000)\n' "$kcat_deep"

# ------------------------------------------------------------- vigil run
metric() { # NAME-REGEX -> sum of matching series
    curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" |
        awk -v re="^$1" '$0 ~ re {s += $NF} END {printf "%.0f\n", s}'
}
config() { # RULESET INPUT GROUP
    cat >"$work/vigil-$1.yaml" <<EOF
kafka: {brokers: "$bs", group: "$3", properties: {$KAFKA_PROPS}}
inputs: [{topic: $2, source: entra-signin}]
outputs: {alerts: bench.alerts.$1, incidents: bench.incidents.$1, actions: bench.actions,
          action_results: bench.results, dead_letter: bench.dlq}
plugins:
  - name: geoip
    config: {city_db: "$MMDB/test-City.mmdb", asn_db: "$MMDB/test-ASN.mmdb"}
  - name: threatintel
    config: {csv: ["$work/ti.csv"], reload_interval: 0}
rules: {paths: ["$work/rules$1"]}
incidents: {topic: bench.grouping.$1}
limits: {workers: $WORKERS}
metrics: {listen: "127.0.0.1:$PORT"}
log: {level: warn, stats_interval: 0}
EOF
}
# start_vigil RULESET INPUT GROUP -> sets vpid, ready_s
start_vigil() {
    config "$@"
    local a b
    a=$(now)
    "$VIGIL" run -c "$work/vigil-$1.yaml" 2>"$work/vigil-$1.log" &
    vpid=$!
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" 2>/dev/null)" = 200 ]; do
        kill -0 "$vpid" 2>/dev/null || { log "e2e.sh: vigil exited:"; cat "$work/vigil-$1.log" >&2; exit 1; }
        sleep 0.02
    done
    b=$(now)
    ready_s=$(awk "BEGIN{print $b - $a}")
}
# wait_done INPUT COUNT -> sets t_first c_first t_done
wait_done() {
    local c inflight t
    t_first=""; c_first=0
    while :; do
        t=$(now)
        c=$(metric "vigil_events_consumed_total\\{topic=\"$1\"\\}")
        if [ -z "$t_first" ] && [ "$c" -gt 0 ]; then t_first=$t; c_first=$c; fi
        if [ "$c" -ge "$2" ]; then
            inflight=$(metric "vigil_inflight_events\\{topic=\"$1\"")
            [ "$inflight" -eq 0 ] && break
        fi
        kill -0 "$vpid" 2>/dev/null || { log "e2e.sh: vigil exited:"; cat "$work"/vigil-*.log >&2; exit 1; }
        sleep 0.25
    done
    t_done=$t
}
stop_vigil() { # -> sets rss_mb
    rss_mb=$(awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$vpid/status")
    kill -TERM "$vpid"; wait "$vpid" || true; vpid=""
}
# verify that nothing was dead-lettered and every alert/incident written
# is on its topic
verify_outputs() { # RULESET
    local dl
    dl=$(metric 'vigil_events_dead_lettered_total')
    [ "$dl" -eq 0 ] || { log "e2e.sh: $dl events dead-lettered (rule set $1)"; exit 1; }
}

results=()
rate20=""
for r in $RULESETS; do
    start_vigil "$r" bench.in "e2e-$r-$$"
    if [ -n "$PERF" ] && [ "$r" = 20 ]; then
        perf record -F 999 -o "$PERF" -p "$vpid" >/dev/null 2>"$work/perf.log" &
        ppid_=$!
    fi
    wait_done bench.in "$N"
    if [ -n "$ppid_" ]; then kill -INT "$ppid_" 2>/dev/null || true; wait "$ppid_" || true; ppid_=""; fi
    sleep 1 # let the outputs flush
    verify_outputs "$r"
    alerts=$(metric 'vigil_rule_alerts_total')
    incidents=$(metric 'vigil_incidents_opened_total')
    stop_vigil
    written=$(offsets "bench.alerts.$r" "$OUTP" -1 | awk '{s += $1} END {print s + 0}')
    for t in alerts incidents grouping; do
        lost=$(offsets "bench.$t.$r" "$OUTP" -2 | awk '{s += $1} END {print s + 0}')
        [ "$lost" = 0 ] || { log "e2e.sh: bench.$t.$r lost $lost records to the 5 MiB retention"; exit 1; }
    done
    steady=$(awk "BEGIN{print ($N - $c_first) / ($t_done - $t_first)}")
    [ "$r" = 20 ] && rate20=$steady
    results+=("$(awk -v r="$r" -v s="$steady" -v k="$kcat_best" -v ready="$ready_s" -v rss="$rss_mb" \
        -v a="$alerts" -v w="$written" -v i="$incidents" -v tot="$(awk "BEGIN{print $t_done - $t_first}")" \
        'BEGIN {printf "%-6s %10.0f %7.2f %8.2f %8.0f %8d %8d %9d %7.1f", r, s, s / k, ready, rss, a, w, i, tot}')")
done

echo
printf '%-6s %10s %7s %8s %8s %8s %8s %9s %7s\n' rules events/s "/kcat" "ready s" "RSS MB" alerts written incidents "secs"
for l in "${results[@]}"; do echo "$l"; done
echo "(events/s: steady state, first to last event consumed; /kcat: ratio to the better kcat -C;"
echo " alerts: raised by rules; written: alert records on the alerts topic, after the per-rule rate cap)"
if [ -n "$PERF" ]; then
    perf report -i "$PERF" --no-children --stdio --sort dso,sym 2>/dev/null | grep -v '^#' | grep '%' | head -40 >"$PERF.txt" || true
    echo "perf profile of the 20-rule run: $PERF (top symbols in $PERF.txt)"
fi

# --------------------------------------------------------------- latency
[ -z "$rate20" ] && [ -z "$LAT_RATE" ] && exit 0
rate=${LAT_RATE:-$(awk "BEGIN{printf \"%d\", $rate20 / 2}")}
latn=$(( rate * LAT_SECONDS ))
[ "$latn" -gt "$N" ] && latn=$N
max_latn=$(( LATP * RETENTION / 2 / (avg + 16) ))
[ "$latn" -gt "$max_latn" ] && latn=$max_latn
cp -r "$work/rules20" "$work/ruleslat" 2>/dev/null || python3 "$src/bench/gen.py" rules --count 20 --out "$work/ruleslat"
# paced TOPIC: the first latn events at rate events/s, producer linger 1 ms
paced() {
    head -n "$latn" "$work/in.tsv" | python3 -c '
import sys, time
rate, out = float(sys.argv[1]), sys.stdout.buffer
lines = sys.stdin.buffer.readlines()
t0, sent, n = time.monotonic(), 0, len(lines)
while sent < n:
    due = min(n, int((time.monotonic() - t0) * rate) + 1)
    if due > sent:
        out.write(b"".join(lines[sent:due])); out.flush(); sent = due
    else:
        time.sleep(0.0005)
' "$rate" | kcat -P -b "$bs" -t "$1" -K '\t' -z none -X linger.ms=1
}
# The floor: kcat -C under the same load, arrival (wall clock) minus
# CreateTime of every record. The mock cluster's fetch cost grows with the
# message sets a partition holds, so a long paced run measures the mock:
# compare vigil with this floor, not with zero.
timeout $((LAT_SECONDS * 4 + 20)) kcat -C -b "$bs" -t bench.floor -o beginning -u -q \
    -X fetch.wait.max.ms=10 -f '%T\n' | python3 -c '
import math, sys, time
n, lat = int(sys.argv[1]), []
for line in sys.stdin:
    lat.append(time.time() * 1000 - int(line))
    if len(lat) >= n:
        break
lat.sort()
q = lambda p: lat[max(0, math.ceil(p / 100.0 * len(lat)) - 1)] if lat else float("nan")
print("p50 %.1f p99 %.1f (%d records)" % (q(50), q(99), len(lat)))
' "$latn" >"$work/floor.txt" &
fpid=$!
sleep 2 # kcat has its partitions
paced bench.floor
wait "$fpid" || true
KAFKA_PROPS=$LAT_KAFKA_PROPS
start_vigil lat bench.lat "e2e-lat-$$"
sleep 1 # partitions assigned and fetching
a=$(now)
paced bench.lat
b=$(now)
wait_done bench.lat "$latn"
sleep 1
verify_outputs lat
stop_vigil
check_topic bench.lat "$LATP" "$latn"
kcat -C -b "$bs" -t bench.lat -o beginning -e -q -f '%p %o %T\n' >"$work/lat.in"
kcat -C -b "$bs" -t bench.alerts.lat -o beginning -e -q -f '%T %s\n' >"$work/lat.alerts"
echo
awk -v n="$latn" -v s="$(awk "BEGIN{print $b - $a}")" -v r="$rate" 'BEGIN {
    printf "latency (20 rules): %d events produced at %.0f events/s (asked %d) while vigil ran\n", n, n / s, r }'
echo "  vigil kafka.properties: {$KAFKA_PROPS}"
python3 "$src/bench/latency.py" "$work/lat.in" "$work/lat.alerts" bench.lat |
    awk '{printf "  %d alerts, %d matched to input records: p50 %s ms, p99 %s ms, max %s ms (produce -> alert record)\n", $2, $4, $6, $8, $10}'
echo "  floor, kcat -C of the same events at the same rate: $(cat "$work/floor.txt") ms (produce -> consumed)"
echo "  peak RSS ${rss_mb} MB"
