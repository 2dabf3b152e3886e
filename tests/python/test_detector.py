"""The module's semantics, on every back end (the `state` fixture): what the command-line tool's
tests check, through `import sincehash`. Expected outcomes are computed from the records given."""
import datetime
import json

import pytest

import sincehash
from conftest import ndjson, poller, rec

T1, T2, T3 = "2024-03-01T10:00:00.000Z", "2024-03-01T11:00:00.000Z", "2024-03-01T12:00:00.000Z"


def sync(d, records):
    """process + commit, as a connector does after delivering; returns the batch."""
    b = d.process(records)
    d.commit(b)
    return b


def kinds(batch):
    return [(e["type"], e["id"]) for e in batch.events]


def test_first_sync_dispatches_every_record_and_a_repeat_none(state):
    records = [rec("1", T1), rec("2", T2), rec("3", T1)]
    with sincehash.Detector(poller(), state, "contacts") as d:
        assert d.since() is None
        b = sync(d, ndjson(*records))
        assert kinds(b) == [("created", "1"), ("created", "2"), ("created", "3")]
        assert [e["record"] for e in b.events] == records  # the original text, byte for byte
        assert [e["updated"] for e in b.events] == [T1, T2, T1]
        assert b.summary == {"processed": 3, "committed": 3, "created": 3, "updated": 0, "deleted": 0,
                             "unchanged": 0, "stale": 0, "invalid": 0, "since_before": None, "since_after": T2}
        assert d.since() == T2
        again = sync(d, ndjson(*records))
        assert again.events == []
        assert again.summary["unchanged"] == 3 and again.summary["since_before"] == T2


