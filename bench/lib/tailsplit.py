"""How evenly a weir process served its client connections over one window, and by
which of its threads (bench/tail.sh).

    python3 tailsplit.py DIR

DIR holds `ss -tinpH` of the proxy's accepted connections at the window's start and end
(ss0, ss1), each thread's `comm:tid schedstat` at both ends (threads0, threads1), and the
proxy's epoll instances with their fdinfo (`EP fd` lines, each followed by that fd's
/proc fdinfo; epolls). Prints one line: the least and the most bytes a connection
brought the proxy, as ratios to the median connection's; for each epoll instance (one
per runtime thread, in fd order) how many connections are registered with it and their
mean ratio; and each busy thread's CPU use and run-queue wait, % of the window.
"""

import re
import statistics
import sys

WINDOW_NS = 2.5e9


def connections(path):
    """{peer port: (socket fd, bytes received)} from `ss -tinpH` output."""
    out, peer, fd = {}, None, None
    for line in open(path):
        head = re.match(r"\s*\d+\s+\d+\s+\S+\s+\S+:(\d+)\s", line)
        if head:
            peer = head.group(1)
            m = re.search(r"fd=(\d+)", line)
            fd = m.group(1) if m else None
        got = re.search(r"bytes_received:(\d+)", line)
        if got and peer:
            out[peer] = (fd, int(got.group(1)))
            peer = None
    return out


def epoll_of(path):
    """{socket fd: epoll fd} from the `EP fd` + fdinfo listing."""
    owner, current = {}, None
    for line in open(path):
        if line.startswith("EP "):
            current = line.split()[1]
        m = re.match(r"tfd:\s*(\d+)", line)
        if m and current:
            owner[m.group(1)] = current
    return owner


def threads(path):
    """{name:tid: (run ns, wait ns)} from `name:tid run wait slices` lines."""
    out = {}
    for line in open(path):
        name, run, wait, *_ = line.split()
        out[name] = (int(run), int(wait))
    return out


def main(d):
    start, end = connections(f"{d}/ss0"), connections(f"{d}/ss1")
    owner = epoll_of(f"{d}/epolls")
    served = {p: (fd, b - start[p][1]) for p, (fd, b) in end.items() if p in start}
    if not served:
        print("-")
        return
    median = statistics.median(b for _, b in served.values())
    ratios = sorted(b / median for _, b in served.values())
    groups = {}
    for fd, b in served.values():
        groups.setdefault(owner.get(fd, "?"), []).append(b / median)
    by_epoll = " ".join(
        f"{len(v)}@{statistics.mean(v):.2f}"
        for _, v in sorted(groups.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 1 << 30)
    )
    t0, t1 = threads(f"{d}/threads0"), threads(f"{d}/threads1")
    busy = []
    for name, (run, wait) in t1.items():
        if name in t0 and run - t0[name][0] > 0.01 * WINDOW_NS:
            r, w = (run - t0[name][0]) / WINDOW_NS, (wait - t0[name][1]) / WINDOW_NS
            busy.append(f"{name.rsplit(':', 1)[0]} {100 * r:.0f}/{100 * w:.0f}%")
    print(f"{ratios[0]:.2f} {ratios[-1]:.2f} | {by_epoll} | {' '.join(busy)}")


if __name__ == "__main__":
    main(sys.argv[1])
