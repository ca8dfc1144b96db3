#!/usr/bin/env python3
"""Summarises bench/history.sh runs: wrk summaries, hey CSV files, pgbench logs."""
import glob
import json
import os
import re
import subprocess
import sys


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return values[k]


def hey(files):
    """(requests/s, p50 ms, p99 ms, non-2xx count) over all workers' CSVs."""
    lat, errors, end = [], 0, 0.0
    for f in files:
        with open(f) as fh:
            next(fh, None)
            for line in fh:
                cols = line.strip().split(",")
                if len(cols) < 8:
                    continue
                t, status, offset = float(cols[0]), int(cols[6]), float(cols[7])
                end = max(end, offset + t)
                if 200 <= status < 300:
                    lat.append(t * 1000)
                else:
                    errors += 1
    rate = len(lat) / end if end else 0.0
    return rate, percentile(lat, 50), percentile(lat, 99), errors


def wrk(path):
    """(requests/s, p50 ms, p99 ms, errors, API CPU µs per request, database CPU µs per request,
    system calls per request, context switches per request, the API's system CPU µs per request)
    from the JSON line bench/wrk.lua prints and the CPU, DBCPU, SYSCALLS, SWITCHES and SYSCPU
    lines bench/history.sh adds (NaN where perf did not count)."""
    found = None
    counts = {k: float("nan") for k in ("CPU", "DBCPU", "SYSCALLS", "SWITCHES", "SYSCPU")}
    with open(path) as fh:
        for line in fh:
            if line.startswith("WRK "):
                found = json.loads(line[4:])
            else:
                key, _, value = line.strip().partition(" ")
                if key in counts:
                    try:
                        counts[key] = float(value)
                    except ValueError:
                        pass
    if found is None:
        raise SystemExit(f"no wrk summary in {path}")
    n = found["requests"] or float("nan")
    return (found["rate"], found["p50_ms"], found["p99_ms"], found["errors"],
            counts["CPU"] / n * 1e6, counts["DBCPU"] / n * 1e6, counts["SYSCALLS"] / n,
            counts["SWITCHES"] / n, counts["SYSCPU"] / n * 1e6)


def pgbench(work, prefix):
    """(transactions/s, p50 ms, p99 ms, database CPU µs per transaction) from pgbench's -l logs,
    its summary and the DBCPU line bench/history.sh adds."""
    lat = []
    for f in glob.glob(os.path.join(work, prefix + ".*")):
        if f.endswith(".out"):
            continue
        with open(f) as fh:
            for line in fh:
                cols = line.split()
                if len(cols) >= 6:
                    lat.append(int(cols[2]) / 1000)
    path = os.path.join(work, prefix + ".out")
    with open(path) as fh:
        m = re.search(r"tps = ([0-9.]+)", fh.read())
    n = pgbench_count(path)
    db_us = db_seconds(path) / n * 1e6 if n else float("nan")
    return (float(m.group(1)) if m else 0.0), percentile(lat, 50), percentile(lat, 99), db_us


def client_cpu(path):
    """(CPU seconds, of them system) from the CLIENTCPU line bench/history.sh's `timed` adds: the
    load tool's, or the client's, own time over its run."""
    with open(path) as fh:
        for line in fh:
            if line.startswith("CLIENTCPU "):
                total, system = line.split()[1:3]
                return float(total), float(system)
    return float("nan"), float("nan")


def db_seconds(path):
    """The database's CPU seconds from the DBCPU line bench/history.sh adds."""
    with open(path) as fh:
        m = re.search(r"^DBCPU ([0-9.eE+-]+)", fh.read(), re.M)
    return float(m.group(1)) if m else float("nan")


def floor(path):
    """Requests one store_floor run served: the count it prints."""
    with open(path) as fh:
        return int(fh.readline())


def pgbench_count(path):
    """Transactions one pgbench run processed, from its summary."""
    with open(path) as fh:
        m = re.search(r"number of transactions actually processed: ([0-9]+)", fh.read())
    return int(m.group(1)) if m else 0


