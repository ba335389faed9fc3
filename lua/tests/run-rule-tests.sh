#!/bin/sh
# Runs every rule test of the pack (lua/tests/<RULE-ID>/) through `vigil test`:
#   positive.jsonl must raise exactly the alerts of expected.jsonl (vigil test --expect),
#   negative.jsonl must raise no alert of RULE-ID.
# Events are already normalized (--source none). Environment (set by `make check`):
#   VGL_SRCDIR    top of the source tree (default: two levels up from this script)
#   VGL_BUILDDIR  where the vigil binary is (default: VGL_SRCDIR)
#   VIGIL         the vigil binary to use (default: $VGL_BUILDDIR/vigil)
# Arguments: rule ids or test folders to run only those (default: all).
# Exit 0 when every test passes, 1 on any mismatch, 99 on a setup error.
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${VGL_SRCDIR:-$(cd "$here/../.." && pwd)}
builddir=${VGL_BUILDDIR:-$srcdir}
vigil=${VIGIL:-$builddir/vigil}
rules=$srcdir/lua/rules
tests=$srcdir/lua/tests

if [ ! -x "$vigil" ]; then
    echo "run-rule-tests: $vigil is not built" >&2
    exit 99
fi
if [ ! -d "$rules" ]; then
    echo "run-rule-tests: no rule directory $rules" >&2
    exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vgl-rule-tests.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

# the pack must load as a whole (syntax, keys, duplicate ids) before anything else
if ! "$vigil" test --rules "$rules" --source none --quiet /dev/null >"$tmp/load.out" 2>&1; then
    echo "FAIL: the rule pack does not load:" >&2
    cat "$tmp/load.out" >&2
    exit 1
fi

if [ $# -gt 0 ]; then
    dirs=""
    for a in "$@"; do
        case $a in
        */*) dirs="$dirs ${a%/}" ;;
        *) dirs="$dirs $tests/$a" ;;
        esac
    done
else
    dirs=$(find "$tests" -mindepth 1 -maxdepth 1 -type d -name 'VGL-*' | LC_ALL=C sort)
fi

pass=0
fail=0
failed=""

# every rule of the pack has a test folder (when running them all)
if [ $# -eq 0 ]; then
    for id in $(grep -rhoE '^ *id *= *"VGL-[A-Z0-9]+-[0-9]+"' "$rules" | sed 's/.*"\(.*\)"/\1/' | LC_ALL=C sort); do
        if [ ! -d "$tests/$id" ]; then
            echo "FAIL $id: no test folder $tests/$id" >&2
            fail=$((fail + 1))
            failed="$failed $id"
        fi
    done
fi
nrules=$(find "$rules" -name '*.lua' | wc -l)
ntested=0

for dir in $dirs; do
    id=$(basename "$dir")
    ntested=$((ntested + 1))
    ok=1
    for f in positive.jsonl negative.jsonl expected.jsonl; do
        if [ ! -f "$dir/$f" ]; then
            echo "FAIL $id: missing $f" >&2
            ok=0
        fi
    done
    if ! grep -rqs "id *= *\"$id\"" "$rules"; then
        echo "FAIL $id: no rule with this id in $rules" >&2
        ok=0
    fi
    if [ $ok = 1 ]; then
        # positive: exactly the expected alerts
        if ! "$vigil" test --rules "$rules" --source none --quiet \
            --expect "$dir/expected.jsonl" "$dir/positive.jsonl" >"$tmp/pos.out" 2>&1; then
            echo "FAIL $id: positive.jsonl does not give expected.jsonl:" >&2
            sed 's/^/    /' "$tmp/pos.out" >&2
            ok=0
        fi
        if ! grep -q "\"rule_id\":\"$id\"" "$dir/expected.jsonl"; then
            echo "FAIL $id: expected.jsonl expects no alert of $id" >&2
            ok=0
        fi
        # negative: no alert of this rule (other rules may fire)
        if ! "$vigil" test --rules "$rules" --source none --alerts-only \
            "$dir/negative.jsonl" >"$tmp/neg.out" 2>"$tmp/neg.err"; then
            echo "FAIL $id: vigil test failed on negative.jsonl:" >&2
            sed 's/^/    /' "$tmp/neg.err" >&2
            ok=0
        elif grep -q "\"rule_id\":\"$id\"" "$tmp/neg.out"; then
            echo "FAIL $id: negative.jsonl raised $(grep -c "\"rule_id\":\"$id\"" "$tmp/neg.out") alert(s) of $id:" >&2
            grep "\"rule_id\":\"$id\"" "$tmp/neg.out" | cut -c1-400 | sed 's/^/    /' >&2
            ok=0
        fi
        if grep -q "bad lines" "$tmp/neg.err" && ! grep -q "; 0 bad lines" "$tmp/neg.err"; then
            echo "FAIL $id: negative.jsonl has bad lines:" >&2
            sed 's/^/    /' "$tmp/neg.err" >&2
            ok=0
        fi
    fi
    if [ $ok = 1 ]; then
        pass=$((pass + 1))
        echo "PASS $id"
    else
        fail=$((fail + 1))
        failed="$failed $id"
    fi
done

# hostile input: wrong types, odd shapes and long values in every field the rules'
# Lua code reads must not make any rule call fail (failures disable rules)
if [ $# -eq 0 ] && [ -f "$tests/hostile.jsonl" ]; then
    hostile_ok=1
    if ! "$vigil" test --rules "$rules" --source none --alerts-only \
        "$tests/hostile.jsonl" >/dev/null 2>"$tmp/hostile.err"; then
        echo "FAIL hostile.jsonl: vigil test failed:" >&2
        hostile_ok=0
    elif ! grep -q '; 0 bad lines' "$tmp/hostile.err"; then
        echo "FAIL hostile.jsonl: lines were rejected:" >&2
        hostile_ok=0
    elif grep -q 'rule call failed\|rule disabled' "$tmp/hostile.err"; then
        echo "FAIL hostile.jsonl: rule calls failed on hostile input:" >&2
        hostile_ok=0
    fi
    if [ $hostile_ok = 1 ]; then
        echo "PASS hostile.jsonl (no rule call failed)"
    else
        cut -c1-400 "$tmp/hostile.err" | sed 's/^/    /' >&2
        fail=$((fail + 1))
        failed="$failed hostile.jsonl"
    fi
fi

echo "rule tests: $pass passed, $fail failed, $ntested tested; $nrules rule files in the pack"
if [ $fail -gt 0 ]; then
    echo "failed:$failed"
    exit 1
fi
exit 0
