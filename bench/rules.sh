#!/bin/bash
# bench/rules.sh: events/s through the rule engine alone, offline (no Kafka):
# `vigil test --source none --rules DIR EVENTS -q` over one generated set of
# normalized (ECS) events with
#   0 rules     decode + event time + the empty stages (the baseline),
#   1 rule      a password-spray threshold rule,
#   20, 200     generated rules, half stateless `where` (+ some `match`)
#               rules, half threshold rules (bench/gen.py rules),
#   pack        the shipped rule pack (lua/rules).
# Each configuration runs RUNS times; the best wall time counts (startup
# and rule loading included: they are milliseconds). The engine's own cost
# per event is the time over the 0-rule baseline.
#
#   bench/rules.sh [EVENTS] [RUNS]      defaults: 1000000 events, 3 runs
#   VIGIL=./vigil RULES_PACK=lua/rules KEEP=1 bench/rules.sh 200000 1
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
VIGIL=${VIGIL:-"$src/vigil"}
RULES_PACK=${RULES_PACK:-"$src/lua/rules"}
N=${1:-1000000}
RUNS=${2:-3}
work=$(mktemp -d)
cleanup() { [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT

python3 "$src/bench/gen.py" events --shape ecs --count "$N" --seed 1 >"$work/events.jsonl"
bytes=$(wc -c <"$work/events.jsonl")
mkdir "$work/rules0"
for n in 1 20 200; do python3 "$src/bench/gen.py" rules --count "$n" --out "$work/rules$n"; done
echo "events: $N normalized (ECS) events, $((bytes / N)) bytes average; best of $RUNS runs"
echo "vigil: $VIGIL"

# run DIR -> "seconds alerts": RUNS timed runs with -q (nothing printed),
# then one untimed run that prints the summary line, to count the alerts
# and check that every line decoded
run() {
    local best="" t0 t1 s
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s.%N)
        "$VIGIL" test --source none --rules "$1" "$work/events.jsonl" -q 2>"$work/err" || {
            echo "rules.sh: vigil test failed with $1:" >&2; cat "$work/err" >&2; exit 1; }
        t1=$(date +%s.%N)
        s=$(awk "BEGIN{print $t1 - $t0}")
        if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; fi
    done
    "$VIGIL" test --source none --rules "$1" "$work/events.jsonl" -a >/dev/null 2>"$work/err" || true
    grep -q ' 0 bad lines$' "$work/err" || { echo "rules.sh: bad lines:" >&2; cat "$work/err" >&2; exit 1; }
    echo "$best $(sed -n 's/^vigil test: \([0-9]*\) alerts.*/\1/p' "$work/err")"
}

printf '%-10s %7s %12s %14s %9s\n' rules seconds events/s "engine us/ev" alerts
base=""
for cfg in 0 1 20 200 pack; do
    if [ "$cfg" = pack ]; then dir=$RULES_PACK; nr=$(find "$dir" -name '*.lua' | wc -l); label="pack($nr)"
    else dir="$work/rules$cfg"; label=$cfg; fi
    read -r s alerts < <(run "$dir")
    [ -z "$base" ] && base=$s
    awk -v l="$label" -v s="$s" -v b="$base" -v n="$N" -v a="$alerts" 'BEGIN {
        printf "%-10s %7.2f %12.0f %14.2f %9d\n", l, s, n / s, (s - b) * 1e6 / n, a }'
done
