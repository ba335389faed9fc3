#!/bin/sh
# bench/keys.sh: peak RSS of the rule engine holding N distinct state keys
# (one threshold rule by user.name, N users, one failure each, the key cap
# raised to N). Offline (`vigil test`), one worker.
#   bench/keys.sh [N]          default 1000000
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
VIGIL=${VIGIL:-"$here/vigil"}
N=${1:-1000000}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cat >"$t/r.lua" <<'EOR'
return vigil.rule {
  id = "KEYS", title = "failures per user", severity = "low",
  where = { ["event.outcome"] = "failure" },
  threshold = { by = "user.name", count = 1000, window = "1h" },
}
EOR
printf 'rules: {paths: ["%s/r.lua"]}\nlimits: {max_keys_per_rule: %s}\n' "$t" "$N" >"$t/c.yaml"
python3 - "$N" "$t/ev.jsonl" <<'EOP'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        f.write('{"@timestamp":"2024-05-01T00:%02d:%02d.%03dZ","event":{"outcome":"failure"},'
                '"user":{"name":"user%08d"}}\n' % ((i // 60000) % 60, (i // 1000) % 60, i % 1000, i))
EOP
python3 - "$VIGIL" "$t/c.yaml" "$t/ev.jsonl" "$N" <<'EOP'
import resource, subprocess, sys, time
vigil, cfg, ev, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.monotonic()
subprocess.run([vigil, "test", "-c", cfg, ev, "-q"], check=True, stderr=subprocess.DEVNULL)
el = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("state keys: %d  peak RSS: %.0f MB (%.0f bytes/key incl. decode and binary)  %.2fs"
      % (n, rss / 1024, rss * 1024 / n, el))
EOP
