#!/usr/bin/env python3
"""`sincehash process` with its state in SQLite, Redis and PostgreSQL, in the same run.

usage: compare_shared.py PATH_TO_SINCEHASH [--records N] [--size BYTES] [--repeat K]
                        [--threads N] [--baseline OTHER_SINCEHASH] [--backends B,...]

Generates the CRM-like NDJSON of compare.py, then runs a first sync (every record new), a repeat
sync (the same records: nothing changed) and a bulk update (every date moved, 2% of the records
changed) through the tool with a fresh state in each back end. Redis and PostgreSQL (fsync on)
run as real servers started here on 127.0.0.1 and stopped afterwards. Prints records/s per run
and back end, and each rate as a ratio of SQLite's. With --repeat K the three runs are made K
times, each time in a partition of its own, and the fastest of each counts (less noise).
--threads passes the tool's --threads (default: the tool's own default). --backends runs only
the listed back ends (sqlite, redis, postgres; all three by default), SQLite's column then
missing when it is not among them.

With --baseline, a second build of the tool (an older one, say) runs the same steps on servers of
its own, each step right before or after the first build's (they take turns at going first), and
a second table gives each rate of the first build as a ratio of the baseline's.
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import compare  # noqa: E402
import servers  # noqa: E402

BACKENDS = ("sqlite", "redis", "postgres")
RUNS = ("first sync", "repeat sync", "bulk update")


def states(stack, tmp, tag, backends):
    out = {"sqlite": "sqlite:" + os.path.join(tmp, tag + "-state.db")}
    if "redis" in backends:
        out["redis"] = stack.enter_context(servers.redis_server()).uri()
    if "postgres" in backends:
        out["postgres"] = stack.enter_context(servers.postgres_server(durable=True)).uri()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sincehash")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the three runs; the fastest counts")
    ap.add_argument("--threads", type=int, help="the tool's --threads (default: its own default)")
    ap.add_argument("--baseline", help="another sincehash binary, run beside the first on servers of its own")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite, redis, postgres")
    args = ap.parse_args()
    backends = [b for b in BACKENDS if b in args.backends.split(",")]
    unknown = set(args.backends.split(",")) - set(BACKENDS)
    if unknown or not backends:
        ap.error(f"--backends: unknown {', '.join(sorted(unknown)) or 'list'}; choose among {', '.join(BACKENDS)}")
    n = args.records
    tools = {"new": args.sincehash}
    if args.baseline:
        tools["base"] = args.baseline
    results = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        where = {tag: states(stack, tmp, tag, backends) for tag in tools}
        cfg = os.path.join(tmp, "config.json")
        resource = next(iter(compare.CONFIG))
        config = {f"{resource}{k}": compare.CONFIG[resource] for k in range(args.repeat)}
        with open(cfg, "w") as f:
            json.dump(config, f)
        v0, v1 = os.path.join(tmp, "v0.ndjson"), os.path.join(tmp, "v1.ndjson")
        compare.generate(v0, n, args.size, 0)
        compare.generate(v1, n, args.size, 1)
        for backend in backends:
            for k, name in enumerate(config):
                # The builds take turns at going first, so that neither always runs while the other's
                # server is still busy with the step before (a checkpoint, autovacuum).
                order = list(tools.items()) if k % 2 == 0 else list(reversed(tools.items()))
                for run, path in zip(RUNS, (v0, v0, v1)):
                    for tag, tool in order:
                        cli = [tool, "process", "--config", cfg, "--resource", name, "--state", where[tag][backend]]
                        if args.threads:
                            cli += ["--threads", str(args.threads)]
                        secs, rss, err = compare.measure(cli, path)
                        summary = json.loads(err.strip().splitlines()[-1])
                        if summary["processed"] != n:
                            sys.exit(f"{tag} {backend} {run}: processed {summary['processed']} of {n}")
                        best = results.get((tag, backend, run))
                        if best is None or n / secs > best[0]:
                            results[(tag, backend, run)] = (n / secs, rss)
    names = {"sqlite": "SQLite", "redis": "Redis", "postgres": "PostgreSQL"}
    threads = f", --threads {args.threads}" if args.threads else ""
    sqlite = "sqlite" in backends
    print(f"{n} records of about {args.size} bytes{threads}; records/s (peak RSS MiB)" +
          (", ratio to SQLite in this run" if sqlite else ""))
    print("| run | " + " | ".join(names[b] for b in backends) + " |")
    print("|---" * (len(backends) + 1) + "|")
    for run in RUNS:
        cells = []
        for backend in backends:
            rps, rss = results[("new", backend, run)]
            ratio = f" {rps / results[('new', 'sqlite', run)][0]:.2f}x" if sqlite else ""
            cells.append(f"{rps:.0f} ({rss:.0f}){ratio}")
        print(f"| {run} | " + " | ".join(cells) + " |")
    if "base" in tools:
        print(f"\n{args.sincehash} against {args.baseline}: records/s, new / baseline")
        print("| run | " + " | ".join(names[b] for b in backends) + " |")
        print("|---" * (len(backends) + 1) + "|")
        for run in RUNS:
            cells = []
            for backend in backends:
                new, old = results[("new", backend, run)][0], results[("base", backend, run)][0]
                cells.append(f"{new:.0f} / {old:.0f} = {new / old:.2f}x")
            print(f"| {run} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
