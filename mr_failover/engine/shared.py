"""The team's copy of the run journals, in S3 (topology ``journal``).

The local journal (:mod:`mr_failover.engine.journal`) stays the write-ahead log of the
machine that runs; every record it writes is also written to S3, before the step it
announces acts, as one object ``<prefix><run id>/<sequence>.json``. Each object is
written with ``If-None-Match: *``: S3 stores it only if no object has that key and
answers ``412 Precondition Failed`` otherwise ("Add preconditions to S3 operations with
conditional requests", Amazon S3 User Guide,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html; PutObject
``IfNoneMatch``, https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html). Two
writers of one run (an operator whose process was thought dead, and the colleague who
resumed) therefore never overwrite each other's entries: the loser of a key re-reads
the run's last sequence number and writes after it.

A record that cannot be written stops the run (like a local journal that cannot be
written): a colleague must never resume from a shared journal that misses a step. The
bucket is written once (:meth:`SharedJournal.check`) before the lock is taken, so a bucket
that cannot be written is an error before anything changes.

Reading: ``history`` lists the team's runs (the run ids under the prefix, each run's
records read back), and ``--resume RUN_ID`` of a run this machine has no journal of
copies the shared records into a local journal first, then goes on as a local resume
(with the lock's takeover rules: docs/OPERATIONS.md).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from mr_failover.aws import call, call_error, error_code
from mr_failover.errors import MrFailoverError

if TYPE_CHECKING:
    from mr_failover.aws import ClientSource
    from mr_failover.topology import SharedJournal as Location

_SEQ = re.compile(r"(\d{8})\.json\Z")
CHECK_KEY = ".mr-failover-write-check"
# How many times a writer that lost a key to another writer retries after it.
MAX_RACES = 5
# Records read at once (GetObject calls in flight).
READERS = 8


class SharedJournalError(MrFailoverError):
    """The shared journal could not be written or read: the run stops (exit 1)."""


class SharedJournal:
    """One S3 location's run journals."""

    def __init__(self, factory: ClientSource, where: Location) -> None:
        self.where = where
        self._client = factory.client("s3", where.region)
        self._next: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"s3://{self.where.bucket}/{self.where.prefix}"

    def _key(self, run_id: str, seq: int) -> str:
        return f"{self.where.prefix}{run_id}/{seq:08d}.json"

    def _fail(self, what: str, exc: MrFailoverError) -> SharedJournalError:
        return SharedJournalError(
            f"shared journal {self.url}: {what}: {exc}; check the bucket, its region "
            f"({self.where.region}) and that you may s3:PutObject, s3:GetObject and "
            "s3:ListBucket there (or remove 'journal' from the topology)"
        )

    def check(self) -> None:
        """Prove the journal can be written before anything changes: PutObject of a fixed
        key beside the runs (overwritten each time; not a run, so history skips it)."""
        try:
            call(
                self._client,
                "put_object",
                Bucket=self.where.bucket,
                Key=f"{self.where.prefix}{CHECK_KEY}",
                Body=b"mr-failover can write here\n",
            )
        except MrFailoverError as exc:
            raise self._fail("cannot be written", exc) from exc

    def append(self, run_id: str, line: bytes) -> None:
        """Write one journal line as the run's next record (conditional: never overwrites)."""
        seq = self._next.get(run_id)
        if seq is None:
            seq = self.last_sequence(run_id) + 1
        for _ in range(MAX_RACES):
            try:
                self._client.put_object(
                    Bucket=self.where.bucket,
                    Key=self._key(run_id, seq),
                    Body=line,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "PreconditionFailed":
                    wrapped = call_error(self._client, "put_object", exc)
                    raise self._fail(f"writing record {seq} of run {run_id}", wrapped) from None
                seq = max(seq, self.last_sequence(run_id)) + 1  # another writer took it
                continue
            except Exception as exc:  # any failure: the run must stop
                wrapped = call_error(self._client, "put_object", exc)
                raise self._fail(f"writing record {seq} of run {run_id}", wrapped) from None
            self._next[run_id] = seq + 1
            return
        raise SharedJournalError(
            f"shared journal {self.url}: another writer kept taking run {run_id}'s next "
            f"record ({MAX_RACES} times): is the run being driven from two places?"
        )

    def _keys(self, prefix: str, **extra: Any) -> tuple[list[str], list[str]]:
        """(keys, common prefixes) under ``prefix``, every page."""
        keys: list[str] = []
        prefixes: list[str] = []
        request: dict[str, Any] = {"Bucket": self.where.bucket, "Prefix": prefix, **extra}
        while True:
            try:
                page = call(self._client, "list_objects_v2", **request)
            except MrFailoverError as exc:
                raise self._fail(f"listing {prefix}", exc) from exc
            keys += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return keys, prefixes
            request["ContinuationToken"] = page["NextContinuationToken"]

    def last_sequence(self, run_id: str) -> int:
        """The run's highest record number, 0 when it has none."""
        keys, _ = self._keys(f"{self.where.prefix}{run_id}/")
        found = [int(m.group(1)) for k in keys if (m := _SEQ.search(k))]
        return max(found, default=0)

    def run_ids(self) -> list[str]:
        """The ids of the runs journaled here."""
        _, prefixes = self._keys(self.where.prefix, Delimiter="/")
        return [p[len(self.where.prefix) :].rstrip("/") for p in prefixes]

    def lines(self, run_id: str) -> list[bytes]:
        """The run's records, in order, as journal lines (each ending with a newline)."""
        return [line for _, line in self.numbered_lines(run_id)]

    def numbered_lines(self, run_id: str) -> list[tuple[int, bytes]]:
        """(sequence number, journal line) of the run's records, in order. A writer takes
        1, 2, 3... (a loser of a race takes the next free one), so a number missing in
        between is a record lost or removed: see :func:`missing`."""
        keys, _ = self._keys(f"{self.where.prefix}{run_id}/")
        numbered = sorted((int(m.group(1)), k) for k in keys if (m := _SEQ.search(k)))

        def read(key: str) -> bytes:
            try:
                body = call(self._client, "get_object", Bucket=self.where.bucket, Key=key)["Body"]
                data: bytes = body.read()
            except MrFailoverError as exc:
                raise self._fail(f"reading {key}", exc) from exc
            return data if data.endswith(b"\n") else data + b"\n"

        # One object per record: a drill's hundreds are read a few at a time, in order
        # (within botocore's default pool of 10 connections per host).
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            lines = list(pool.map(read, [key for _, key in numbered]))
        return [(seq, line) for (seq, _), line in zip(numbered, lines, strict=True)]


def missing(numbered: list[tuple[int, bytes]]) -> list[int]:
    """The sequence numbers absent between 1 and the last one."""
    have = {seq for seq, _ in numbered}
    return [n for n in range(1, max(have, default=0) + 1) if n not in have]
