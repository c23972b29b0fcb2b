"""`measure` and `procstat`: a load run (wrk, h2load) with the proxy's process tree
sampled around it, and the tree's RSS and CPU time once."""

import json
import subprocess
import threading
import time

from procs import CLK_TCK, procstat, split, tree


def cmd_procstat(a):
    rss, ticks = procstat(tree(a.pid))
    print(json.dumps({"rss_kib": rss, "cpu_ticks": ticks}))


def cmd_measure(a):
    """Run wrk (or any load command that prints a 'WRKJSON {...}' line), sampling the
    proxy's process tree for peak RSS and CPU time spent during the run."""
    pids = tree(a.pid)
    opids = [int(p) for p in a.origins.split(",") if p] if a.origins else []
    opids = [q for p in dict.fromkeys(opids) for q in tree(p) if q not in pids]   # nginx: + workers
    _, t0 = procstat(pids)
    u0, s0, f0, v0 = split(pids)
    _, o0 = procstat(opids)
    w0 = time.monotonic()
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], procstat(pids)[0])
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        proc = subprocess.run(a.cmd, capture_output=True, text=True, timeout=a.timeout)
        out, rc = proc.stdout, proc.returncode
        err = proc.stderr
    except subprocess.TimeoutExpired as e:
        out, rc, err = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), -1, "timeout"
    stop.set()
    th.join()
    wall = time.monotonic() - w0
    rss_end, t1 = procstat(pids)
    u1, s1, f1, v1 = split(pids)
    _, o1 = procstat(opids)
    rec = dict(json.loads(a.meta)) if a.meta else {}
    if opids:   # what the origins spent meanwhile: a proxy can make them work harder
        rec["origin_cpu_s"] = round((o1 - o0) / CLK_TCK, 3)
    rec.update(rss_kib=max(peak[0], rss_end), cpu_pct=round(100.0 * (t1 - t0) / CLK_TCK / wall, 1),
               cpu_s=round((t1 - t0) / CLK_TCK, 3), user_s=round((u1 - u0) / CLK_TCK, 3),
               sys_s=round((s1 - s0) / CLK_TCK, 3), minflt=f1 - f0, sleeps=v1 - v0, rc=rc)
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            rec.update(json.loads(line[8:]))
    if "requests" not in rec:
        rec["error"] = (err or out)[-500:]
    print(json.dumps(rec))