def cpu_table(work, layout, duration, labels):
    """Where each request's CPU goes: the client (API, store_floor or pgbench), the load tool in
    front of the API (wrk), and the database, per request, for each run of a layout."""
    duration = float(duration)
    rows = [
        f"**Layout `{layout}`, CPU per request.** The client is the API (behind wrk), the store "
        "alone (`store_floor`: the API's statements through its sqlx pool, no HTTP), or pgbench "
        "(libpq); pgbench also ran at each API's measured rate (`-R`), since the database's CPU "
        "per statement grows as its rate falls.",
        "",
        "| operation | client | req/s | client CPU µs/req (of it system) | wrk CPU µs/req "
        "| DB CPU µs/req |",
        "|---|---|---|---|---|---|",
    ]

    def us(seconds, n):
        return seconds / n * 1e6 if n else float("nan")

    def pgbench_row(label, client, prefix):
        p_rate, _, _, p_db = pgbench(work, prefix)
        path = os.path.join(work, f"{prefix}.out")
        c_total, c_sys = client_cpu(path)
        n = pgbench_count(path)
        return (f"| {label} | {client} | {p_rate:.0f} "
                f"| {us(c_total, n):.0f} ({us(c_sys, n):.0f}) | – | {p_db:.0f} |")

    for op, label in (("read", "read a page"), ("append", "append")):
        for api in labels:
            path = os.path.join(work, f"{op}_api.{api}.wrk")
            rate, *_, a_cpu, a_db, _, _, a_kernel = wrk(path)
            n = wrk_requests(path)
            w_total, _ = client_cpu(path)
            rows.append(f"| {label} | API `{api}` | {rate:.0f} | {a_cpu:.0f} ({a_kernel:.0f}) "
                        f"| {us(w_total, n):.0f} | {a_db:.0f} |")
            rows.append(pgbench_row(label, f"pgbench at `{api}`'s rate", f"{op}_pgat.{api}"))
        path = os.path.join(work, f"{op}_floor.out")
        n = floor(path)
        c_total, c_sys = client_cpu(path)
        rows.append(f"| {label} | store alone (sqlx) | {n / duration:.0f} "
                    f"| {us(c_total, n):.0f} ({us(c_sys, n):.0f}) | – "
                    f"| {us(db_seconds(path), n):.0f} |")
        rows.append(pgbench_row(label, "pgbench (libpq)", f"{op}_pg"))
    print("\n".join(rows))


