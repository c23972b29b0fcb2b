"""The process tree of a proxy under test, read from /proc: its RSS and CPU time.

nginx runs a master and workers, Caddy and weir one process: every figure is summed
over the whole tree (`tree`), or taken from the worker processes alone (`workers`)
where a master's pages would blur a per-connection figure.
"""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(pid):
    """pid and all its descendants (nginx: master + workers)."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def procstat(pids):
    """(rss_kib, cpu_ticks) summed over pids; missing processes count as zero."""
    rss = ticks = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])  # utime + stime (all threads)
            with open(f"/proc/{p}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE_KIB
        except (OSError, IndexError, ValueError):
            pass
    return rss, ticks


def split(pids):
    """(user_ticks, system_ticks, minor_faults, sleeps) summed over pids: where a
    proxy's CPU time goes (its own code or the kernel's), the pages it faulted in
    meanwhile (an allocator that gives pages back and takes them again pays in faults),
    and how often its threads went to sleep (voluntary context switches, each a
    wake-up to pay for)."""
    user = system = faults = sleeps = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            user, system = user + int(fields[11]), system + int(fields[12])
            faults += int(fields[7])
            sleeps += _voluntary_switches(p)
        except (OSError, IndexError, ValueError):
            pass
    return user, system, faults, sleeps


def _voluntary_switches(pid):
    """Voluntary context switches of every thread of pid (the process's status file
    counts its first thread alone)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def workers(pid):
    """The processes of pid's tree that have no children: nginx's workers, or pid itself
    for a single-process proxy (weir, HAProxy with -db)."""
    kids = _children_map()
    return [p for p in tree(pid) if not kids.get(p)]


def vmrss_kib(pids):
    """VmRSS (KiB) from /proc/PID/status, summed over pids."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total
