#!/usr/bin/env python3
"""Process memory and CPU from /proc, for bench/gateway.sh.

  procstat.py cpu PID...        CPU seconds (user+system) of the PIDs and their children
  procstat.py hwm PID...        sum of VmHWM (peak RSS, KiB) of the PIDs and their children
  procstat.py reset-hwm PID...  reset VmHWM of the PIDs and their children (clear_refs 5)
  procstat.py rss PID...        sum of VmRSS (KiB) now
  procstat.py watch OUT PID...  sample summed VmRSS every 10 ms until SIGTERM/SIGINT,
                                then write the maximum (KiB) to OUT; OUT.ready appears
                                once sampling has begun
  procstat.py fds PID...        open descriptors (entries of /proc/PID/fd) now
  procstat.py series OUT SECONDS PID...
                                every SECONDS until SIGTERM/SIGINT, append a line
                                `<unix time> <VmRSS KiB> <descriptors>` to OUT

"Children" are live direct children (nginx's workers); the gateway and the
nodes are single processes, so for them it changes nothing.
"""

import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces; fields after the last ')' are plain.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def family(pids):
    out = []
    for pid in pids:
        out.append(pid)
        out.extend(children(pid))
    return out


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of stat(5); index 11, 12 after ')'.
    return (int(fields[11]) + int(fields[12])) / TICK


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "watch":
        out, pids = args[0], [int(p) for p in args[1:]]
        procs = family(pids)
        peak = 0
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        open(out + ".ready", "w").close()
        while not stop:
            peak = max(peak, sum(status_kib(p, "VmRSS") for p in procs))
            time.sleep(0.01)
        with open(out, "w") as f:
            f.write(f"{peak}\n")
        return
    if cmd == "series":
        out, every, pids = args[0], float(args[1]), [int(p) for p in args[2:]]
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        with open(out, "a") as f:
            while not stop:
                procs = family(pids)
                rss = sum(status_kib(p, "VmRSS") for p in procs)
                open_fds = sum(fds(p) for p in procs)
                f.write(f"{time.time():.1f} {rss} {open_fds}\n")
                f.flush()
                time.sleep(every)
        return
    procs = family([int(p) for p in args])
    if cmd == "cpu":
        print(f"{sum(cpu_seconds(p) for p in procs):.3f}")
    elif cmd == "hwm":
        print(sum(status_kib(p, "VmHWM") for p in procs))
    elif cmd == "fds":
        print(sum(fds(p) for p in procs))
    elif cmd == "rss":
        print(sum(status_kib(p, "VmRSS") for p in procs))
    elif cmd == "reset-hwm":
        for p in procs:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
    else:
        sys.exit(f"procstat.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
