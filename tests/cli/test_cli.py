#!/usr/bin/env python3
"""Tests of the `sincehash` command-line tool, run through the binary.

usage: test_cli.py PATH_TO_SINCEHASH
Every promise of the command-line contract gets a check; a failed check names itself.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BIN = None

SEED_CONFIG = {
    "configuration": {
        "event.helper.key": "sfdcPolling",
        "event.poller.refresh_interval": "15",
        "event.notification.callback.url": "https://myevents.mycompany.com",
        "event.vendor.type": "polling",
        "event.notification.enabled": True,
        "event.poller.configuration": "{\"contacts\":{\"url\":\"/hubs/crm/contacts?where=LastModifiedDate>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}'\",\"idField\":\"Id\",\"datesConfiguration\":{\"updatedDateField\":\"LastModifiedDate\",\"updatedDateFormat\":\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\",\"updatedDateTimezone\":\"GMT\",\"createdDateField\":\"CreatedDate\",\"createdDateFormat\":\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\",\"createdDateTimezone\":\"GMT\"},\"validationData\":{\"fields\":[\"FirstName\", \"LastName\",\"Email\"]}}}",
    }
}


def sf(id_, first, email, modified, created="2024-01-01T00:00:00.000+0000", extra="x"):
    return json.dumps({"Id": id_, "FirstName": first, "LastName": "L", "Email": email,
                       "LastModifiedDate": modified, "CreatedDate": created, "Other": extra},
                      separators=(",", ":"))


class cli_case(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.state = os.path.join(self.dir.name, "state.db")
        self.config = self.write("config.json", json.dumps(SEED_CONFIG))

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_cli(self, *args, input_text="", check_rc=0, stdout=subprocess.PIPE, config=None, state=None):
        cmd = [BIN] + list(args)
        if args and args[0] in ("process", "rescan", "since", "reset"):
            cmd += ["--config", config or self.config, "--resource", "contacts"]
        if args and args[0] in ("process", "rescan", "since", "reset", "purge") and "--state" not in args:
            cmd += ["--state", state or self.state]
        p = subprocess.run(cmd, input=input_text.encode(), stdout=stdout, stderr=subprocess.PIPE, timeout=120)
        out = p.stdout.decode() if p.stdout is not None else ""
        err = p.stderr.decode()
        if check_rc is not None:
            self.assertEqual(p.returncode, check_rc, f"{cmd} exited {p.returncode}\nstdout: {out}\nstderr: {err}")
        return p.returncode, out, err

    def process(self, records, *extra, rescan=False, **kw):
        text = "".join(r + "\n" for r in records)
        rc, out, err = self.run_cli("rescan" if rescan else "process", *extra, input_text=text, **kw)
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        summary = json.loads(err.strip().splitlines()[-1]) if err.strip() else None
        return events, summary

    # -- process ------------------------------------------------------------------------------

    def poller_config(self, name, sincehash=None, **dates):
        """A poller configuration like the seed's, with `dates` replacing datesConfiguration keys."""
        poller = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        poller["contacts"]["datesConfiguration"].update(dates)
        if sincehash is not None:
            poller["contacts"]["sincehash"] = sincehash
        return self.write(name, json.dumps(poller))

    def test_a_created_date_of_the_wrong_type_is_invalid(self):
        t = "2024-03-01T10:00:00.000+0000"
        bad = json.dumps({"Id": "x", "FirstName": "X", "LastName": "L", "Email": "x@y", "LastModifiedDate": t,
                          "CreatedDate": True})
        obj = json.dumps({"Id": "o", "FirstName": "O", "LastName": "L", "Email": "o@y", "LastModifiedDate": t,
                          "CreatedDate": {"at": t}})
        rejects = os.path.join(self.dir.name, "rejects.ndjson")
        events, s = self.process([bad, obj, sf("ok", "Ok", "ok@y", t)], "--rejects", rejects)
        self.assertEqual([e["id"] for e in events], ["ok"])
        self.assertEqual((s["invalid"], s["processed"]), (2, 3))
        with open(rejects) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual([r["id"] for r in lines], ["x", "o"])
        self.assertIn("CreatedDate", lines[0]["reason"])
        self.assertIn("boolean", lines[0]["reason"])
        self.assertIn("object", lines[1]["reason"])

    def test_a_rescan_does_not_report_expired_states_as_deleted(self):
        config = self.poller_config("ttl.json", {"ttl": "PT1H"})
        t = "2024-03-01T10:00:00.000+0000"
        self.process([sf("old", "O", "o@y", t)], "--now", "2024-03-03T00:00:00Z", config=config)
        self.process([sf("alive", "A", "a@y", t)], "--now", "2024-03-03T00:50:00Z", config=config)
        # At 01:30 the state of "old" expired (00:00 + 1 h); "alive" runs to 01:50.
        events, s = self.process([sf("new", "N", "n@y", t)], "--now", "2024-03-03T01:30:00Z", config=config,
                                 rescan=True)
        self.assertEqual([(e["type"], e["id"]) for e in events if e["type"] == "deleted"], [("deleted", "alive")])
        self.assertEqual(s["deleted"], 1)

    def test_a_dry_run_rescan_shows_the_deletions_and_commits_nothing(self):
        t = "2024-03-01T10:00:00.000+0000"
        self.process([sf("a", "A", "a@y", t), sf("b", "B", "b@y", t), sf("c", "C", "c@y", t)])
        events, s = self.process([sf("a", "A", "a@y", t), sf("c", "C", "c@y", t)], "--dry-run", rescan=True)
        self.assertEqual([(e["type"], e["id"]) for e in events], [("deleted", "b")])
        self.assertEqual((s["deleted"], s["committed"]), (1, 0))
        # Nothing was committed: the real rescan reports the same deletion, with the same event id.
        real, s = self.process([sf("a", "A", "a@y", t), sf("c", "C", "c@y", t)], rescan=True)
        self.assertEqual([(e["type"], e["id"], e["event_id"]) for e in real],
                         [(e["type"], e["id"], e["event_id"]) for e in events])

    def test_a_date_pattern_that_cannot_name_an_instant_is_a_configuration_error(self):
        for pattern in ("HH:mm", "mm:ss", "yyyy-MM-dd HH:ms"):
            config = self.poller_config("pattern.json", updatedDateFormat=pattern)
            _, _, err = self.run_cli("process", input_text="", config=config, check_rc=2)
            self.assertIn("updatedDateFormat", err)
            self.assertIn(pattern, err)


    def test_first_sighting_then_unchanged_then_watched_change(self):
        t1, t2 = "2024-03-01T10:00:00.000+0000", "2024-03-02T10:00:00.000+0000"
        r1 = sf("a", "Ada", "ada@x.org", t1)
        events, s = self.process([r1, sf("b", "Bob", "bob@x.org", t1, created=t1)], "--now", "2024-03-03T00:00:00Z")
        # created date == updated date -> created; an older created date on a full sync -> updated
        self.assertEqual([e["type"] for e in events], ["updated", "created"])
        self.assertEqual(events[0]["record"], json.loads(r1))
        self.assertEqual(events[0]["id"], "a")
        self.assertEqual(events[0]["updated"], t1)
        self.assertEqual(len(events[0]["event_id"]), 32)
        self.assertEqual(s["processed"], 2)
        self.assertIsNone(s["since_before"])
        self.assertEqual(s["since_after"], t1)
        # a non-watched change with a newer date: not dispatched; a watched change: dispatched
        events, s = self.process([sf("a", "Ada", "ada@lovelace.org", t2),
                                  sf("b", "Bob", "bob@x.org", t2, created=t1, extra="changed")])
        self.assertEqual([(e["id"], e["type"]) for e in events], [("a", "updated")])
        self.assertEqual((s["unchanged"], s["updated"], s["since_before"], s["since_after"]), (1, 1, t1, t2))
        # a record seen before is updated, even when its created date is at or after the offset
        events, s = self.process([sf("b", "Robert", "bob@x.org", "2024-03-04T10:00:00.000+0000", created=t2)])
        self.assertEqual([(e["id"], e["type"]) for e in events], [("b", "updated")])
        # a first sighting created at or after the stored offset -> created
        events, s = self.process([sf("c", "Cy", "cy@x.org", "2024-03-05T10:00:00.000+0000",
                                     created="2024-03-04T10:00:00.000+0000")])
        self.assertEqual([(e["id"], e["type"]) for e in events], [("c", "created")])

    # -- reportChanges ------------------------------------------------------------------------

    def changes_config(self, name, report=True, fields=("FirstName", "LastName", "Email")):
        poller = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        poller["contacts"]["validationData"]["fields"] = list(fields)
        if report is not None:
            poller["contacts"]["sincehash"] = {"reportChanges": report}
        return self.write(name, json.dumps(poller))

    def test_report_changes_names_the_changed_watched_fields(self):
        config = self.changes_config("changes.json")
        t = ["2024-03-0%dT10:00:00.000+0000" % d for d in range(1, 8)]

        def rec(first, email, day, last="L", other="x"):
            r = {"Id": "a", "FirstName": first, "Email": email, "LastModifiedDate": t[day], "Other": other}
            if last != "<missing>":
                r["LastName"] = last
            return json.dumps(r, separators=(",", ":"))

        events, _ = self.process([rec("Ada", "a@x", 0)], config=config)
        self.assertEqual([(e["type"], e["changed"]) for e in events], [("created", None)])  # first sighting
        events, _ = self.process([rec("Ada", "b@x", 1)], config=config)
        self.assertEqual([(e["type"], e["changed"]) for e in events], [("updated", ["Email"])])
        self.assertEqual(list(events[0].keys()), ["type", "id", "updated", "event_id", "changed", "record"])
        events, _ = self.process([rec("Eve", "c@x", 2)], config=config)
        self.assertEqual([e["changed"] for e in events], [["Email", "FirstName"]])
        events, s = self.process([rec("Eve", "c@x", 3, other="y")], config=config)  # unwatched only
        self.assertEqual((events, s["unchanged"]), ([], 1))
        events, _ = self.process([rec("Eve", "c@x", 4, last="<missing>")], config=config)  # "L" -> missing
        self.assertEqual([e["changed"] for e in events], [["LastName"]])
        events, _ = self.process([rec("Eve", "c@x", 5, last=None)], config=config)
        self.assertEqual([e["changed"] for e in events], [["LastName"]])  # missing -> null
        # The line as written: "changed" sits before the record.
        rc, out, _ = self.run_cli("process", config=config, input_text=rec("Eve", "c@x", 6, last="") + "\n")
        self.assertIn(',"changed":["LastName"],"record":{', out)  # null -> ""

    def test_report_changes_off_writes_no_member_and_on_later_baselines_silently(self):
        off = self.changes_config("off.json", report=None)
        on = self.changes_config("on.json")
        t1, t2, t3 = "2024-03-01T10:00:00.000+0000", "2024-03-02T10:00:00.000+0000", "2024-03-03T10:00:00.000+0000"
        events, _ = self.process([sf("a", "Ada", "a@x", t1), sf("b", "Bob", "b@x", t1)], config=off)
        self.assertTrue(all("changed" not in e for e in events))
        events, _ = self.process([sf("a", "Ada", "a2@x", t2)], config=off)
        self.assertNotIn("changed", events[0])
        # Turned on: a comes back unchanged (its digests are filled in silently), b changes first.
        events, s = self.process([sf("a", "Ada", "a2@x", t2), sf("b", "Bob", "b2@x", t2)], config=on)
        self.assertEqual([(e["id"], e["changed"]) for e in events], [("b", None)])
        self.assertEqual(s["unchanged"], 1)
        events, _ = self.process([sf("a", "Ann", "a2@x", t3), sf("b", "Bob", "b2@x", t3, extra="y")], config=on)
        self.assertEqual([(e["id"], e["changed"]) for e in events], [("a", ["FirstName"])])
        # Another watched set: re-baselined, so the next change is null, the one after named.
        two = self.changes_config("two.json", fields=("Email", "FirstName"))
        events, _ = self.process([sf("a", "Ann", "a3@x", "2024-03-04T10:00:00.000+0000")], config=two)
        self.assertEqual([(e["id"], e["changed"]) for e in events], [("a", None)])
        events, _ = self.process([sf("a", "Ann", "a4@x", "2024-03-05T10:00:00.000+0000")], config=two)
        self.assertEqual([(e["id"], e["changed"]) for e in events], [("a", ["Email"])])

    def test_report_changes_must_be_a_boolean_with_watched_fields(self):
        bad = self.changes_config("bad.json", report="yes")
        rc, _, err = self.run_cli("process", config=bad, check_rc=2)
        self.assertIn("/contacts/sincehash/reportChanges: must be true or false", err)

    def test_output_carries_the_original_bytes(self):
        raw = ('{"Id": "sp", "FirstName":"\\u00c5se",  "Email":"a@b", '
               '"LastModifiedDate":"2024-03-01T10:00:00.000+0000"}')
        _, out, _ = self.run_cli("process", input_text=raw + "\n")
        line = out.splitlines()[0]
        self.assertTrue(line.endswith(',"record":' + raw + "}"), line)

    def test_array_and_wrapped_inputs(self):
        recs = [json.loads(sf(str(i), "N", f"{i}@x", "2024-03-01T10:00:00.000+0000")) for i in range(3)]
        for i, text in enumerate([json.dumps(recs), json.dumps({"total": 3, "results": recs}),
                                  json.dumps({"records": recs, "done": True})]):
            st = os.path.join(self.dir.name, f"s{i}.db")
            _, out, err = self.run_cli("process", "--state", st, input_text=text)
            self.assertEqual([json.loads(l)["id"] for l in out.splitlines()], ["0", "1", "2"], text[:40])

    def test_invalid_records_go_to_rejects_and_do_not_fail(self):
        rejects = os.path.join(self.dir.name, "rejects.ndjson")
        good = sf("g", "G", "g@x", "2024-03-01T10:00:00.000+0000")
        lines = [good, "not json", '["an","array"]', '{"FirstName":"no id"}',
                 '{"Id":"d","LastModifiedDate":"2024-02-30T10:00:00.000+0000"}', '{"Id":"m"}']
        events, s = self.process(lines, "--rejects", rejects)
        self.assertEqual([e["id"] for e in events], ["g"])
        self.assertEqual((s["processed"], s["invalid"]), (6, 5))
        with open(rejects) as f:
            rej = [json.loads(l) for l in f]
        self.assertEqual([r["line"] for r in rej], [2, 3, 4, 5, 6])
        self.assertEqual(rej[0]["record"], "not json")
        self.assertIn("not JSON", rej[0]["reason"])
        self.assertEqual(rej[0]["reason"].count("not JSON"), 1, rej[0]["reason"])
        self.assertIn("at byte", rej[0]["reason"])
        self.assertEqual(rej[1]["record"], ["an", "array"])
        self.assertIn("Id", rej[2]["reason"])
        self.assertEqual(rej[3]["id"], "d")
        self.assertIn("2024-02-30", rej[3]["reason"])
        self.assertIn("LastModifiedDate", rej[4]["reason"])
        # without --rejects they go to stderr, before the summary
        _, _, err = self.run_cli("process", "--state", os.path.join(self.dir.name, "x.db"), input_text="oops\n")
        self.assertEqual(json.loads(err.splitlines()[0])["line"], 1)
        self.assertEqual(json.loads(err.splitlines()[-1])["invalid"], 1)

    def test_stale_copy_and_copies_in_one_batch(self):
        new, old = "2024-03-02T10:00:00.000+0000", "2024-03-01T10:00:00.000+0000"
        self.process([sf("a", "A", "a@x", new)])
        events, s = self.process([sf("a", "Old", "a@x", old)])
        self.assertEqual((events, s["stale"]), ([], 1))
        # A -> B -> A in one batch: three dispatches, distinct event ids
        t = ["2024-03-03T10:00:0%d.000+0000" % i for i in range(3)]
        events, s = self.process([sf("a", "B", "a@x", t[0]), sf("a", "A", "a@x", t[1]), sf("a", "A", "a@x", t[2])])
        self.assertEqual(len(events), 2)
        self.assertEqual(s["unchanged"], 1)
        self.assertEqual(len({e["event_id"] for e in events}), 2)

    def test_tie_at_page_boundary_loses_nothing_and_duplicates_nothing(self):
        t = "2024-03-01T10:00:00.000+0000"
        page1 = [sf("a", "A", "a@x", t)]
        page2 = [sf("a", "A", "a@x", t), sf("b", "B", "b@x", t)]  # since is inclusive: a comes again
        e1, s1 = self.process(page1)
        _, since, _ = self.run_cli("since")
        self.assertEqual(since.strip(), t)
        e2, s2 = self.process(page2)
        self.assertEqual([e["id"] for e in e1 + e2], ["a", "b"])

    def test_dry_run_commits_nothing(self):
        recs = [sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000")]
        e1, _ = self.process(recs, "--dry-run")
        e2, _ = self.process(recs)
        self.assertEqual(len(e1), 1)
        self.assertEqual(e1, e2)
        _, since, _ = self.run_cli("since")
        self.assertEqual(since.strip(), "2024-03-01T10:00:00.000+0000")

    # -- since, reset, purge, rescan ------------------------------------------------------------

    def test_since_and_url(self):
        _, out, _ = self.run_cli("since")
        self.assertEqual(out, "")
        _, url, _ = self.run_cli("since", "--url")
        self.assertEqual(url.strip(), "/hubs/crm/contacts?where=LastModifiedDate>'1970-01-01T00:00:00.000Z'")
        self.process([sf("a", "A", "a@x", "2024-03-01T11:00:00.000+0100")])
        _, out, _ = self.run_cli("since")
        self.assertEqual(out.strip(), "2024-03-01T11:00:00.000+0100")
        _, url, _ = self.run_cli("since", "--url")
        self.assertEqual(url.strip(), "/hubs/crm/contacts?where=LastModifiedDate>'2024-03-01T10:00:00.000Z'")

    # -- status, and commands that only read ----------------------------------------------------

    def status(self, *args, state=None):
        _, out, _ = self.run_cli("status", "--state", state or self.state, *args)
        return [json.loads(line) for line in out.splitlines()]

    def state_files(self):
        """The state file's bytes and modification time (the -wal and -shm files of a reader are
        SQLite's own)."""
        with open(self.state, "rb") as f:
            return f.read(), os.stat(self.state).st_mtime_ns

    def test_status_reports_each_partition(self):
        cfg = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        cfg["contacts"]["sincehash"] = {"ttl": "P1D", "rescan": "PT1H", "lookback": "PT5M"}
        path = self.write("status.json", json.dumps(cfg))
        self.assertEqual(self.status(), [])  # nothing stored yet
        t1, t2 = "2024-03-01T10:00:00.000+0000", "2024-03-01T11:00:00.000+0000"
        self.process([sf("a", "A", "a@x", t1), sf("b", "B", "b@x", t2)], "--now", "2024-03-01T12:00:00Z",
                     config=path)
        self.process([sf("c", "C", "c@x", t1)], "--instance", "east/1", "--now", "2024-03-01T18:00:00Z",
                     config=path)
        # Without --config: every partition, names split from the key, no schedule known.
        lines = self.status("--now", "2024-03-02T11:00:00Z")
        self.assertEqual([x["partition"] for x in lines], ["default/contacts", "east%2F1/contacts"])
        self.assertEqual(lines[0], {"partition": "default/contacts", "instance": "default",
                                    "resource": "contacts", "offset": t2, "since": t2, "records": 2,
                                    "rescan": {"active": False, "last": None, "next_due": None, "due": None}})
        self.assertEqual((lines[1]["instance"], lines[1]["resource"], lines[1]["offset"]), ("east/1", "contacts", t1))
        # Records count only the unexpired states (a day after they were last seen they expire).
        self.assertEqual([x["records"] for x in self.status("--now", "2024-03-02T12:00:00Z")], [0, 1])
        # With --config: that partition, `since` as `sincehash since` prints it, the schedule.
        conf = ("--config", path, "--resource", "contacts")
        (line,) = self.status(*conf, "--now", "2024-03-01T12:30:00Z")
        _, since, _ = self.run_cli("since", config=path)
        self.assertEqual(line["since"], since.strip())
        self.assertEqual(line["since"], "2024-03-01T10:55:00.000+0000")
        self.assertEqual(line["rescan"], {"active": False, "last": None, "next_due": None, "due": True})
        (line,) = self.status(*conf, "--instance", "east/1")
        self.assertEqual(line["partition"], "east%2F1/contacts")
        (line,) = self.status(*conf, "--instance", "nobody")  # a partition with nothing stored
        self.assertEqual((line["offset"], line["since"], line["records"]), (None, None, 0))
        self.assertEqual(line["rescan"]["due"], True)
        # After a rescan: its time, the next one an hour later, due from then on.
        self.process([sf("a", "A", "a@x", t1)], "--now", "2024-03-01T13:00:00Z", rescan=True, config=path)
        (line,) = self.status(*conf, "--now", "2024-03-01T13:59:59Z")
        self.assertEqual(line["records"], 1)
        self.assertEqual(line["rescan"], {"active": False, "last": "2024-03-01T13:00:00.000Z",
                                          "next_due": "2024-03-01T14:00:00.000Z", "due": False})
        (line,) = self.status(*conf, "--now", "2024-03-01T14:00:00Z")
        self.assertTrue(line["rescan"]["due"])
        # A configuration without a schedule: null.
        (line,) = self.status("--config", self.config, "--resource", "contacts", "--now", "2024-03-01T14:00:00Z")
        self.assertEqual(line["rescan"], {"active": False, "last": "2024-03-01T13:00:00.000Z",
                                          "next_due": None, "due": None})
        # --config and --resource go together.
        for args in (("--config", path), ("--resource", "contacts"), ("--instance", "x")):
            rc, _, err = self.run_cli("status", "--state", self.state, *args, check_rc=2)
            self.assertIn("needs", err)

    def test_status_and_since_only_read(self):
        # A path that does not exist stays so: no file, no partition.
        for args in (("since",), ("since", "--url"), ("status", "--state", self.state),
                     ("status", "--state", self.state, "--config", self.config, "--resource", "contacts")):
            with self.subTest(args=args, state="missing"):
                self.run_cli(*args)
                self.assertFalse(os.path.exists(self.state))
        self.process([sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000")])
        before = self.state_files()
        for args in (("since",), ("since", "--url"), ("status", "--state", self.state),
                     ("status", "--state", self.state, "--config", self.config, "--resource", "contacts"),
                     ("status", "--state", self.state, "--config", self.config, "--resource", "contacts",
                      "--instance", "another")):
            with self.subTest(args=args, state="existing"):
                self.run_cli(*args)
                self.assertEqual(self.state_files(), before)
        # No partition was created (a detector would have interned its fingerprint), no lease taken.
        lines = self.status()
        self.assertEqual([x["partition"] for x in lines], ["default/contacts"])
        self.run_cli("since", "--instance", "fresh")
        self.assertEqual([x["partition"] for x in self.status()], ["default/contacts"])
        # A state file nobody may write to is read all the same.
        os.chmod(self.state, 0o444)
        try:
            for name in ("-wal", "-shm"):
                if os.path.exists(self.state + name):
                    os.remove(self.state + name)
            self.assertEqual(self.run_cli("since")[1].strip(), "2024-03-01T10:00:00.000+0000")
            self.assertEqual(self.status()[0]["records"], 1)
            self.assertEqual(self.state_files(), before)
        finally:
            os.chmod(self.state, 0o644)
        # An empty file (what `touch` leaves) reads as a state with nothing in it, and stays empty.
        empty = self.write("empty.db", "")
        self.assertEqual(self.status(state=empty), [])
        self.assertEqual(self.run_cli("since", state=empty)[1], "")
        self.assertEqual(os.path.getsize(empty), 0)

    def test_another_programs_sqlite_database_is_refused_and_left_untouched(self):
        import sqlite3
        foreign = os.path.join(self.dir.name, "app.db")
        db = sqlite3.connect(foreign)
        db.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers(name) VALUES ('Ada')")
        db.commit()
        schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        db.close()
        with open(foreign, "rb") as f:
            before = f.read()
        record = sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000") + "\n"
        for args in (("process",), ("rescan",), ("since",), ("reset",), ("purge",), ("status", "--state", foreign)):
            with self.subTest(args=args):
                rc, out, err = self.run_cli(*args, input_text=record, state=foreign, check_rc=2)
                self.assertIn("app.db", err)
                self.assertIn("not a sincehash state file", err)
                self.assertIn("customers", err)
                self.assertNotIn("created", out)
                db = sqlite3.connect(foreign)
                self.assertEqual(db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
                                 schema)
                self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "delete")
                db.close()
                with open(foreign, "rb") as f:
                    self.assertEqual(f.read(), before)
        # A file that is no SQLite database at all is refused the same way.
        text = self.write("notes.db", "these are my notes, not a database\n" * 100)
        rc, _, err = self.run_cli("process", input_text=record, state=text, check_rc=2)
        self.assertIn("notes.db", err)
        self.assertIn("not an SQLite database", err)
        # An empty file and a new path become state files.
        empty = self.write("empty.db", "")
        events, _ = self.process([record.strip()], state=empty)
        self.assertEqual(len(events), 1)
        events, _ = self.process([record.strip()], state=os.path.join(self.dir.name, "new.db"))
        self.assertEqual(len(events), 1)

    def test_lookback_since_is_formatted_with_the_updated_pattern(self):
        cfg = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        cfg["contacts"]["sincehash"] = {"lookback": "PT5M", "initialSince": "2020-01-01T00:00:00Z"}
        path = self.write("lb.json", json.dumps(cfg))
        _, url, _ = self.run_cli("since", "--url", config=path)
        self.assertIn("'2020-01-01T00:00:00.000Z'", url)
        self.process([sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000")], config=path)
        _, out, _ = self.run_cli("since", config=path)
        self.assertEqual(out.strip(), "2024-03-01T09:55:00.000+0000")

    def test_reset_and_forget_records(self):
        recs = [sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000")]
        self.process(recs)
        self.run_cli("reset")
        _, out, _ = self.run_cli("since")
        self.assertEqual(out, "")
        events, _ = self.process(recs)
        self.assertEqual(events, [])  # hashes kept: nothing re-fired
        self.run_cli("reset", "--forget-records")
        events, _ = self.process(recs)
        self.assertEqual(len(events), 1)

    def test_purge_with_ttl(self):
        cfg = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        cfg["contacts"]["sincehash"] = {"ttl": "P1D"}
        path = self.write("ttl.json", json.dumps(cfg))
        self.process([sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000")], "--now", "2024-03-01T12:00:00Z",
                     config=path)
        _, out, _ = self.run_cli("purge", "--now", "2024-03-02T11:00:00Z")
        self.assertEqual(json.loads(out), {"purged": 0})
        _, out, _ = self.run_cli("purge", "--now", "2024-03-02T12:00:00Z")
        self.assertEqual(json.loads(out), {"purged": 1})

    def test_rescan_reports_deletions_once(self):
        t = "2024-03-01T10:00:00.000+0000"
        self.process([sf(i, "N", i + "@x", t) for i in "abc"])
        events, s = self.process([sf(i, "N", i + "@x", t) for i in "ac"], rescan=True)
        self.assertEqual([(e["type"], e["id"], e["record"], e["updated"]) for e in events],
                         [("deleted", "b", None, None)])
        self.assertEqual(s["deleted"], 1)
        events, s = self.process([sf(i, "N", i + "@x", t) for i in "ac"], rescan=True)
        self.assertEqual(events, [])

    # -- errors and exit codes ------------------------------------------------------------------

    def test_usage_and_configuration_errors_exit_2(self):
        rc, _, err = self.run_cli("process", "--bogus", check_rc=2)
        self.assertIn("--bogus", err)
        rc, _, err = self.run_cli("frobnicate", check_rc=2)
        cfg = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        cfg["contacts"]["sincehash"] = {"tll": "P1D", "lookback": "soon"}
        cfg["contacts"]["idFeild"] = "Id"
        path = self.write("bad.json", json.dumps(cfg))
        rc, _, err = self.run_cli("process", config=path, check_rc=2)
        self.assertIn("tll", err)
        self.assertIn("idFeild", err)
        self.assertIn("lookback", err)
        self.assertLess(err.index("tll"), err.index("lookback"))  # unknown keys first
        rc, _, err = self.run_cli("process", config=self.write("nojson.json", "{"), check_rc=2)
        rc, _, err = self.run_cli("since", config=self.config, check_rc=None)
        self.assertEqual(rc, 0)

    def test_store_failure_exits_1(self):
        rc, _, err = self.run_cli("process", state=os.path.join(self.dir.name, "no", "such", "dir", "s.db"),
                                  input_text=sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000") + "\n",
                                  check_rc=1)
        self.assertIn("sincehash:", err)

    def test_help_for_every_command(self):
        for cmd in ["process", "rescan", "since", "reset", "purge", "status", "demo"]:
            p = subprocess.run([BIN, cmd, "--help"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, cmd)
            self.assertIn("usage: sincehash " + cmd, p.stdout)
        p = subprocess.run([BIN, "--help"], capture_output=True, text=True)
        self.assertIn("rescan", p.stdout)
        self.assertIn("sqlite:PATH", p.stdout)  # the state URIs this build supports

    def test_version(self):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include", "sincehash",
                               "version.hpp")) as f:
            parts = {}
            for line in f:
                words = line.split()
                if len(words) == 3 and words[0] == "#define" and words[1].startswith("SINCEHASH_VERSION_"):
                    parts[words[1][len("SINCEHASH_VERSION_"):]] = words[2]
        version = "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts["PATCH"])
        p = subprocess.run([BIN, "--version"], capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "sincehash " + version))

    def test_full_device_commits_nothing(self):
        recs = [sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000")]
        with open("/dev/full", "w") as full:
            rc, _, err = self.run_cli("process", input_text=recs[0] + "\n", stdout=full, check_rc=1)
        self.assertIn("writing the events failed", err)
        events, s = self.process(recs)
        self.assertEqual(len(events), 1)  # not committed by the failed run
        self.assertIsNone(s["since_before"])

    def test_full_device_commits_nothing_with_one_thread_or_several(self):
        # Three batches; with more than one thread the next is read while the first is written.
        recs = [sf(str(i), "A", "%d@x" % i, "2024-03-01T10:00:00.000+0000") for i in range(25000)]
        text = "".join(r + "\n" for r in recs)
        for threads in ("1", "2", "3"):
            with self.subTest(threads=threads):
                state = os.path.join(self.dir.name, "full-%s.db" % threads)
                with open("/dev/full", "w") as full:
                    _, _, err = self.run_cli("process", "--threads", threads, input_text=text, stdout=full,
                                             check_rc=1, state=state)
                self.assertIn("writing the events failed", err)
                _, since, _ = self.run_cli("since", state=state)
                self.assertEqual(since.strip(), "")  # no offset committed
                events, s = self.process(recs, "--threads", threads, state=state)
                self.assertEqual(len(events), 25000)  # no state committed either

    def test_closed_pipe_commits_nothing(self):
        recs = "".join(sf(str(i), "N", f"{i}@x", "2024-03-01T10:00:00.000+0000") + "\n" for i in range(5000))
        p = subprocess.Popen([BIN, "process", "--config", self.config, "--resource", "contacts", "--state",
                              self.state], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()  # the reader goes away before anything is read
        _, err = p.communicate(recs.encode(), timeout=60)
        self.assertEqual(p.returncode, 1, err)
        events, _ = self.process(["" + sf("0", "N", "0@x", "2024-03-01T10:00:00.000+0000")])
        self.assertEqual(len(events), 1)

    def test_sigkill_mid_run_loses_no_record(self):
        n = 60000  # half of it holds several whole batches of 10,000
        ids = [str(i) for i in range(n)]
        text = "".join(sf(i, "N", i + "@x", "2024-03-01T10:%02d:%02d.000+0000" % (int(i) // 60 % 60, int(i) % 60)) + "\n"
                       for i in ids)
        out_path = os.path.join(self.dir.name, "killed.out")
        with open(out_path, "wb") as out:
            p = subprocess.Popen([BIN, "process", "--config", self.config, "--resource", "contacts", "--state",
                                  self.state], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.DEVNULL)
            half = len(text) // 2
            p.stdin.write(text[:half].encode())
            p.stdin.flush()
            time.sleep(0.5)
            p.send_signal(signal.SIGKILL)
            p.wait()
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
        delivered = set()
        with open(out_path) as f:
            for line in f:
                if line.endswith("\n"):
                    delivered.add(json.loads(line)["id"])
        events, _ = self.process(text.splitlines())
        again = {e["id"] for e in events}
        self.assertEqual(set(ids) - delivered - again, set())
        self.assertGreater(len(delivered), 0)

    def test_threads_files_and_pipes_give_the_same_output_and_state(self):
        # Several batches (10,000 records each) with copies of ids, watched and unwatched changes,
        # stale copies and invalid lines; read from a regular file (mapped) and from a pipe, with
        # one thread and with several (the next batch read while the current one is classified).
        lines = []
        for i in range(32000):
            id_ = str(i % 13000)
            if i % 997 == 0:
                lines.append('{"Id":"%s","Email":' % id_)  # not JSON
                continue
            minute, second = (i // 60) % 60, i % 60
            lines.append(sf(id_, "N%d" % (i % 3), id_ + "@x", "2024-03-01T%02d:%02d:%02d.000+0000" %
                            (10 + (i * 7) % 5, minute, second), extra=str(i)))
        text = "".join(l + "\n" for l in lines)
        path = self.write("input.ndjson", text)
        results = []
        for threads, from_file in (("1", True), ("3", True), ("2", False), ("1", False)):
            state = os.path.join(self.dir.name, "state-%s-%s.db" % (threads, from_file))
            rejects = os.path.join(self.dir.name, "rejects-%s-%s" % (threads, from_file))
            cmd = [BIN, "process", "--config", self.config, "--resource", "contacts", "--state", state,
                   "--threads", threads, "--rejects", rejects, "--now", "2024-03-05T00:00:00Z"]
            runs = []
            for _ in range(2):  # a first sync, then the same records again
                if from_file:
                    with open(path, "rb") as f:
                        p = subprocess.run(cmd, stdin=f, capture_output=True, timeout=120)
                else:
                    p = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                runs.append((p.stdout, p.stderr.decode().strip().splitlines()[-1]))
            with open(rejects) as f:
                runs.append(f.read())
            _, since, _ = self.run_cli("since", state=state)
            runs.append(since)
            results.append(runs)
        first_events = [json.loads(l) for l in results[0][0][0].decode().splitlines()]
        self.assertGreater(len(first_events), 10000)
        self.assertEqual(json.loads(results[0][0][1])["invalid"], 33)
        self.assertGreater(json.loads(results[0][1][1])["unchanged"], 10000)
        names = ("first sync events", "first sync summary", "repeat sync events", "repeat sync summary",
                 "rejects", "since")
        expected = [results[0][0][0], results[0][0][1], results[0][1][0], results[0][1][1], results[0][2],
                    results[0][3]]
        for k, other in enumerate(results[1:], 1):
            got = [other[0][0], other[0][1], other[1][0], other[1][1], other[2], other[3]]
            for name, e, g in zip(names, expected, got):
                # Compared whole, reported briefly (a diff of megabytes would take minutes).
                self.assertTrue(e == g, "run %d differs from the first in its %s" % (k, name))

    def test_records_from_a_pipe_are_processed_and_committed_before_more_arrive(self):
        # A poller that writes a page and then waits: its events come out, and their state is
        # committed, while the pipe is still open.
        import select
        t = "2024-03-01T10:00:00.000+0000"
        p = subprocess.Popen([BIN, "process", "--config", self.config, "--resource", "contacts", "--state",
                              self.state], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            p.stdin.write("".join(sf(str(i), "N", "%d@x" % i, t) + "\n" for i in range(3)).encode())
            p.stdin.flush()
            got = b""
            deadline = time.time() + 20
            while got.count(b"\n") < 3 and time.time() < deadline:
                ready, _, _ = select.select([p.stdout], [], [], 0.2)
                if ready:
                    got += os.read(p.stdout.fileno(), 65536)
            self.assertEqual([json.loads(l)["id"] for l in got.decode().splitlines()], ["0", "1", "2"])
            since = ""
            while since != t and time.time() < deadline:  # the commit follows the flush
                _, since, _ = self.run_cli("since")
                since = since.strip()
                time.sleep(0.05)
            self.assertEqual(since, t)
            p.stdin.write((sf("3", "N", "3@x", "2024-03-01T11:00:00.000+0000") + "\n").encode())
            p.stdin.close()
            rest = b""
            while True:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                rest += chunk
            rest = rest.decode().splitlines()
            self.assertEqual([json.loads(l)["id"] for l in rest], ["3"])
            self.assertEqual(p.wait(timeout=20), 0)
            self.assertEqual(json.loads(p.stderr.read().decode().strip().splitlines()[-1])["processed"], 4)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def test_events_written_through_a_slow_pipe_arrive_whole(self):
        # Writes to a pipe may be partial: every event line must still arrive whole and in order.
        n = 20000
        text = "".join(sf(str(i), "N" * 50, "%d@x" % i, "2024-03-01T10:00:00.000+0000") + "\n" for i in range(n))
        src = self.write("in.ndjson", text)
        with open(src, "rb") as stdin:
            p = subprocess.Popen([BIN, "process", "--config", self.config, "--resource", "contacts", "--state",
                                  self.state], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            got = b""
            while True:
                chunk = os.read(p.stdout.fileno(), 1000)
                if not chunk:
                    break
                got += chunk
                if len(got) % 50 == 0:
                    time.sleep(0.001)
            self.assertEqual(p.wait(timeout=60), 0)
            p.stdout.close()
            p.stderr.close()
        ids = [json.loads(line)["id"] for line in got.decode().splitlines()]
        self.assertEqual(ids, [str(i) for i in range(n)])

    def test_demo_runs(self):
        rc, out, err = self.run_cli("demo")
        self.assertIn("pipe_offset", out)
        self.assertIn("deleted", out)
        changed = [json.loads(line) for line in out.splitlines() if line.startswith('{"type":"updated"')]
        self.assertIn(["properties.email"], [e.get("changed") for e in changed])

    # -- --key-file: encrypted state, keyed hashing ----------------------------------------------

    def key_file(self, name="keys.txt", lines=("1 " + "ab" * 32,), mode=0o600):
        path = self.write(name, "".join(line + "\n" for line in lines))
        os.chmod(path, mode)
        return path

    def test_key_file_encrypts_the_state_and_keys_the_hash(self):
        if "--key-file" not in self.run_cli("--help")[1]:
            self.skipTest("this build has no libsodium")
        keys = self.key_file()
        t1 = "2024-03-01T10:00:00.000+0000"
        records = [sf("a", "Ada", "ada.lovelace@x.org", t1), sf("b", "Bob", "bob.builder@x.org", t1)]
        events, s = self.process(records, "--key-file", keys, "--now", "2024-03-03T00:00:00Z")
        self.assertEqual(len(events), 2)
        self.assertEqual(s["since_after"], t1)
        events, s = self.process(records, "--key-file", keys)
        self.assertEqual(events, [])
        self.assertEqual(s["unchanged"], 2)
        self.assertEqual(self.run_cli("since", "--key-file", keys)[1].strip(), t1)
        status = json.loads(self.run_cli("status", "--state", self.state, "--key-file", keys,
                                         "--now", "2024-03-03T00:00:00Z")[1])
        self.assertEqual((status["offset"], status["records"]), (t1, 2))
        # Listing every partition without the key: the sealed one is shown with what is in clear.
        sealed = json.loads(self.run_cli("status", "--state", self.state, "--now", "2024-03-03T00:00:00Z")[1])
        self.assertEqual((sealed["partition"], sealed["sealed"], sealed["offset"], sealed["since"], sealed["records"]),
                         ("default/contacts", True, None, None, 2))
        rc, _, err = self.run_cli("status", "--state", self.state, "--config", self.config, "--resource", "contacts",
                                  check_rc=2)
        self.assertIn("partition 'default/contacts' is encrypted; pass its --key-file", err)
        # Nothing of the records is in the state files in clear.
        blob = b""
        for suffix in ("", "-wal"):
            if os.path.exists(self.state + suffix):
                with open(self.state + suffix, "rb") as f:
                    blob += f.read()
        for needle in (b"ada.lovelace@x.org", b"bob.builder@x.org", b"2024-03-01", t1.encode()):
            self.assertNotIn(needle, blob)
        # Without the key, or with another one, the state does not open: an error, never garbage.
        rc, _, err = self.run_cli("since", check_rc=2)
        self.assertIn("partition 'default/contacts' is encrypted; pass its --key-file", err)
        other = self.key_file("other.txt", ("1 " + "cd" * 32,))
        rc, _, err = self.run_cli("process", "--key-file", other, input_text=records[0] + "\n", check_rc=1)
        self.assertIn("cannot be opened", err)
        # Rotation: a newer key writes, the old one still opens; the new key id re-baselines
        # records silently instead of firing them as changed.
        rotated = self.key_file("rotated.txt", ("1 " + "ab" * 32, "2 " + "ef" * 32))
        events, s = self.process(records, "--key-file", rotated)
        self.assertEqual(events, [])
        events, s = self.process([sf("a", "Ada", "ada@new.org", "2024-03-02T10:00:00.000+0000")],
                                 "--key-file", rotated)
        self.assertEqual([e["type"] for e in events], ["updated"])
        self.assertEqual(self.run_cli("purge", "--key-file", rotated)[1].strip(), '{"purged":0}')

    def test_report_changes_with_a_key_file_seals_the_field_digests(self):
        if "--key-file" not in self.run_cli("--help")[1]:
            self.skipTest("this build has no libsodium")
        keys = self.key_file()
        config = self.changes_config("changes.json")
        t1, t2 = "2024-03-01T10:00:00.000+0000", "2024-03-02T10:00:00.000+0000"
        events, _ = self.process([sf("a", "Ada", "a@x", t1)], "--key-file", keys, config=config)
        self.assertEqual([e["changed"] for e in events], [None])
        events, _ = self.process([sf("a", "Ada", "b@x", t2)], "--key-file", keys, config=config)
        self.assertEqual([e["changed"] for e in events], [["Email"]])
        # Another key re-baselines: its per-field digests are keyed differently.
        rotated = self.key_file("rotated.txt", ("1 " + "ab" * 32, "2 " + "ef" * 32))
        events, s = self.process([sf("a", "Ada", "b@x", t2)], "--key-file", rotated, config=config)
        self.assertEqual((events, s["unchanged"]), ([], 1))
        events, _ = self.process([sf("a", "Eva", "b@x", "2024-03-03T10:00:00.000+0000")], "--key-file", rotated,
                                 config=config)
        self.assertEqual([e["changed"] for e in events], [["FirstName"]])

    def test_a_number_beyond_double_range_in_the_config_is_a_configuration_error(self):
        for text in ('{"configuration": 1e999}',
                     json.dumps({"event.poller.configuration": '{"contacts":{"idField":1e999}}'})):
            config = self.write("huge.json", text)
            rc, _, err = self.run_cli("since", config=config, check_rc=2)
            self.assertIn("1e999", err)
            self.assertIn("too large", err)

    def test_bad_key_files_are_usage_errors_naming_the_line(self):
        if "--key-file" not in self.run_cli("--help")[1]:
            self.skipTest("this build has no libsodium")
        bad = self.key_file("bad.txt", ("# comment", "1 " + "ab" * 31))
        rc, _, err = self.run_cli("since", "--key-file", bad, check_rc=2)
        self.assertIn("bad.txt:2: the key must be 64 hexadecimal digits", err)
        self.assertNotIn("ab" * 31, err)
        rc, _, err = self.run_cli("since", "--key-file", os.path.join(self.dir.name, "missing"), check_rc=2)
        self.assertIn("cannot be read", err)

    def test_key_files_open_to_others_directories_and_bad_digits_are_refused(self):
        if "--key-file" not in self.run_cli("--help")[1]:
            self.skipTest("this build has no libsodium")
        for mode in (0o644, 0o640, 0o604, 0o660):
            with self.subTest(mode=oct(mode)):
                keys = self.key_file("open.txt", mode=mode)
                for args in (("since",), ("status", "--state", self.state)):
                    rc, _, err = self.run_cli(*args, "--key-file", keys, check_rc=2)
                    self.assertIn("open.txt", err)
                    self.assertIn("permissions 0%o" % mode, err)
                    self.assertIn("chmod 600", err)
                rc, _, err = self.run_cli("process", "--key-file", keys, check_rc=2,
                                          input_text=sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000") + "\n")
                self.assertIn("chmod 600", err)
                self.assertFalse(os.path.exists(self.state))  # refused before the state was opened
        self.run_cli("since", "--key-file", self.key_file("owner.txt", mode=0o600))
        self.run_cli("since", "--key-file", self.key_file("owner-ro.txt", mode=0o400))
        rc, _, err = self.run_cli("since", "--key-file", self.dir.name, check_rc=2)
        self.assertIn(self.dir.name, err)
        self.assertIn("is a directory", err)
        key = "ab" * 10 + "g" + "ab" * 21 + "a"
        rc, _, err = self.run_cli("since", "--key-file", self.key_file("digit.txt", ("# keys", "1  " + key)),
                                  check_rc=2)
        self.assertIn("digit.txt:2:", err)
        self.assertIn("'g' at column 24", err)
        self.assertNotIn("ab" * 10, err)  # no key material
        rc, _, err = self.run_cli("since", "--key-file", self.key_file("one.txt", ("ab" * 31 + "z" + "a",)),
                                  check_rc=2)
        self.assertIn("'z' at column 63", err)

    # -- input shapes and framing ----------------------------------------------------------------

    def test_pretty_printed_input_gives_one_line_events_and_rejects(self):
        t = "2024-03-01T10:00:00.000+0000"
        good = {"Id": "a", "FirstName": "A  b", "Email": "a@x", "LastModifiedDate": t,
                "Note": "x\ny {\"q\": [1, 2]}"}
        bad = {"Id": "b", "FirstName": "B", "LastModifiedDate": "yesterday"}
        compact = json.dumps(good, separators=(",", ":"))
        shapes = {"array": (json.dumps([good, bad], indent=2), True),
                  "page": (json.dumps({"total": 2, "results": [good, bad]}, indent=2), True),
                  "one record": (json.dumps(good, indent=4), False)}
        for name, (text, with_reject) in shapes.items():
            with self.subTest(shape=name):
                state = os.path.join(self.dir.name, "pretty-%s.db" % name)
                rejects = os.path.join(self.dir.name, "pretty-%s.rejects" % name)
                _, out, _ = self.run_cli("process", "--state", state, "--rejects", rejects, input_text=text)
                lines = out.splitlines()
                self.assertEqual(len(lines), 1, out)
                self.assertEqual(json.loads(lines[0])["record"], good)
                # white space between tokens removed, string contents untouched
                self.assertTrue(lines[0].endswith(',"record":' + compact + "}"), lines[0])
                with open(rejects) as f:
                    rej = f.read().splitlines()
                self.assertEqual(len(rej), 1 if with_reject else 0, rej)
                if with_reject:
                    self.assertEqual(json.loads(rej[0])["record"], bad)
        # A record without line breaks keeps its bytes exactly, in an array too.
        raw = '{"Id": "c",   "FirstName":"C  c" , "LastModifiedDate":"%s"}' % t
        _, out, _ = self.run_cli("process", "--state", os.path.join(self.dir.name, "raw.db"),
                                 input_text="[\n  " + raw + "\n]\n")
        self.assertTrue(out.splitlines()[0].endswith(',"record":' + raw + "}"), out)

    def test_ndjson_carriage_returns_give_one_line_events(self):
        # CRLF line ends are not part of a record; a carriage return between a record's tokens
        # would break its event's line for a reader that splits on it: that record is compacted.
        t = "2024-03-01T10:00:00.000+0000"
        crlf, plain = sf("a", "A", "a@x", t), sf("c", "C", "c@x", t)
        inner = sf("b", "B", "b@x", t).replace(',"Email"', ',\r"Email"')
        _, out, _ = self.run_cli("process", "--state", os.path.join(self.dir.name, "cr.db"),
                                 input_text=crlf + "\r\n" + inner + "\r\n" + plain + "\n")
        lines = out.splitlines()  # splits at "\r" too
        self.assertEqual([json.loads(line)["id"] for line in lines], ["a", "b", "c"], out)
        self.assertTrue(lines[0].endswith(',"record":' + crlf + "}"), lines[0])
        self.assertTrue(lines[1].endswith(',"record":' + inner.replace("\r", "") + "}"), lines[1])
        self.assertTrue(lines[2].endswith(',"record":' + plain + "}"), lines[2])

    def test_truncated_or_trailing_page_is_an_input_error(self):
        recs = [json.loads(sf(str(i), "N", "%d@x" % i, "2024-03-01T10:00:00.000+0000")) for i in range(3)]
        page = json.dumps({"total": 3, "results": recs})
        pretty = json.dumps({"records": recs, "done": True}, indent=2)
        array = json.dumps(recs)
        cases = [  # input, the message, the byte offset it names
            ("truncated page", page[:-20], "cut off", len(page) - 20),
            ("truncated pretty page", pretty[:-30], "cut off", len(pretty) - 30),
            ("page and data after it", page + " trailing\n", "after", len(page) + 1),
            ("two pages", page + page, "after", len(page)),
            ("pretty page and data after it", pretty + "\n{}\n", "after", len(pretty) + 1),
            ("truncated array", array[:-20], "cut off", array.index('{"Id": "2"')),
            ("unclosed array", array[:-1], "not closed", len(array) - 1),
            ("array and data after it", array + " x", "after", len(array) + 1),
            ("no comma in an array", array.replace("}, {", "} {", 1), "expected", array.index("}, {") + 2),
        ]
        for name, text, what, at in cases:
            with self.subTest(case=name):
                state = os.path.join(self.dir.name, "cut.db")
                rc, out, err = self.run_cli("process", "--state", state, input_text=text, check_rc=1)
                self.assertIn(what, err)
                self.assertIn("at byte %d:" % at, err)
                _, since, _ = self.run_cli("since", state=state)
                self.assertEqual(since, "")  # nothing committed
        # NDJSON whose first line is an object is still NDJSON
        events, s = self.process([sf("x", "N", "x@x", "2024-03-01T10:00:00.000+0000"), "not json"])
        self.assertEqual((len(events), s["invalid"]), (1, 1))

    def test_a_byte_order_mark_is_skipped(self):
        recs = [json.loads(sf(str(i), "N", "%d@x" % i, "2024-03-01T10:00:00.000+0000")) for i in range(2)]
        shapes = {"ndjson": "".join(json.dumps(r) + "\n" for r in recs), "array": json.dumps(recs),
                  "page": json.dumps({"results": recs}, indent=1), "one record": json.dumps(recs[0], indent=1)}
        for name, text in shapes.items():
            data = b"\xef\xbb\xbf" + text.encode()
            for source in ("file", "pipe"):
                with self.subTest(shape=name, source=source):
                    state = os.path.join(self.dir.name, "bom-%s-%s.db" % (name, source))
                    cmd = [BIN, "process", "--config", self.config, "--resource", "contacts", "--state", state]
                    if source == "file":
                        path = os.path.join(self.dir.name, "bom.in")
                        with open(path, "wb") as f:
                            f.write(data)
                        with open(path, "rb") as f:
                            p = subprocess.run(cmd, stdin=f, capture_output=True, timeout=60)
                    else:
                        p = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    summary = json.loads(p.stderr.decode().splitlines()[-1])
                    self.assertEqual(summary["invalid"], 0, p.stderr)
                    ids = [json.loads(l)["id"] for l in p.stdout.decode().splitlines()]
                    self.assertEqual(ids, ["0", "1"] if name != "one record" else ["0"])

    def test_rejects_are_valid_json_and_keep_the_id_type(self):
        t = "2024-03-01T10:00:00.000+0000"
        lines = [b'{"Id":"u","FirstName":"A\xff\xfeB","LastModifiedDate":"' + t.encode() + b'"}',
                 b'not json \xc3\x28 \xe2\x82 either \xf0\x9f\x98\x80',
                 b'{"Id":9,"LastModifiedDate":"yesterday"}',
                 b'{"Id":"s","LastModifiedDate":"yesterday"}',
                 b'{"FirstName":"no id","Other":tru}',
                 b'{"FirstName":"no id","Other":[1,}']
        rejects = os.path.join(self.dir.name, "rejects.ndjson")
        p = subprocess.run([BIN, "process", "--config", self.config, "--resource", "contacts", "--state", self.state,
                            "--rejects", rejects], input=b"\n".join(lines) + b"\n", capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(rejects, "rb") as f:
            raw = f.read().splitlines()
        rej = {}
        for line in raw:
            r = json.loads(line.decode("utf-8"))  # strict: every rejects line is valid UTF-8 and JSON
            rej[r["line"]] = r
        self.assertEqual(sorted(rej), [1, 2, 3, 4, 5, 6])
        self.assertEqual(rej[1]["record"], '{"Id":"u","FirstName":"A\ufffd\ufffdB","LastModifiedDate":"%s"}' % t)
        self.assertEqual(rej[2]["record"], "not json \ufffd( \ufffd either \U0001F600")
        self.assertEqual(rej[3]["id"], 9)  # a number stays a number
        self.assertEqual(rej[3]["record"], {"Id": 9, "LastModifiedDate": "yesterday"})
        self.assertEqual(rej[4]["id"], "s")
        self.assertEqual(rej[5]["record"], lines[4].decode())  # not valid JSON: a string
        self.assertEqual(rej[6]["record"], lines[5].decode())

    def test_since_and_purge_fail_when_their_output_cannot_be_written(self):
        self.process([sf("a", "A", "a@x", "2024-03-01T10:00:00.000+0000")])  # an offset to print
        for args in (("since",), ("since", "--url"), ("purge",), ("status", "--state", self.state)):
            with self.subTest(args=args, to="a full device"):
                with open("/dev/full", "w") as full:
                    _, _, err = self.run_cli(*args, stdout=full, check_rc=1)
                self.assertIn("writing", err)
            with self.subTest(args=args, to="a closed pipe"):
                r, w = os.pipe()
                os.close(r)
                try:
                    _, _, err = self.run_cli(*args, stdout=w, check_rc=1)
                finally:
                    os.close(w)
                self.assertIn("writing", err)

    def test_a_failed_run_prints_its_summary_with_what_it_committed(self):
        t = "2024-03-01T10:00:00.000+0000"
        recs = [json.loads(sf(str(i), "N", "%d@x" % i, t)) for i in range(25000)]
        recs[7] = {"Id": "7", "LastModifiedDate": "not a date"}  # invalid: counts as committed input
        full = json.dumps(recs)
        cut = full[:-30]  # the last element is cut off: the first two batches (20,000) are committed
        for threads in ("1", "3"):
            with self.subTest(threads=threads):
                state = os.path.join(self.dir.name, "partial-%s.db" % threads)
                _, out, err = self.run_cli("process", "--threads", threads, "--state", state,
                                           "--rejects", os.devnull, input_text=cut, check_rc=1)
                last = err.strip().splitlines()
                self.assertIn("cut off", last[-2])
                summary = json.loads(last[-1])  # the summary is still the last line
                self.assertEqual(summary["committed"], 20000)
                self.assertEqual(summary["since_after"], t)
                ids = [json.loads(l)["id"] for l in out.splitlines()]
                committed_ids = [str(i) for i in range(20000) if i != 7]
                self.assertEqual(ids[:len(committed_ids)], committed_ids)  # the first lines written
                # what was committed is not dispatched again; the rest is
                _, out, err = self.run_cli("process", "--threads", threads, "--state", state,
                                           "--rejects", os.devnull, input_text=full)
                self.assertEqual([json.loads(l)["id"] for l in out.splitlines()],
                                 [str(i) for i in range(20000, 25000)])
                summary = json.loads(err.strip().splitlines()[-1])
                self.assertEqual((summary["processed"], summary["committed"]), (25000, 25000))
        _, s = self.process([sf("a", "A", "a@x", t)], "--dry-run")
        self.assertEqual((s["processed"], s["committed"]), (1, 0))
        _, s = self.process([sf("a", "A", "a@x", t), "oops"])
        self.assertEqual((s["processed"], s["committed"]), (2, 2))

    def test_far_future_dates_do_not_advance_the_offset_by_default(self):
        now = "2024-03-01T12:00:00Z"
        near, far = "2024-03-01T12:10:00.000+0000", "2024-03-01T12:20:00.000+0000"  # 10 and 20 minutes ahead
        events, s = self.process([sf("a", "A", "a@x", near)], "--now", now)
        self.assertEqual(s["since_after"], near)  # within the default 15 minutes
        events, s = self.process([sf("b", "B", "b@x", far)], "--now", now)
        self.assertEqual([e["id"] for e in events], ["b"])  # dispatched all the same
        self.assertEqual(s["since_after"], near)  # but the offset does not advance
        self.assertEqual(self.run_cli("since")[1].strip(), near)
        cfg = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        for skew, expected in (("none", far), ("PT30M", far), ("PT5M", None)):
            with self.subTest(maxFutureSkew=skew):
                cfg["contacts"]["sincehash"] = {"maxFutureSkew": skew}
                path = self.write("skew.json", json.dumps(cfg))
                state = os.path.join(self.dir.name, "skew-%s.db" % skew)
                events, s = self.process([sf("c", "C", "c@x", far)], "--now", now, config=path, state=state)
                self.assertEqual(len(events), 1)
                self.assertEqual(s["since_after"], expected)
        cfg["contacts"]["sincehash"] = {"maxFutureSkew": "never"}
        _, _, err = self.run_cli("since", config=self.write("bad-skew.json", json.dumps(cfg)), check_rc=2)
        self.assertIn("maxFutureSkew", err)
        self.assertIn('"none"', err)

    def test_partitions_of_distinct_pairs_never_collide(self):
        import sqlite3
        cfg = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        for name in ("c", "b/c", "b%2Fc"):
            cfg[name] = cfg["contacts"]
        path = self.write("many.json", json.dumps(cfg))
        rec = sf("x", "X", "x@x", "2024-03-01T10:00:00.000+0000", created="2024-03-01T10:00:00.000+0000")
        pairs = [("a/b", "c"), ("a", "b/c"), ("a", "b%2Fc"), ("a%2Fb", "c"), ("default", "contacts"),
                 ("inst-1", "contacts")]
        for instance, resource in pairs:
            with self.subTest(instance=instance, resource=resource):
                p = subprocess.run([BIN, "process", "--config", path, "--state", self.state, "--instance", instance,
                                    "--resource", resource], input=(rec + "\n").encode(), capture_output=True,
                                   timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr)
                events = [json.loads(l) for l in p.stdout.decode().splitlines()]
                self.assertEqual([e["type"] for e in events], ["created"])  # a partition of its own
        with sqlite3.connect(self.state) as db:
            names = sorted(bytes(r[0]).decode() if isinstance(r[0], bytes) else r[0]
                           for r in db.execute("SELECT name FROM partitions"))
        # names without '/' or '%' keep their plain keys, so existing state is found again
        self.assertIn("default/contacts", names)
        self.assertIn("inst-1/contacts", names)
        self.assertEqual(len(names), len(pairs))
        self.assertTrue(all(n.count("/") == 1 for n in names), names)

    def test_messages_name_the_real_problem_and_the_key_or_option(self):
        # a --config that is a directory
        rc, _, err = self.run_cli("since", config=self.dir.name, check_rc=2)
        self.assertIn("--config", err)
        self.assertIn("is a directory", err)
        self.assertNotIn("not valid JSON", err)
        # --state sqlite: with no path, and a state that is a directory
        for state in ("sqlite:", self.dir.name, "sqlite:" + self.dir.name):
            with self.subTest(state=state):
                rc, _, err = self.run_cli("since", state=state, check_rc=2)
                self.assertIn("--state", err)
                self.assertNotIn("WAL", err)
                self.assertIn("no path" if state == "sqlite:" else "is a directory", err)
        # a number beyond a double's range names its key, in the file and in a string-encoded poller
        cfg = json.loads(SEED_CONFIG["configuration"]["event.poller.configuration"])
        text = json.dumps(cfg)[:-2] + ', "sincehash": {"ttl": 1e400}}}'
        rc, _, err = self.run_cli("since", config=self.write("ttl.json", text), check_rc=2)
        self.assertIn("/contacts/sincehash/ttl", err)
        self.assertIn("1e400", err)
        self.assertIn("too large", err)
        text = json.dumps({"configuration": {"event.poller.configuration": '{"contacts":{"idField":"Id","x":[1,-2e999]}}'}})
        rc, _, err = self.run_cli("since", config=self.write("enc.json", text), check_rc=2)
        self.assertIn("/configuration/event.poller.configuration/contacts/x/1", err)
        self.assertIn("-2e999", err)


if __name__ == "__main__":
    BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
