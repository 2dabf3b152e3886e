#!/usr/bin/env python3
"""The `sincehash` command-line tool with its state in Redis and in PostgreSQL, run through the
binary against real servers that this test starts (and stops) itself on 127.0.0.1.

usage: test_cli_shared.py PATH_TO_SINCEHASH
"""
import itertools
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

BIN = None
COUNTER = itertools.count()

POLLER = {
    "contacts": {
        "url": "/hubs/crm/contacts?where=LastModifiedDate>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}'",
        "idField": "Id",
        "datesConfiguration": {
            "updatedDateField": "LastModifiedDate", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            "updatedDateTimezone": "GMT",
        },
        "validationData": {"fields": ["FirstName", "Email"]},
        "sincehash": {"ttl": "P1D"},
    }
}


def rec(id_, first, modified, email="x@y"):
    return json.dumps({"Id": id_, "FirstName": first, "Email": email, "LastModifiedDate": modified},
                      separators=(",", ":"))


class shared_state:
    """Mixed into a TestCase with `state` (the --state URI) set up by the class."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.dir.name, "config.json")
        with open(self.config, "w") as f:
            json.dump({"configuration": {"event.poller.configuration": json.dumps(POLLER)}}, f)
        self.instance = f"cli-{os.getpid()}-{next(COUNTER)}"

    def tearDown(self):
        self.dir.cleanup()

    def run_cli(self, *args, input_text="", check_rc=0, state=None):
        cmd = [BIN] + list(args)
        if args[0] in ("process", "rescan", "since", "reset"):
            cmd += ["--config", self.config, "--resource", "contacts", "--instance", self.instance]
        cmd += ["--state", state or self.state]
        p = subprocess.run(cmd, input=input_text.encode(), capture_output=True, timeout=120)
        out, err = p.stdout.decode(), p.stderr.decode()
        if check_rc is not None:
            self.assertEqual(p.returncode, check_rc, f"{cmd} exited {p.returncode}\nstdout: {out}\nstderr: {err}")
        return p.returncode, out, err

    def process(self, records, *extra, rescan=False):
        _, out, err = self.run_cli("rescan" if rescan else "process", *extra,
                                   input_text="".join(r + "\n" for r in records))
        return [json.loads(l) for l in out.splitlines() if l.strip()], json.loads(err.strip().splitlines()[-1])

    def test_status_reads_the_shared_state(self):
        t1 = "2024-03-01T10:00:00.000+0000"
        partition = self.instance + "/contacts"
        conf = ("--config", self.config, "--resource", "contacts", "--instance", self.instance)
        _, out, _ = self.run_cli("status", *conf)
        self.assertEqual(json.loads(out)["offset"], None)
        self.process([rec("a", "Ada", t1), rec("b", "Bob", t1)], "--now", "2024-03-03T00:00:00Z")
        _, out, _ = self.run_cli("status", *conf, "--now", "2024-03-03T00:00:01Z")
        line = json.loads(out)
        self.assertEqual((line["partition"], line["instance"], line["offset"], line["since"], line["records"]),
                         (partition, self.instance, t1, t1, 2))
        _, out, _ = self.run_cli("status", "--now", "2024-03-03T00:00:01Z")
        mine = [json.loads(l) for l in out.splitlines() if json.loads(l)["partition"] == partition]
        self.assertEqual([x["records"] for x in mine], [2])

    def test_poll_repoll_since_reset(self):
        t1, t2 = "2024-03-01T10:00:00.000+0000", "2024-03-02T10:00:00.000+0000"
        batch = [rec("a", "Ada", t1), rec("b", "Bob", t1)]
        events, s = self.process(batch, "--now", "2024-03-03T00:00:00Z")
        self.assertEqual([e["id"] for e in events], ["a", "b"])
        self.assertEqual((s["processed"], s["since_before"], s["since_after"]), (2, None, t1))
        # The same poll again: nothing dispatched, the state came back from the server.
        events, s = self.process(batch, "--now", "2024-03-03T00:00:01Z")
        self.assertEqual(events, [])
        self.assertEqual((s["unchanged"], s["since_before"]), (2, t1))
        # A watched change and an older copy.
        events, s = self.process([rec("a", "Ada", "2024-02-01T00:00:00.000+0000", email="old@y"),
                                  rec("b", "Robert", t2)], "--now", "2024-03-03T00:00:02Z")
        self.assertEqual([(e["id"], e["type"]) for e in events], [("b", "updated")])
        self.assertEqual((s["stale"], s["since_after"]), (1, t2))
        _, out, _ = self.run_cli("since")
        self.assertEqual(out.strip(), t2)
        _, out, _ = self.run_cli("since", "--url")
        self.assertIn("2024-03-02T10:00:00.000Z", out)
        # --dry-run commits nothing.
        events, _ = self.process([rec("c", "Cy", t2)], "--dry-run", "--now", "2024-03-03T00:00:03Z")
        self.assertEqual(len(events), 1)
        events, _ = self.process([rec("c", "Cy", t2)], "--now", "2024-03-03T00:00:04Z")
        self.assertEqual(len(events), 1)
        self.run_cli("reset")
        _, out, _ = self.run_cli("since")
        self.assertEqual(out.strip(), "")
        events, _ = self.process(batch, "--now", "2024-03-03T00:00:05Z")
        self.assertEqual(events, [])  # the records' states were kept
        self.run_cli("reset", "--forget-records")
        events, _ = self.process(batch, "--now", "2024-03-03T00:00:06Z")
        self.assertEqual([e["type"] for e in events], ["created", "created"])

    def test_rescan_reports_deleted_records(self):
        t = "2024-03-01T10:00:00.000+0000"
        self.process([rec("a", "A", t), rec("b", "B", t), rec("c", "C", t)], "--now", "2024-03-03T00:00:00Z")
        events, s = self.process([rec("a", "A", t), rec("c", "C", t)], "--now", "2024-03-03T01:00:00Z", rescan=True)
        self.assertEqual([(e["type"], e["id"]) for e in events], [("deleted", "b")])
        self.assertEqual(s["deleted"], 1)
        events, _ = self.process([rec("b", "B", t)], "--now", "2024-03-03T02:00:00Z")
        self.assertEqual([e["type"] for e in events], ["created"])

    def test_purge_erases_expired_states(self):
        t = "2024-03-01T10:00:00.000+0000"
        self.process([rec("a", "A", t), rec("b", "B", t)], "--now", "2024-03-03T00:00:00Z")
        _, out, _ = self.run_cli("purge", "--now", "2024-03-03T12:00:00Z")
        self.assertEqual(json.loads(out), {"purged": 0})
        _, out, _ = self.run_cli("purge", "--now", "2024-03-04T00:00:00Z")  # one day (the ttl) later
        self.assertGreaterEqual(json.loads(out)["purged"], 2)
        events, _ = self.process([rec("a", "A", t)], "--now", "2024-03-04T00:00:01Z")
        self.assertEqual(len(events), 1)  # its state was gone: dispatched again

    def test_key_file_encrypts_shared_state(self):
        if "--key-file" not in subprocess.run([BIN, "--help"], capture_output=True).stdout.decode():
            self.skipTest("this build has no libsodium")
        keys = os.path.join(self.dir.name, "keys.txt")
        with open(keys, "w") as f:
            f.write("1 " + "ab" * 32 + "\n")
        os.chmod(keys, 0o600)  # keys readable by others are refused
        t = "2024-03-01T10:00:00.000+0000"
        batch = [rec("a", "Ada", t, email="ada.lovelace@x.org"), rec("b", "Bob", t)]
        events, s = self.process(batch, "--key-file", keys, "--now", "2024-03-03T00:00:00Z")
        self.assertEqual([e["id"] for e in events], ["a", "b"])
        events, s = self.process(batch, "--key-file", keys, "--now", "2024-03-03T00:00:01Z")
        self.assertEqual((events, s["unchanged"], s["since_before"]), ([], 2, t))
        self.assertEqual(self.run_cli("since", "--key-file", keys)[1].strip(), t)
        # Without the key the partition is refused; with another key nothing opens.
        _, _, err = self.run_cli("since", check_rc=2)
        self.assertIn("is encrypted; pass its --key-file", err)
        other = os.path.join(self.dir.name, "other.txt")
        with open(other, "w") as f:
            f.write("1 " + "cd" * 32 + "\n")
        os.chmod(other, 0o600)
        _, _, err = self.run_cli("process", "--key-file", other, input_text=batch[0] + "\n", check_rc=1)
        self.assertIn("cannot be opened", err)
        events, _ = self.process([rec("a", "Ada", "2024-03-02T10:00:00.000+0000", email="ada@new.org")],
                                 "--key-file", keys, "--now", "2024-03-03T00:00:02Z")
        self.assertEqual([e["type"] for e in events], ["updated"])


# The back ends this build of the tool has (set by CMake); a listed one is always tested.
BACKENDS = os.environ.get("SINCEHASH_CLI_BACKENDS", "redis,postgres").split(",")


@unittest.skipUnless("redis" in BACKENDS, "this build of sincehash has no Redis back end")
class redis_cli(shared_state, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = servers.redis_server()
        cls.state = cls.server.uri(2)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_bad_and_unreachable_uris(self):
        _, _, err = self.run_cli("purge", state="redis://127.0.0.1:notaport", check_rc=2)
        self.assertIn("port", err)
        port = servers.free_port()
        _, _, err = self.run_cli("purge", state=f"redis://127.0.0.1:{port}", check_rc=1)
        self.assertIn(f"127.0.0.1:{port}", err)
        self.run_cli("purge", state="rediss://127.0.0.1:1", check_rc=2)


@unittest.skipUnless("postgres" in BACKENDS, "this build of sincehash has no PostgreSQL back end")
class postgres_cli(shared_state, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = servers.postgres_server()
        cls.state = cls.server.uri()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_unreachable_server(self):
        port = servers.free_port()
        _, _, err = self.run_cli("purge", state=f"postgresql://sincehash@127.0.0.1:{port}/postgres", check_rc=1)
        self.assertIn("cannot connect", err)


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
