"""Continuation (since-offsets) and event hash verification for data connectors."""
import datetime
import os
from typing import IO, Any, Callable, Iterable, Literal, Mapping, Optional, TypedDict, Union

__version__: str

class Event(TypedDict):
    type: Literal["created", "updated", "deleted"]
    id: Union[str, int, float]
    """The record's id, with its JSON type."""
    updated: Union[str, int, float, None]
    """The updated value as the source wrote it; None for 'deleted'."""
    event_id: str
    """32 hex digits: the same for a re-delivery of the same event, distinct for A→B→A."""
    record: Optional[str]
    """The record's original JSON text; None for 'deleted'."""
    changed: Optional[list[str]]
    """With `"reportChanges": true`: for an 'updated' event, the watched paths whose values changed,
    as configured and sorted; None for a 'created' event, a record re-baselined under other
    watched fields, the first change after the setting was turned on, and whenever the setting
    is off."""

class Reject(TypedDict):
    line: int
    """The 1-based input line (NDJSON) or position (an array, a list)."""
    id: Union[str, int, float, None]
    reason: str
    record: str
    """The record's text (invalid UTF-8 as U+FFFD)."""

class Summary(TypedDict):
    processed: int
    committed: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    stale: int
    invalid: int
    since_before: Union[str, int, None]
    since_after: Union[str, int, None]

class RescanStatus(TypedDict):
    active: bool
    last: Optional[str]
    next_due: Optional[str]
    due: Optional[bool]

class Status(TypedDict):
    partition: str
    instance: Optional[str]
    resource: Optional[str]
    offset: Optional[str]
    since: Optional[str]
    records: int
    rescan: RescanStatus

class ConfigError(ValueError):
    """A configuration with problems."""

    errors: list[tuple[str, str]]
    """Every problem as (JSON pointer into the configuration, message), unknown keys first."""

class StoreError(RuntimeError):
    """The state store failed; nothing of the operation was committed."""

class BusyError(RuntimeError):
    """Another run (Detector, process or worker) holds the partition's lease."""

Records = Union[bytes, bytearray, memoryview, str, Iterable[Union[Mapping[str, Any], str, bytes]]]
Now = Union[None, str, datetime.datetime]

class Batch:
    """What process() and rescan() return: deliver .events, then pass it to Detector.commit()."""

    @property
    def events(self) -> list[Event]: ...
    @property
    def rejects(self) -> list[Reject]: ...
    @property
    def summary(self) -> Summary: ...
    @property
    def committed(self) -> bool: ...
    def ndjson(self) -> bytes:
        """The events as the command-line tool writes them, one JSON object per line (UTF-8)."""
    def write_ndjson(self, file: Union[IO[bytes], IO[str]]) -> None:
        """Writes ndjson() to file; a file with a descriptor directly, without copying the records."""
    def __len__(self) -> int: ...

class Detector:
    """Classifies polled records of one partition (instance/resource) of a state.

    Holds the partition's lease from its first process(), rescan() or reset() until close() (or
    the end of a with block); another Detector on the partition then raises BusyError. Use it
    from one thread at a time. The GIL is released while a batch is parsed, hashed and committed.
    """

    def __init__(
        self,
        config: Union[str, os.PathLike[str], Mapping[str, Any]],
        state: str,
        resource: str,
        instance: str = "default",
        key_file: Optional[str] = None,
        now: Now = None,
        wait: float = 0.0,
    ) -> None:
        """config: a path, a JSON text or a dict; state: PATH, sqlite:PATH, redis://HOST:PORT[/DB]
        or postgresql://...; key_file: encrypts the state; now: a fixed clock; wait: seconds to
        wait for a partition another run holds. Raises ConfigError, ValueError, OSError."""
    @property
    def partition(self) -> str:
        """INSTANCE/RESOURCE."""
    def since(self) -> Optional[str]:
        """The since value to send next (ask the source with >=); None for a full sync."""
    def since_url(self) -> str:
        """The resource's URL template expanded with the since value."""
    def process(self, records: Records) -> Batch:
        """Classifies polled records; writes nothing. Deliver the events, then commit(batch)."""
    def rescan(self, records: Records) -> Batch:
        """Like process() for a complete listing: also 'deleted' events for ids not listed."""
    def commit(self, batch: Batch, deliver: Optional[Callable[[list[Event]], None]] = None) -> None:
        """Writes the batch's state and offset atomically, after its events were delivered.
        Records another writer changed meanwhile are classified again and their new events passed
        to deliver() first (without deliver: StoreError, nothing committed)."""
    def reset(self, forget_records: bool = False) -> None:
        """Forgets the offset; with forget_records every record's state too."""
    def status(self) -> Status:
        """The partition's status, with the command-line tool's keys."""
    def close(self) -> None:
        """Releases the partition's lease and the state."""
    def __enter__(self) -> "Detector": ...
    def __exit__(self, *exc: object) -> bool: ...

def purge(state: str, now: Now = None, key_file: Optional[str] = None) -> int:
    """Removes the expired record states of every partition; returns how many."""
