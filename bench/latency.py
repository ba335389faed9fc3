#!/usr/bin/env python3
"""bench/latency.py: end-to-end latency of alerts (bench/e2e.sh).

  latency.py INPUT_TIMES ALERTS TOPIC

INPUT_TIMES: `kcat -C -f '%p %o %T\\n'` of the input topic (partition,
offset, CreateTime in ms). ALERTS: `kcat -C -f '%T %s\\n'` of the alerts
topic (CreateTime, then the alert JSON). An alert's latency is its record's
CreateTime minus the latest CreateTime of its evidence events on TOPIC: the
newest contributing event is the one that raised it, and the alert cannot
have been written before that event was produced. Prints
"alerts N matched M p50 X p99 Y max Z" (milliseconds).
"""
import json
import math
import sys


def pct(xs, p):
    if not xs:
        return float("nan")
    return xs[max(0, math.ceil(p / 100.0 * len(xs)) - 1)]  # nearest rank


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    times = {}
    with open(sys.argv[1]) as f:
        for line in f:
            p, o, t = line.split()
            times[(int(p), int(o))] = int(t)
    lat, n = [], 0
    with open(sys.argv[2]) as f:
        for line in f:
            ts, _, body = line.partition(" ")
            if not body.strip():
                continue
            n += 1
            a = json.loads(body)
            produced = [times.get((e["partition"], e["offset"]))
                        for e in a.get("evidence", []) if e.get("topic") == sys.argv[3]]
            produced = [t for t in produced if t is not None]
            if produced:
                lat.append(int(ts) - max(produced))
    lat.sort()
    print("alerts %d matched %d p50 %.1f p99 %.1f max %.1f" %
          (n, len(lat), pct(lat, 50), pct(lat, 99), lat[-1] if lat else float("nan")))


if __name__ == "__main__":
    main()