def table(work, layout, workers, duration, labels):
    rows = [
        f"**Layout `{layout}`.** Concurrency {workers} (one connection per worker, each its own user "
        f"with a conversation to read and one to append to), {duration} s per run. Peak: wrk (closed loop) and pgbench; half peak: "
        "hey at a fixed rate. System calls and context switches: the API process's, per request.",
        "",
        "| operation | API | API req/s | API p50 ms | API p99 ms | pgbench tx/s | pgbench p50 ms "
        "| pgbench p99 ms | API / pgbench | API CPU µs/req (of it system) | DB CPU µs/req (pgbench's) "
        "| syscalls/req | switches/req | at half peak: req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op, label in (("read", "read a 50-message page"), ("append", "append a message")):
        p_rate, p50, p99, p_db = pgbench(work, f"{op}_pg")
        for api in labels:
            a_rate, a50, a99, a_err, a_cpu, a_db, a_sys, a_sw, a_kernel = wrk(
                os.path.join(work, f"{op}_api.{api}.wrk"))
            h_rate, h50, h99, h_err = hey(glob.glob(os.path.join(work, f"{op}_half.{api}.*.csv")))
            ratio = a_rate / p_rate if p_rate else float("nan")
            rows.append(
                f"| {label} | {api} | {a_rate:.0f} | {a50:.2f} | {a99:.2f} | {p_rate:.0f} | {p50:.2f} "
                f"| {p99:.2f} | {ratio:.0%} | {a_cpu:.0f} ({a_kernel:.0f}) | {a_db:.0f} ({p_db:.0f}) | {a_sys:.1f} "
                f"| {a_sw:.1f} | {h_rate:.0f} | {h50:.2f} | {h99:.2f} | {a_err + h_err} |"
            )
    print("\n".join(rows))


def cluster_cpu(postmaster):
    """CPU seconds of a PostgreSQL cluster so far: the postmaster's own and its reaped children's,
    plus every live child's (backends, walwriter, checkpointer, autovacuum)."""
    hz = os.sysconf("SC_CLK_TCK")

    def fields(pid):
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()

    own = fields(postmaster)
    # After the command's ")": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    ticks = sum(int(own[i]) for i in (11, 12, 13, 14))
    with open(f"/proc/{postmaster}/task/{postmaster}/children") as fh:
        for child in fh.read().split():
            try:
                f = fields(child)
            except FileNotFoundError:
                continue  # exited since: its time moves to the postmaster's cutime/cstime
            ticks += int(f[11]) + int(f[12])
    return ticks / hz


def wrk_requests(wrk_path):
    """Requests served in one wrk run."""
    requests = 0
    with open(wrk_path) as fh:
        for line in fh:
            if line.startswith("WRK "):
                requests = json.loads(line[4:])["requests"]
    if not requests:
        raise SystemExit(f"no requests in {wrk_path}")
    return requests


def profile(wrk_path, dumps, top=25):
    """Instructions per request from a callgrind dump of one load: the total, then the functions
    that spent the most, inclusive (with what they call) and exclusive (their own code)."""
    requests = wrk_requests(wrk_path)
    print(f"requests served: {requests}")
    for mode in ("yes", "no"):
        out = subprocess.run(
            ["callgrind_annotate", f"--inclusive={mode}", "--threshold=99"] + dumps,
            check=True, capture_output=True, text=True,
        ).stdout
        rows, total = [], None
        for line in out.splitlines():
            m = re.match(r"\s*([0-9,]+) \(\s*[0-9.]+%\)\s+(.*)", line)
            if not m:
                continue
            ir = int(m.group(1).replace(",", ""))
            if "PROGRAM TOTALS" in m.group(2):
                total = ir
            else:
                rows.append((ir, m.group(2).split(" [")[0]))
        if total is None:
            raise SystemExit("no totals in callgrind_annotate's output")
        if mode == "yes":
            print(f"instructions per request: {total / requests:,.0f}")
        print(f"\n{'inclusive' if mode == 'yes' else 'exclusive'}: instructions per request, share")
        for ir, name in rows[:top]:
            print(f"{ir / requests:>10,.0f}  {ir / total:6.1%}  {name[:150]}")


def syscalls(wrk_path, trace_path):
    """System calls per request by name, from `perf trace -s` attached to the API for one load
    (its summary has a table per thread; they are added up). Errors are mostly EAGAIN: a
    non-blocking read that found nothing yet."""
    requests = wrk_requests(wrk_path)
    calls, errors = {}, {}
    with open(trace_path) as fh:
        for line in fh:
            m = re.match(r"\s+([a-z_0-9]+)\s+(\d+)\s+(\d+)\s+[0-9.]+\s", line)
            if m:
                name = m.group(1)
                calls[name] = calls.get(name, 0) + int(m.group(2))
                errors[name] = errors.get(name, 0) + int(m.group(3))
    if not calls:
        raise SystemExit(f"no system calls in {trace_path}")
    print(f"requests served: {requests}")
    print(f"system calls per request: {sum(calls.values()) / requests:.2f}\n")
    print("| system call | per request | of them failed (EAGAIN) |")
    print("|---|---|---|")
    for name, n in sorted(calls.items(), key=lambda kv: -kv[1]):
        if n / requests >= 0.01:
            print(f"| {name} | {n / requests:.2f} | {errors[name] / requests:.2f} |")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dbcpu":
        print(f"{cluster_cpu(int(sys.argv[2])):.3f}")
    elif cmd == "rate":
        print(f"{wrk(sys.argv[2])[0]:.1f}")
    elif cmd == "table":
        table(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:] or ["this"])
    elif cmd == "cpu":
        cpu_table(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:] or ["this"])
    elif cmd == "profile":
        profile(sys.argv[2], sys.argv[3:])
    elif cmd == "syscalls":
        syscalls(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
