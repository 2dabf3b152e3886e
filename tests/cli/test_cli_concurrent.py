#!/usr/bin/env python3
"""Several `sincehash process` runs at once on one partition — overlapping cron jobs — must never
lose a change, on every back end: SQLite, and Redis and PostgreSQL servers this test starts on
127.0.0.1 itself.

A source of RECORDS records changes step by step, some changes reverting (A -> B -> A). Each run
sees its own, slightly newer copy of the source; the runs start together. A last, clean run sees
the newest copy. The downstream keeps, per record, the event with the newest updated date; a
record is lost when that differs from the source. The same scenario with the tool's safeguards
switched off (a test-only environment switch) must lose changes, which shows the scenario can
catch a loss.

usage: test_cli_concurrent.py PATH_TO_SINCEHASH
environment: SINCEHASH_CLI_BACKENDS (sqlite,redis,postgres), SINCEHASH_RACE_RECORDS (20000)
"""
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

BIN = None
SCENARIOS = itertools.count(1)  # each scenario runs on a partition of its own
RECORDS = int(os.environ.get("SINCEHASH_RACE_RECORDS", "20000"))
BACKENDS = os.environ.get("SINCEHASH_CLI_BACKENDS", "sqlite,redis,postgres").split(",")

POLLER = {
    "contacts": {
        "idField": "Id",
        "datesConfiguration": {"updatedDateField": "LastModifiedDate", "updatedDateFormat": "iso8601"},
        "validationData": {"fields": ["Email"]},
    }
}


def stamp(step):
    return "2024-03-01T%02d:00:00Z" % step


