#!/bin/bash
# bench/micro.sh: instructions per operation of the per-event hot path,
# counted by callgrind (reproducible to the instruction on any machine with
# the same build, unlike timings). bench/micro/micro runs each operation in
# a loop with collection switched on around the loop only; the count is
# divided by the operations:
#   decode            vgl_json_decode of a ~480-byte normalized sign-in
#                     (event reset included)
#   lookup            vgl_event_get by a pre-resolved path handle (average
#                     of @timestamp, source.ip, event.outcome,
#                     azure.signin.app_name)
#   prefilter         vgl_prefilter_match of the password-spray `where`
#                     (2 equalities + vigil.neg of a 22-value list; 1 event
#                     in 8 passes)
#   prefilter_re      a `where` with an equality and a vigil.re
#   lua               one Lua predicate call through the sandbox: push the
#                     function and the event view, call with budget and
#                     memory cap, one field read, compare, result
#   engine_lua        vgl_rules_process with one rule: index + where + the
#                     Lua match of `lua` (the engine's full path)
#   threshold         vgl_threshold_add alone (count 50 in 60 s; fires
#                     every 50 events, evidence of 10)
#   engine_threshold  vgl_rules_process with one threshold rule by
#                     source.ip over 256 keys: index + where + key + state
#                     store + evidence snapshot + vgl_threshold_add
#
#   bench/micro.sh [ITERATIONS]        default 20000 (per operation)
#   MICRO=bench/micro/micro bench/micro.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
MICRO=${MICRO:-"$src/bench/micro/micro"}
N=${1:-20000}
[ -x "$MICRO" ] || { echo "micro.sh: $MICRO not built (make bench/micro/micro)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "micro.sh: skipped: valgrind not found" >&2; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-18s %12s %10s   %s\n' operation "instr/op" "ns/op*" "top functions (share of instructions)"
for op in decode lookup prefilter prefilter_re lua engine_lua threshold engine_threshold; do
    # libtool may have left a wrapper script: run the real binary under valgrind
    bin=$MICRO
    [ -x "$(dirname "$MICRO")/.libs/$(basename "$MICRO")" ] && bin="$(dirname "$MICRO")/.libs/$(basename "$MICRO")"
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$work/cg.$op" \
        "$bin" "$op" "$N" >"$work/out" 2>"$work/vg" || { cat "$work/vg" >&2; exit 1; }
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/vg")
    ops=$(sed -n 's/^ops=\([0-9]*\)$/\1/p' "$work/vg")
    # wall clock outside valgrind, for orientation only
    ns=$("$MICRO" "$op" $((N * 10)) 2>/dev/null | sed -n 's/.*ops, \([0-9.]*\) ns.*/\1/p')
    # self instructions by function (inlined parts folded into their caller,
    # liblua's stripped functions counted together)
    top=$(callgrind_annotate --auto=no --inclusive=no "$work/cg.$op" 2>/dev/null | python3 -c '
import re, sys, collections
tot, by = int(sys.argv[1]), collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s*([0-9,]+) \(\s*[0-9.]+%\)\s+(\S+)(?:\s+\[(\S+)\])?", line)
    if not m or m.group(2) == "PROGRAM":
        continue
    fn = m.group(2).split(":")[-1]
    if fn.startswith("0x") and m.group(3):
        fn = m.group(3).split("/")[-1].split(".so")[0]
    by[fn] += int(m.group(1).replace(",", ""))
print(", ".join("%s %.0f%%" % (f, 100.0 * v / tot) for f, v in by.most_common(3)))
' "$ir") || true
    awk -v op="$op" -v ir="$ir" -v ops="$ops" -v ns="$ns" -v top="${top%, }" 'BEGIN {
        printf "%-18s %12.0f %10s   %s\n", op, ir / ops, ns, top }'
done
echo "* ns/op: wall clock of $((N * 10)) operations outside valgrind, noisy; instr/op is the figure"
