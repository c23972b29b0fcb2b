#!/usr/bin/env python3
"""Where each proxy's CPU time went, per request: its own code (user) or the kernel's
(system), the minor page faults it took and how often its threads went to sleep, from
bench/run.sh's raw files.

  python3 bench/lib/cpusplit.py RAW.jsonl [RAW.jsonl ...]

Medians over the repeats of every file, per scenario and proxy, from the `user_s`,
`sys_s`, `minflt` and `sleeps` (voluntary context switches) that lib/measure.py records
around each load run (runs recorded before it did are skipped; `sleeps` came a commit
later and shows as "–" where missing). The split says where a gap in CPU µs per request
lies before anyone profiles: user time is what callgrind counts, system time is system
calls, wake-ups and page faults, which it does not. Standard library only.
"""

import json
import statistics
import sys

from aggregate import SCEN


def per_request(runs, key, scale):
    got = [r[key] * scale / r["requests"] for r in runs if r.get(key) is not None and r.get("requests")]
    return statistics.median(got) if got else None


def main():
    records = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
    runs = {}
    for r in records:
        if r.get("kind") == "wrk" and "user_s" in r:
            runs.setdefault((r["scenario"], r["proxy"]), []).append(r)
    if not runs:
        sys.exit("cpusplit.py: no run in these files records user and system time")
    print("| scenario | proxy | user µs/req | system µs/req | minor faults/req | sleeps/req | runs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for sc, (name, _) in SCEN.items():
        for (s, proxy), rs in runs.items():
            if s != sc:
                continue
            user, system = per_request(rs, "user_s", 1e6), per_request(rs, "sys_s", 1e6)
            faults, sleeps = per_request(rs, "minflt", 1), per_request(rs, "sleeps", 1)
            slept = "–" if sleeps is None else f"{sleeps:.3f}"
            print(f"| {name} | {proxy} | {user:.2f} | {system:.2f} | {faults:.3f} | {slept} | {len(rs)} |")


if __name__ == "__main__":
    main()
