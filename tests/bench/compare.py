#!/usr/bin/env python3
"""sincehash process (SQLite state) against a Python reference connector, in the same run.

usage: compare.py PATH_TO_SINCEHASH [--records N] [--sizes 1200,4000] [--threads 1,2] [--repeat 3]
                  [--pipe] [--module DIR]

For each record size it generates CRM-like NDJSON (HubSpot-style contacts), then runs
  - a first sync (every record new),
  - a repeat sync (the same records again: nothing changed) and
  - a bulk update (every record's modification date moved, 1 in 50 e-mails changed: 2% dispatched,
    and every newer date stored so that an older copy arriving later is recognised as stale)
through `sincehash process` with a fresh SQLite state (once per --threads value: the threads that
read records), and through a Python reference doing what
Python connectors do per record: json.loads, md5 of json.dumps of the watched subset with sorted
keys, a dict of id -> hash, strptime of the modification date. It prints records/s, MB/s, peak
resident memory and the ratio sincehash / Python; every measurement is the fastest of --repeat runs,
on both sides. sincehash reads the NDJSON file as its stdin; with --pipe, through a pipe from `cat`
(as from a connector that writes records to it).
With --module DIR (where the Python module `sincehash` was built, e.g. build/bench/python), a
Python connector on the module runs too (rows "module"): it reads the NDJSON 10,000 lines at a
time, calls Detector.process, writes each event and calls Detector.commit, on a SQLite state.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]

CONFIG = {"contacts": {
    "url": "/crm/v3/objects/contacts/search?since=${epoch:ms}",
    "idField": "id",
    "datesConfiguration": {"updatedDateField": "properties.lastmodifieddate",
                           "createdDateField": "properties.createdate"},
    "validationData": {"fields": ["properties.email", "properties.firstname", "properties.lastname"]}}}

PYTHON_REFERENCE = r'''
import hashlib, json, sys, time
from datetime import datetime
state = {}
seconds = []
for path in sys.argv[1:]:  # several inputs in one process: the state carries over, as in a poller
    start = time.perf_counter()
    dispatched = 0
    with open(path) as lines:
        for line in lines:
            rec = json.loads(line)
            props = rec["properties"]
            subset = {k: props.get(k) for k in ("email", "firstname", "lastname")}
            digest = hashlib.md5(json.dumps(subset, sort_keys=True).encode()).hexdigest()
            updated = datetime.strptime(props["lastmodifieddate"], "%Y-%m-%dT%H:%M:%S.%fZ")
            old = state.get(rec["id"])
            if old is None or (old[0] != digest and updated >= old[1]):
                dispatched += 1
                sys.stdout.write(json.dumps({"type": "updated" if old else "created", "id": rec["id"],
                                             "record": rec}) + "\n")
            state[rec["id"]] = (digest, updated)
    sys.stdout.flush()
    seconds.append(time.perf_counter() - start)
sys.stderr.write(json.dumps({"seconds": seconds}) + "\n")
'''

MODULE_CONNECTOR = r'''
import json, sys, time
import sincehash
config, state, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
seconds = []
out = sys.stdout.buffer
with sincehash.Detector(config, state, "contacts") as d:
    for path in inputs:  # several inputs in one process, as the reference
        start = time.perf_counter()
        with open(path, "rb") as f:
            while True:
                page = f.read(12 << 20)  # about 10,000 records of 1.2 KB, cut after its last line
                if not page:
                    break
                end = page.rfind(b"\n") + 1 if len(page) == 12 << 20 else len(page)
                if end == 0:
                    sys.exit("%s: a line longer than 12 MiB" % path)
                f.seek(end - len(page), 1)  # the cut-off line is read again with the next page
                batch = d.process(memoryview(page)[:end])
                batch.write_ndjson(out)
                d.commit(batch)
        seconds.append(time.perf_counter() - start)
sys.stderr.write(json.dumps({"seconds": seconds}) + "\n")
'''


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def generate(path, count, target, version):
    rng = random.Random(42)
    base = 1709280000000
    with open(path, "w") as f:
        for i in range(count):
            changed = version > 0 and i % 50 == 0
            props = {
                "email": "user%d%s@example.com" % (i, "v%d" % version if changed else ""),
                "firstname": WORDS[i % 16], "lastname": WORDS[(i // 16) % 16],
                "createdate": iso(base - 86400000 * 30 + i),
                "lastmodifieddate": iso(base + 1000 * version + i % 1000),
                "lifecyclestage": "lead", "hs_object_id": 1000000 + i,
            }
            k = 0
            line = json.dumps({"id": str(1000000 + i), "properties": props}, separators=(",", ":"))
            while len(line) + 40 < target:
                props["custom_property_%d" % k] = [WORDS[rng.randrange(16)] + " " + WORDS[rng.randrange(16)],
                                                   rng.randrange(100000), None, rng.random() * 1000][k % 4]
                k += 1
                if k % 8 == 0:
                    line = json.dumps({"id": str(1000000 + i), "properties": props}, separators=(",", ":"))
            props["archived"] = False
            f.write(json.dumps({"id": str(1000000 + i), "properties": props}, separators=(",", ":")) + "\n")


def measure(cmd, stdin_path, pipe=False):
    # Run inside a fresh Python child so RUSAGE_CHILDREN reports this command alone (and `cat`,
    # which holds little memory).
    code = ("import resource,subprocess,sys,time,json\n"
            "cmd=json.loads(sys.argv[1]); t=time.perf_counter()\n"
            "c=subprocess.Popen(['cat',sys.argv[2]],stdout=subprocess.PIPE) if sys.argv[3]=='1' else None\n"
            "i=c.stdout if c else open(sys.argv[2],'rb')\n"
            "p=subprocess.run(cmd,stdin=i,stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\n"
            "c and (c.stdout.close(), c.wait())\n"
            "s=time.perf_counter()-t\n"
            "print(json.dumps({'rc':p.returncode,'secs':s,'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
            "'err':p.stderr.decode()[-2000:]}))\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cmd), stdin_path, "1" if pipe else "0"],
                         capture_output=True, text=True)
    r = json.loads(out.stdout)
    if r["rc"] != 0:
        sys.exit("command failed: %s\n%s" % (cmd, r["err"]))
    return r["secs"], r["rss"] / 1024.0, r["err"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sincehash")
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--sizes", default="1200,4000")
    ap.add_argument("--threads", default="1,2", help="reader thread counts to run sincehash with")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of every measurement, each side; the fastest counts (less noise)")
    ap.add_argument("--pipe", action="store_true", help="feed sincehash through a pipe instead of the file")
    ap.add_argument("--module", help="the directory holding the built Python module: adds its rows")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump(CONFIG, f)
        ref = os.path.join(tmp, "reference.py")
        with open(ref, "w") as f:
            f.write(PYTHON_REFERENCE)
        for size in [int(s) for s in args.sizes.split(",")]:
            v0, v1 = os.path.join(tmp, "v0.ndjson"), os.path.join(tmp, "v1.ndjson")
            generate(v0, args.records, size, 0)
            generate(v1, args.records, size, 1)
            mb = os.path.getsize(v0) / 1e6
            runs = {}
            for threads in [int(t) for t in args.threads.split(",")]:
                state = os.path.join(tmp, "state-%d-%d.db" % (size, threads))
                cli = [args.sincehash, "process", "--config", cfg, "--resource", "contacts", "--state", state,
                       "--threads", str(threads)]
                # Each run starts from the state the one before it left: a first sync on a fresh
                # file, a repeat sync of the same records, a bulk update.
                first, repeat, bulk = [], [], []
                for _ in range(args.repeat):
                    if os.path.exists(state):
                        for suffix in ("", "-wal", "-shm"):
                            if os.path.exists(state + suffix):
                                os.remove(state + suffix)
                    first.append(measure(cli, v0, args.pipe))
                    repeat.append(measure(cli, v0, args.pipe))
                    bulk.append(measure(cli, v1, args.pipe))
                runs[threads] = tuple(min(r, key=lambda m: m[0]) for r in (first, repeat, bulk))
                summary = json.loads(runs[threads][2][2].strip().splitlines()[-1])
            # The Python reference keeps its state in memory: a later sync runs in the same process
            # after the first one and times each input itself.
            def python(*inputs, script=ref, before=(), fresh=None):
                best = None
                for _ in range(args.repeat):
                    if fresh:
                        for suffix in ("", "-wal", "-shm"):
                            if os.path.exists(fresh + suffix):
                                os.remove(fresh + suffix)
                    secs, rss, err = measure([sys.executable, script] + list(before) + list(inputs), os.devnull)
                    run = (json.loads(err.strip().splitlines()[-1])["seconds"][-1], rss)
                    best = run if best is None or run[0] < best[0] else best
                return best
            p_first = python(v0)
            p_repeat = python(v0, v0)
            p_bulk = python(v0, v1)
            if args.module:
                connector = os.path.join(tmp, "module_connector.py")
                with open(connector, "w") as f:
                    f.write("import sys; sys.path.insert(0, %r)\n" % os.path.abspath(args.module) + MODULE_CONNECTOR)
                mstate = os.path.join(tmp, "module-%d.db" % size)
                on_module = dict(script=connector, before=(cfg, mstate), fresh=mstate)
                m_runs = (python(v0, **on_module), python(v0, v0, **on_module), python(v0, v1, **on_module))
            n = args.records
            for threads, (s_first, s_repeat, s_bulk) in sorted(runs.items()):
                for name, s, p_secs, p_rss in (("first sync", s_first, p_first[0], p_first[1]),
                                               ("repeat sync", s_repeat, p_repeat[0], p_repeat[1]),
                                               ("bulk update", s_bulk, p_bulk[0], p_bulk[1])):
                    rows.append((size, name, threads, n / s[0], mb / s[0], s[1], n / p_secs, p_rss,
                                 p_secs / s[0]))
            if args.module:
                for name, (m_secs, m_rss), (p_secs, p_rss) in zip(("first sync", "repeat sync", "bulk update"),
                                                                  m_runs, (p_first, p_repeat, p_bulk)):
                    rows.append((size, name, "module", n / m_secs, mb / m_secs, m_rss, n / p_secs, p_rss,
                                 p_secs / m_secs))
            print("size %d: bulk update dispatched %d of %d (sincehash summary: %s)" %
                  (size, summary["created"] + summary["updated"], n, json.dumps(summary)), file=sys.stderr)
    print("| record size | run | threads | sincehash records/s | MB/s | peak RSS MiB | Python records/s | Python peak RSS MiB | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, name, threads, rps, mbps, rss, prps, prss, ratio in rows:
        print("| %d B | %s | %s | %.0f | %.1f | %.1f | %.0f | %.1f | %.1fx |" %
              (size, name, threads, rps, mbps, rss, prps, prss, ratio))


if __name__ == "__main__":
    main()