class source:
    """The source's records, step by step: at each step a fifth of them change; a change of a
    record that changed before reverts it (A -> B -> A)."""

    def __init__(self, steps, seed):
        rnd = random.Random(seed)
        self.copies = []
        email = {i: "a%d@x" % i for i in range(RECORDS)}
        date = {i: stamp(0) for i in range(RECORDS)}
        for step in range(steps + 1):
            if step:
                for i in rnd.sample(range(RECORDS), RECORDS // 5):
                    email[i] = ("b%d@x" if email[i].startswith("a") else "a%d@x") % i
                    date[i] = stamp(step)
            lines = [json.dumps({"Id": str(i), "Email": email[i], "LastModifiedDate": date[i],
                                 "Other": "x" * 40}, separators=(",", ":")) for i in range(RECORDS)]
            self.copies.append((dict(email), "\n".join(lines) + "\n"))


def lost(final_email, event_files):
    """Records whose newest delivered event differs from the source."""
    newest = {}
    for path in event_files:
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                if e["type"] == "deleted":
                    continue
                if e["id"] not in newest or e["updated"] >= newest[e["id"]][0]:
                    newest[e["id"]] = (e["updated"], e["record"]["Email"])
    return sum(1 for i, email in final_email.items() if newest.get(str(i), (None, None))[1] != email)


class racing_runs:
    """Mixed into a TestCase whose class sets `state_uri(tag)` (a fresh state per scenario)."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.dir.name, "config.json")
        with open(self.config, "w") as f:
            json.dump(POLLER, f)
        self.count = 0

    def tearDown(self):
        self.dir.cleanup()

    def cmd(self, state, *extra):
        return [BIN, "process", "--config", self.config, "--resource", "contacts", "--instance",
                "race%d-%d" % (os.getpid(), self.count), "--state", state] + list(extra)

    def scenario(self, runs, env_switch=None, extra=()):
        """Runs the scenario on a fresh state; returns (lost records, exit codes of the runs)."""
        self.count = next(SCENARIOS)
        state = self.state_uri("race%d" % self.count)
        src = source(runs + 1, seed=self.count)
        files = []

        def path(name):
            p = os.path.join(self.dir.name, "%d-%s" % (self.count, name))
            files.append(p)
            return p

        def start(copy, name, env):
            inp = os.path.join(self.dir.name, "%d-%s.in" % (self.count, name))
            with open(inp, "w") as f:
                f.write(src.copies[copy][1])
            with open(inp) as stdin, open(path(name), "w") as stdout:
                return subprocess.Popen(self.cmd(state, *extra), stdin=stdin, stdout=stdout,
                                        stderr=subprocess.PIPE, env=env)

        env = dict(os.environ)
        base = start(0, "base", env)
        _, err = base.communicate(timeout=300)
        self.assertEqual(base.returncode, 0, err.decode())
        racing_env = dict(env)
        if env_switch:
            racing_env["SINCEHASH_TEST_CONCURRENCY"] = env_switch
        procs = [start(k, "run%d" % k, racing_env) for k in range(1, runs + 1)]
        codes = []
        for p in procs:
            _, err = p.communicate(timeout=300)
            codes.append(p.returncode)
            self.assertIn(p.returncode, (0, 75), err.decode())
        clean = start(runs + 1, "clean", env)
        _, err = clean.communicate(timeout=300)
        self.assertEqual(clean.returncode, 0, err.decode())
        return lost(src.copies[runs + 1][0], files), codes

    def test_runs_waiting_for_the_lease_lose_nothing(self):
        for runs in (2, 4):
            n, codes = self.scenario(runs, extra=("--wait", "120s"))
            self.assertEqual(codes, [0] * runs)
            self.assertEqual(n, 0, "%d records lost with %d runs" % (n, runs))

    def test_runs_refused_by_the_lease_lose_nothing(self):
        n, codes = self.scenario(4)
        self.assertIn(0, codes)
        self.assertEqual(n, 0, "%d records lost" % n)

    def test_conditional_commits_alone_lose_nothing(self):
        # Without the lease the runs interleave freely; the conditional commits catch each
        # interleaving and re-dispatch what became a change.
        for runs in (2, 4):
            n, codes = self.scenario(runs, env_switch="no-lease")
            self.assertEqual(codes, [0] * runs)
            self.assertEqual(n, 0, "%d records lost with %d runs" % (n, runs))

    def test_without_safeguards_changes_are_lost(self):
        # Shows the scenario detects a loss: without lease and conditions it happens.
        total = 0
        for _ in range(5):
            n, _ = self.scenario(4, env_switch="unchecked")
            total += n
            if total:
                break
        self.assertGreater(total, 0, "the racing scenario never lost a change without safeguards")


@unittest.skipUnless("sqlite" in BACKENDS, "this build has no SQLite back end")
class sqlite_race(racing_runs, unittest.TestCase):
    def state_uri(self, tag):
        return os.path.join(self.dir.name, tag + ".db")


@unittest.skipUnless("redis" in BACKENDS, "this build has no Redis back end")
class redis_race(racing_runs, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = servers.redis_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def state_uri(self, tag):
        return self.server.uri(3)


@unittest.skipUnless("postgres" in BACKENDS, "this build has no PostgreSQL back end")
class postgres_race(racing_runs, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = servers.postgres_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def state_uri(self, tag):
        return self.server.uri()


class lease_on_sqlite(unittest.TestCase):
    """The lease as a user meets it: a second run exits 75, `--wait` waits, a killed holder's
    lease is taken over at once."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.dir.name, "config.json")
        with open(self.config, "w") as f:
            json.dump(POLLER, f)
        self.state = os.path.join(self.dir.name, "state.db")

    def tearDown(self):
        self.dir.cleanup()

    def cmd(self, *extra):
        return [BIN, "process", "--config", self.config, "--resource", "contacts", "--state", self.state] + list(extra)

    def holder(self):
        """A run that holds the lease while it waits for more input on its pipe."""
        p = subprocess.Popen(self.cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Two lines: from the first alone the input could still be a one-line page.
        p.stdin.write(b'{"Id":"1","Email":"a","LastModifiedDate":"2024-03-01T00:00:00Z"}\n'
                      b'{"Id":"0","Email":"a","LastModifiedDate":"2024-03-01T00:00:00Z"}\n')
        p.stdin.flush()
        line = p.stdout.readline()  # its first event: the lease is held by now
        self.assertIn(b'"created"', line)
        return p

    def second(self, *extra, timeout=60):
        rec = b'{"Id":"2","Email":"b","LastModifiedDate":"2024-03-02T00:00:00Z"}\n'
        return subprocess.run(self.cmd(*extra), input=rec, capture_output=True, timeout=timeout)

    def test_a_second_run_exits_75_having_done_nothing(self):
        p = self.holder()
        try:
            r = self.second()
            self.assertEqual(r.returncode, 75, r.stderr.decode())
            self.assertIn("partition busy", r.stderr.decode())
            self.assertIn("pid=%d" % p.pid, r.stderr.decode())
            self.assertEqual(r.stdout, b"")
        finally:
            p.stdin.close()
            p.wait(timeout=60)
        self.assertEqual(p.returncode, 0)
        # Nothing of the refused run was committed: record 2 is still new.
        r = self.second()
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b'"created"', r.stdout)

    def test_wait_waits_for_the_holder(self):
        p = self.holder()
        started = time.monotonic()

        def release():
            time.sleep(1.0)
            p.stdin.close()

        import threading
        threading.Thread(target=release).start()
        r = self.second("--wait", "30s")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        p.wait(timeout=60)

    def test_a_killed_holders_lease_is_taken_over_at_once(self):
        p = self.holder()
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
        started = time.monotonic()
        r = self.second()
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertLess(time.monotonic() - started, 10)

    def test_a_dry_run_takes_the_lease_too(self):
        p = self.holder()
        try:
            r = self.second("--dry-run")
            self.assertEqual(r.returncode, 75, r.stderr.decode())
        finally:
            p.stdin.close()
            p.wait(timeout=60)


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