def test_only_a_watched_change_is_dispatched(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        sync(d, [rec("1", T1), rec("2", T1)])
        b = sync(d, [rec("1", T2, other="changed, not watched"), rec("2", T2, a="changed")])
        assert kinds(b) == [("updated", "2")]
        assert json.loads(b.events[0]["record"])["a"] == "changed"
        assert b.summary["unchanged"] == 1 and b.summary["updated"] == 1
        # The newer date of the unwatched change was stored: an older copy is now stale.
        late = d.process([rec("1", T1, a="old copy")])
        assert late.events == [] and late.summary["stale"] == 1


def test_ties_at_the_offset_lose_nothing_and_repeat_nothing(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        sync(d, [rec("1", T1), rec("2", T2)])
        assert d.since() == T2  # asked with >=: what shares the offset comes back
        b = sync(d, [rec("2", T2), rec("3", T2), rec("4", T3)])
        assert kinds(b) == [("created", "3"), ("created", "4")]
        assert b.summary["unchanged"] == 1 and d.since() == T3


def test_a_stale_copy_is_not_dispatched_and_changes_nothing(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        sync(d, [rec("1", T2)])
        b = sync(d, [rec("1", T1, a="older")])
        assert b.events == [] and b.summary["stale"] == 1
        b = d.process([rec("1", T2)])  # the state is still the T2 copy's
        assert b.events == [] and b.summary["unchanged"] == 1


def test_created_or_updated_from_the_created_date(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        # First sync: created equals updated → created; created earlier and no offset → updated.
        b = sync(d, [rec("1", T1, c=T1), rec("2", T1, c="2023-01-01T00:00:00.000Z")])
        assert kinds(b) == [("created", "1"), ("updated", "2")]
        # With an offset stored: created at or after it → created, before it → updated.
        b = sync(d, [rec("3", T3, c=T2), rec("4", T3, c="2024-02-01T00:00:00.000Z")])
        assert kinds(b) == [("created", "3"), ("updated", "4")]
        # A record with a state is always updated, whatever its dates say.
        b = sync(d, [rec("3", "2024-03-01T13:00:00.000Z", a="new", c="2024-03-01T13:00:00.000Z")])
        assert kinds(b) == [("updated", "3")]


def test_invalid_records_are_rejected_with_line_id_and_reason(state):
    text = b"\n".join([
        rec("1", T1).encode(),
        b"{not json",
        json.dumps({"a": "no id", "m": T1}).encode(),
        json.dumps({"id": 7, "a": "x", "m": "yesterday"}).encode(),
        json.dumps({"id": "8", "a": "x", "m": 12}).encode(),
        b"[1,2]",
        rec("2", T2).encode(),
    ]) + b"\n"
    with sincehash.Detector(poller(), state, "contacts") as d:
        b = sync(d, text)
        assert kinds(b) == [("created", "1"), ("created", "2")]
        assert [(r["line"], r["id"]) for r in b.rejects] == [(2, None), (3, None), (4, 7), (5, "8"), (6, None)]
        assert b.rejects[1]["record"] == json.dumps({"a": "no id", "m": T1})
        assert "id" in b.rejects[1]["reason"]
        assert "yesterday" in b.rejects[2]["reason"] or "date" in b.rejects[2]["reason"]
        assert b.summary["processed"] == 7 and b.summary["invalid"] == 5 and b.summary["committed"] == 7
        assert d.since() == T2


def test_every_input_shape_gives_the_same_events(state):
    records = [json.loads(rec("1", T1)), json.loads(rec("2", T2))]
    shapes = [
        ndjson(*(json.dumps(r) for r in records)),
        "\ufeff" + "\n".join(json.dumps(r) for r in records),
        json.dumps(records, indent=2),
        json.dumps({"results": records, "paging": {}}).encode(),
        json.dumps({"records": records, "done": True}),
        records,
        [json.dumps(r) for r in records],
        [json.dumps(r).encode() for r in records],
        bytearray(json.dumps(records).encode()),
        memoryview(b"[{}]\n" + ndjson(*(json.dumps(r) for r in records)) + b"\n[{}]")[5:-4],
        memoryview(bytearray(ndjson(*(json.dumps(r) for r in records)))),
    ]
    ids = None
    for i, shape in enumerate(shapes):
        with sincehash.Detector(poller(), state, "contacts", instance=f"shape{i}") as d:
            b = d.process(shape)
            assert kinds(b) == [("created", "1"), ("created", "2")], shape
            assert [json.loads(e["record"]) for e in b.events] == records
            ids = ids or [e["updated"] for e in b.events]
            assert [e["updated"] for e in b.events] == ids
    with sincehash.Detector(poller(), state, "contacts") as d:
        with pytest.raises(ValueError, match="reading the records"):
            d.process(b'[{"id":"1","m":"' + T1.encode() + b'"}')
        with pytest.raises(TypeError, match=r"records\[1\]"):
            d.process([rec("1", T1), 5])


def test_records_taken_in_place_or_copied_stay_as_given(state):
    """Bytes are read in place; a buffer that may change (a bytearray) is copied, so changing it
    after process() changes neither the events nor what commit() stores."""
    text = bytearray(ndjson(rec("1", T1), rec("2", T1)))
    page = ndjson(rec("3", T1))
    with sincehash.Detector(poller(), state, "contacts") as d:
        b, c = d.process(text), d.process(memoryview(page)[: len(page) - 1])
        text[:] = b" " * len(text)
        del page
        assert [json.loads(e["record"])["id"] for e in b.events + c.events] == ["1", "2", "3"]
        d.commit(b)
        d.commit(c)
    with sincehash.Detector(poller(), state, "contacts") as d:
        assert kinds(sync(d, ndjson(rec("1", T1), rec("2", T1), rec("3", T1)))) == []
        # A memoryview released after process(), its bytes referenced by nothing else.
        view = memoryview(ndjson(rec("4", T1), rec("5", T1)))[:-1]
        b = d.process(view)
        view.release()
        del view
        filler = [bytes([120]) * 200 for _ in range(1000)]  # would take the freed memory
        assert [json.loads(e["record"])["id"] for e in b.events] == ["4", "5"] and filler
        d.commit(b)


def test_ndjson_is_the_events_as_the_tool_writes_them(state):
    with sincehash.Detector(poller(reportChanges=True), state, "contacts") as d:
        sync(d, [rec("1", T1), rec("2", T1), rec("3", T1)])
        b = d.process(ndjson(rec("1", T2, a="A"), "{not json", rec("4", "2024-03-01 10:00"), rec("5", T3)))
        lines = b.ndjson().decode().split("\n")
        assert lines[-1] == "" and len(lines) - 1 == len(b) == 2
        for line, e in zip(lines, b.events):
            got = json.loads(line)
            assert got.pop("record") == json.loads(e["record"])
            assert got == {k: v for k, v in e.items() if k != "record"}
        assert [e["changed"] for e in b.events] == [["a"], None]
        d.commit(b)
        b = d.rescan(ndjson(rec("1", T2, a="A"), rec("5", T3)))
        assert [json.loads(line) for line in b.ndjson().splitlines()] == [
            {"type": "deleted", "id": i, "updated": None, "event_id": e["event_id"],
             "record": None} for i, e in zip(("2", "3"), b.events)]
    with sincehash.Detector(poller(), state, "contacts", instance="other") as d:
        b = d.process(ndjson(rec("1", T1)))
        assert "changed" not in json.loads(b.ndjson()) and len(b) == 1
        assert d.process(b"").ndjson() == b""


def test_nothing_is_written_before_commit(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        first = d.process([rec("1", T1)])
    with sincehash.Detector(poller(), state, "contacts") as d:
        assert d.since() is None
        again = d.process([rec("1", T1)])
        assert kinds(again) == [("created", "1")]
        assert again.events[0]["event_id"] == first.events[0]["event_id"]  # a re-delivery, same id
        d.commit(again)
        with pytest.raises(ValueError, match="committed already"):
            d.commit(again)


def test_event_ids_differ_for_a_change_and_back(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        ids = [sync(d, [rec("1", m, a=a)]).events[0]["event_id"]
               for m, a in ((T1, "A"), (T2, "B"), (T3, "A"))]
        assert len(set(ids)) == 3


def test_a_rescan_reports_the_unlisted_as_deleted(state):
    with sincehash.Detector(poller(), state, "contacts", now="2024-03-02T00:00:00Z") as d:
        sync(d, [rec("1", T1), rec("2", T1), rec("3", T1)])
        b = d.rescan([rec("1", T1), rec("3", T2, a="new")])
        assert kinds(b) == [("updated", "3"), ("deleted", "2")]
        deleted = b.events[1]
        assert deleted["record"] is None and deleted["updated"] is None
        assert b.summary["deleted"] == 1 and b.summary["processed"] == 2
        assert d.status()["records"] == 3  # a rescan's batch writes nothing before commit
        d.commit(b)
        st = d.status()
        assert st["records"] == 2 and st["rescan"]["last"] == "2024-03-02T00:00:00.000Z"
        assert not st["rescan"]["active"]
        assert kinds(sync(d, [rec("2", T1)])) == [("created", "2")]


def test_an_uncommitted_rescan_deletes_nothing(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        sync(d, [rec("1", T1), rec("2", T1)])
        assert kinds(d.rescan([rec("1", T1)])) == [("deleted", "2")]
        assert d.status()["records"] == 2
        assert kinds(d.rescan([rec("1", T1)])) == [("deleted", "2")]


def test_ttl_expires_states_and_purge_removes_them(state):
    config = poller(ttl="P1D")
    with sincehash.Detector(config, state, "contacts", now="2024-03-01T12:00:00Z") as d:
        sync(d, [rec("1", T1), rec("2", T1)])
    later = datetime.datetime(2024, 3, 3, tzinfo=datetime.timezone.utc)
    with sincehash.Detector(config, state, "contacts", now=later) as d:
        assert d.status()["records"] == 0
        b = d.process([rec("1", T1)])
        assert kinds(b) == [("created", "1")]  # an expired state is as never seen
    assert sincehash.purge(state, now="2024-03-01T13:00:00Z") == 0
    assert sincehash.purge(state, now=later) == 2
    assert sincehash.purge(state, now=later) == 0


def test_partitions_never_share_state(state):
    with sincehash.Detector(poller(), state, "contacts", instance="a") as a, \
            sincehash.Detector(poller(), state, "contacts", instance="a/b") as ab, \
            sincehash.Detector({**poller(), "deals": poller()["contacts"]}, state, "deals", instance="a") as deals:
        sync(a, [rec("1", T1)])
        assert a.partition == "a/contacts" and ab.partition == "a%2Fb/contacts"
        assert ab.since() is None and deals.since() is None
        assert kinds(ab.process([rec("1", T1)])) == [("created", "1")]
        assert kinds(deals.process([rec("1", T1)])) == [("created", "1")]
        assert a.process([rec("1", T1)]).events == []


def test_reset_forgets_the_offset_and_optionally_the_records(state):
    with sincehash.Detector(poller(), state, "contacts") as d:
        sync(d, [rec("1", T1)])
        d.reset()
        assert d.since() is None
        assert d.process([rec("1", T1)]).events == []  # the states are kept
        d.reset(forget_records=True)
        assert kinds(d.process([rec("1", T1)])) == [("created", "1")]


def test_key_file_encrypts_the_state(state, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("1 " + "ab" * 32 + "\n")
    keys.chmod(0o600)
    with sincehash.Detector(poller(), state, "contacts", key_file=str(keys)) as d:
        first = sync(d, [rec("1", T1)])
        assert d.since() == T1
    with pytest.raises(ValueError, match="encrypted.*key_file"):
        sincehash.Detector(poller(), state, "contacts").process([rec("1", T1)])
    with sincehash.Detector(poller(), state, "contacts", key_file=str(keys)) as d:
        assert d.process([rec("1", T1)]).events == []
        plain = sincehash.Detector(poller(), state, "contacts", instance="plain")
        # Keyed hashing: the same record has another event id without the keys.
        assert plain.process([rec("1", T1)]).events[0]["event_id"] != first.events[0]["event_id"]
        plain.close()
    keys.chmod(0o644)
    with pytest.raises(ValueError, match="key_file"):
        sincehash.Detector(poller(), state, "contacts", key_file=str(keys)).process([])


def test_busy_when_another_detector_holds_the_partition(state):
    holder = sincehash.Detector(poller(), state, "contacts")
    holder.process([])
    other = sincehash.Detector(poller(), state, "contacts")
    with pytest.raises(sincehash.BusyError, match="default/contacts"):
        other.process([rec("1", T1)])
    with pytest.raises(sincehash.BusyError):
        other.reset()
    assert other.since() is None  # reading needs no lease
    with sincehash.Detector(poller(), state, "contacts", instance="elsewhere") as free:
        free.process([rec("1", T1)])
    holder.close()
    assert kinds(other.process([rec("1", T1)])) == [("created", "1")]
    other.close()


def test_integer_cursor_keeps_numbers(state):
    config = {"contacts": {"idField": "id", "datesConfiguration": {"updatedDateField": "seq"},
                           "validationData": {"fields": ["a"]}, "sincehash": {"cursor": "integer"}}}
    with sincehash.Detector(config, state, "contacts") as d:
        b = sync(d, [{"id": 1, "seq": 5, "a": "x"}, {"id": 2, "seq": 9, "a": "y"}])
        assert [e["updated"] for e in b.events] == [5, 9] and [e["id"] for e in b.events] == [1, 2]
        assert b.summary["since_after"] == 9 and d.since() == "9"


def test_status_and_since_url(state):
    with sincehash.Detector(poller(rescan="P1D"), state, "contacts", now="2024-03-02T00:00:00Z") as d:
        assert d.since_url() == "/contacts?since=1970-01-01T00:00:00.000Z"
        sync(d, [rec("1", T1), rec("2", T2)])
        assert d.since_url() == "/contacts?since=2024-03-01T11:00:00.000Z"
        assert d.status() == {"partition": "default/contacts", "instance": "default", "resource": "contacts",
                              "offset": T2, "since": T2, "records": 2,
                              "rescan": {"active": False, "last": None, "next_due": None, "due": True}}


def test_report_changes_names_the_changed_watched_fields(state):
    with sincehash.Detector(poller(), state, "contacts") as d:  # off: always None
        b = sync(d, [rec("1", T1), rec("2", T1)])
        assert [e["changed"] for e in b.events] == [None, None]
    with sincehash.Detector(poller(reportChanges=True), state, "contacts") as d:
        b = sync(d, [rec("1", T1), rec("2", T2, a="A")])  # 1 unchanged: baselined silently
        assert [(e["id"], e["changed"]) for e in b.events] == [("2", None)]  # the first change: None
        b = sync(d, [rec("1", T2, b="B"), rec("2", T3, a="A", b="B", other="p")])
        assert [(e["id"], e["changed"]) for e in b.events] == [("1", ["b"]), ("2", ["b"])]
        b = sync(d, [rec("1", T3, a=None, b="B"), rec("2", T3, a="A", b="B", other="q")])
        assert [(e["id"], e["changed"]) for e in b.events] == [("1", ["a"])]  # "x" -> null
        b = sync(d, [rec("3", T3)])
        assert [(e["type"], e["changed"]) for e in b.events] == [("created", None)]
