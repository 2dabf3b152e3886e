#!/usr/bin/env python3
"""`sincehash process` with its state in SQLite, Redis and PostgreSQL, in the same run.

usage: compare_shared.py PATH_TO_SINCEHASH [--records N] [--size BYTES]

Generates the CRM-like NDJSON of compare.py, then runs a first sync (every record new), a repeat
sync (the same records: nothing changed) and a bulk update (every date moved, 2% of the records
changed) through the tool with a fresh state in each back end. Redis and PostgreSQL (fsync on)
run as real servers started here on 127.0.0.1 and stopped afterwards. Prints records/s per run
and back end, and each rate as a ratio of SQLite's.
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import compare  # noqa: E402
import servers  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sincehash")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--size", type=int, default=1200)
    args = ap.parse_args()
    n = args.records
    results = {}
    with tempfile.TemporaryDirectory() as tmp, servers.redis_server() as redis, \
            servers.postgres_server(durable=True) as pg:
        cfg = os.path.join(tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump(compare.CONFIG, f)
        v0, v1 = os.path.join(tmp, "v0.ndjson"), os.path.join(tmp, "v1.ndjson")
        compare.generate(v0, n, args.size, 0)
        compare.generate(v1, n, args.size, 1)
        states = {"sqlite": "sqlite:" + os.path.join(tmp, "state.db"), "redis": redis.uri(),
                  "postgres": pg.uri()}
        for backend, state in states.items():
            cli = [args.sincehash, "process", "--config", cfg, "--resource", "contacts", "--state", state]
            for run, path in (("first sync", v0), ("repeat sync", v0), ("bulk update", v1)):
                secs, rss, err = compare.measure(cli, path)
                summary = json.loads(err.strip().splitlines()[-1])
                if summary["processed"] != n:
                    sys.exit(f"{backend} {run}: processed {summary['processed']} of {n}")
                results[(backend, run)] = (n / secs, rss)
    print(f"{n} records of about {args.size} bytes; records/s (peak RSS MiB), ratio to SQLite in this run")
    print("| run | SQLite | Redis | PostgreSQL |")
    print("|---|---|---|---|")
    for run in ("first sync", "repeat sync", "bulk update"):
        base = results[("sqlite", run)][0]
        cells = []
        for backend in ("sqlite", "redis", "postgres"):
            rps, rss = results[(backend, run)]
            cells.append(f"{rps:.0f} ({rss:.0f}) {rps / base:.2f}x")
        print(f"| {run} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
