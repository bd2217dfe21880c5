"""Archive, never delete: whole months of readings and positions go to Parquet files, are verified, and
only then is the month's partition detached.

For each month older than ``READINGS_RETENTION_MONTHS`` (``manage.py archive_readings``, or the admin's
action on the list of partitions), and each table (readings, positions):

1. **Write**: the partition's rows, in (channel, timestamp) order (device for positions), go to
   ``ARCHIVE_DIR/<table>/<table>_YYYY_MM.parquet`` with, beside it, ``<table>_YYYY_MM.manifest.json``:
   table, month, row count, first and last time, SHA-256 of the file, a checksum of the rows, created
   at and by. Besides the table's own columns the file carries the names a reader needs once the
   database is gone (vendor, account, device, channel, unit), which the checksum leaves out (a device
   may be renamed later; the rows may not change). Audited ("Archived to a file").
2. **Verify**, with the partition locked against writes: the file's SHA-256 is the manifest's and the
   database's record of it; the file read back has the row count, first and last time and row checksum
   of the manifest; and the partition read again has them too. Audited ("Archive verified"). Any
   difference refuses the month: nothing is detached, the file and its manifest are set aside
   (``.refused-<time>``), and the refusal is audited with the reason.
3. **Detach**: ``ALTER TABLE ... DETACH PARTITION``; the partition stays as the table
   ``<table>_archived_YYYY_MM`` (its rows as permanent as before: a trigger refuses UPDATE and DELETE;
   its foreign keys go, so that purging an account later is not blocked by its archive), or is dropped
   when ``ARCHIVE_DROP_DETACHED`` allows it. Audited ("Partition detached", "... dropped").

The hourly rollups of the readings stay, so the chart of an archived month still shows hourly minimum
and maximum; charts and exports of archived months say where the rows went (``archives_between``).

The row checksum: the rows in the file's order, each column's values in a fixed binary form (64-bit
little-endian integers, microseconds since 1970 for times, a validity byte and a little-endian double
for numbers, 32-bit length and UTF-8 for texts) hashed with SHA-256 column by column, then the SHA-256 of
"name:digest" lines of those. The database's rows are read through ``COPY ... TO STDOUT`` and parsed by
pyarrow in blocks (no Python object per row), so both sides compute it the same way and fast.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from monitoring.audit import record
from monitoring.choices import AuditAction
from monitoring.models.archive import ARCHIVED_TABLES, ArchivedMonth, ArchiveState
from monitoring.partitions import (
    add_months,
    archived_table_name,
    attached_months,
    month_start,
    partition_name,
    retention_cutoff,
)

logger = logging.getLogger(__name__)

FORMAT = "coldchain month archive 1"
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Layout:
    """A table's own columns (what the checksum covers), in order, and the names added for readers."""

    columns: tuple[tuple[str, pa.DataType], ...]
    owner: str  # the column of the channel (device) the rows belong to: the first of the order
    context_sql: str  # owner id, then the names a reader needs, for every owner
    context_columns: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


LAYOUTS = {
    "monitoring_reading": Layout(
        columns=(
            ("id", pa.int64()),
            ("channel_id", pa.int64()),
            ("timestamp", TIMESTAMP),
            ("value", pa.float64()),
            ("error", pa.string()),
        ),
        owner="channel_id",
        context_sql=(
            "SELECT c.id, a.vendor, a.name, d.vendor_id, d.name, c.name, c.label, c.quantity, c.unit"
            " FROM monitoring_channel c JOIN monitoring_device d ON d.id = c.device_id"
            " JOIN vendors_vendoraccount a ON a.id = d.account_id"
        ),
        context_columns=(
            "vendor",
            "account",
            "device_vendor_id",
            "device_name",
            "channel",
            "channel_label",
            "quantity",
            "unit",
        ),
    ),
    "monitoring_position": Layout(
        columns=(
            ("id", pa.int64()),
            ("device_id", pa.int64()),
            ("timestamp", TIMESTAMP),
            ("latitude", pa.float64()),
            ("longitude", pa.float64()),
            ("speed_kmh", pa.float64()),
        ),
        owner="device_id",
        context_sql=(
            "SELECT d.id, a.vendor, a.name, d.vendor_id, d.name"
            " FROM monitoring_device d JOIN vendors_vendoraccount a ON a.id = d.account_id"
        ),
        context_columns=("vendor", "account", "device_vendor_id", "device_name"),
    ),
}


class ArchiveError(Exception):
    """A month cannot be archived; the message says why."""


class ArchiveMismatch(ArchiveError):
    """The file does not match its manifest or the partition: nothing is detached."""


@dataclass(frozen=True)
class Facts:
    """What the manifest, the file and the partition must agree on."""

    rows: int
    first_time: str | None
    last_time: str | None
    row_checksum: str


# -- the row checksum ------------------------------------------------------------------------------


class RowDigest:
    """Row count, first and last time and checksum of rows fed in order, in batches of any size."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.hashes = {name: hashlib.sha256() for name in layout.names}
        self.rows = 0
        self.first: int | None = None
        self.last: int | None = None

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for name, kind in self.layout.columns:
            self.hashes[name].update(_canonical_bytes(batch.column(name), kind))
        if batch.num_rows:
            times = batch.column("timestamp").cast(pa.int64())
            low, high = pc.min_max(times).values()
            low, high = low.as_py(), high.as_py()
            self.first = low if self.first is None else min(self.first, low)
            self.last = high if self.last is None else max(self.last, high)

    def facts(self) -> Facts:
        lines = "".join(f"{name}:{h.hexdigest()}\n" for name, h in self.hashes.items())
        return Facts(
            rows=self.rows,
            first_time=_iso(self.first),
            last_time=_iso(self.last),
            row_checksum=hashlib.sha256(lines.encode()).hexdigest(),
        )


def _iso(microseconds: int | None) -> str | None:
    if microseconds is None:
        return None
    return pa.scalar(microseconds, TIMESTAMP).as_py().isoformat()


def _canonical_bytes(array: pa.Array, kind: pa.DataType) -> bytes:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_string(kind):
        array = array.cast(pa.string())
        if array.null_count:
            raise ArchiveError("a text column holds a null")
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[
            array.offset : array.offset + len(array) + 1
        ]
        data = array.buffers()[2]
        text = data.to_pybytes()[offsets[0] : offsets[-1]] if data is not None and len(array) else b""
        return np.diff(offsets).astype("<i4").tobytes() + text
    if pa.types.is_floating(kind):
        valid = array.is_valid().to_numpy(zero_copy_only=False).astype(np.uint8)
        values = pc.fill_null(array, 0.0).to_numpy(zero_copy_only=False).astype("<f8")
        return valid.tobytes() + values.tobytes()
    if array.null_count:
        raise ArchiveError("a key or time column holds a null")
    return array.cast(pa.int64()).to_numpy(zero_copy_only=False).astype("<i8").tobytes()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading a partition ---------------------------------------------------------------------------


class _ChunkStream(io.RawIOBase):
    """A file-like view of COPY's chunks, for pyarrow's CSV reader."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._pending:
            try:
                self._pending = bytes(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(target), len(self._pending))
        target[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def partition_batches(cursor, layout: Layout, partition: str) -> Iterator[pa.RecordBatch]:
    """The partition's rows in the archive's order, as record batches of the layout's columns."""
    selected = ", ".join(
        "(extract(epoch FROM timestamp) * 1000000)::bigint" if name == "timestamp" else name
        for name in layout.names
    )
    csv_types = {name: (pa.int64() if kind == TIMESTAMP else kind) for name, kind in layout.columns}
    schema = pa.schema(layout.columns)
    query = (
        # Names from LAYOUTS and partition_name(), never from a user.
        f"COPY (SELECT {selected} FROM {partition} ORDER BY {layout.owner}, timestamp)"  # noqa: S608
        " TO STDOUT (FORMAT csv)"
    )
    with cursor.cursor.copy(query) as copy:
        reader = pa_csv.open_csv(
            io.BufferedReader(_ChunkStream(copy), buffer_size=1 << 20),
            read_options=pa_csv.ReadOptions(column_names=layout.names, block_size=8 << 20),
            convert_options=pa_csv.ConvertOptions(
                column_types=csv_types, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
        for batch in reader:
            arrays = [
                batch.column(name).cast(TIMESTAMP) if kind == TIMESTAMP else batch.column(name)
                for name, kind in layout.columns
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _partition_facts(cursor, layout: Layout, partition: str) -> Facts:
    digest = RowDigest(layout)
    for batch in partition_batches(cursor, layout, partition):
        digest.update(batch)
    return digest.facts()


def _file_facts(path: Path, layout: Layout) -> Facts:
    digest = RowDigest(layout)
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=1 << 16, columns=layout.names):
        digest.update(batch)
    return digest.facts()


# -- months to archive -----------------------------------------------------------------------------


def archivable_months(table: str, before: date | None = None, now: datetime | None = None) -> list[date]:
    """The attached months of ``table`` older than the retention (and before ``before``), oldest first."""
    cutoff = retention_cutoff(now)
    if before is not None:
        if before > cutoff:
            raise ArchiveError(
                f"{before:%Y-%m} is inside the retention of {settings.READINGS_RETENTION_MONTHS} months "
                f"(READINGS_RETENTION_MONTHS): the newest month that may be archived is "
                f"{add_months(cutoff, -1):%Y-%m}"
            )
        cutoff = before
    return sorted(month for month in attached_months(table) if month < cutoff)


def archive_paths(table: str, month: date) -> tuple[Path, Path]:
    folder = Path(settings.ARCHIVE_DIR) / table
    stem = f"{table}_{month:%Y_%m}"
    return folder / f"{stem}.parquet", folder / f"{stem}.manifest.json"


def _who(user) -> str:
    if user is not None and getattr(user, "is_authenticated", False):
        return user.get_username()
    return "system"


# -- the three steps -------------------------------------------------------------------------------


def write_archive(table: str, month: date, *, user=None, by: str = "") -> ArchivedMonth:
    """Step 1: the month's rows to a Parquet file and its manifest; recorded and audited."""
    try:
        return _write_archive(table, month, user=user, by=by)
    except OSError as exc:
        raise ArchiveError(
            f"cannot write the archive of {table} {month:%Y-%m} under {settings.ARCHIVE_DIR} "
            f"(ARCHIVE_DIR): {exc.strerror or exc}"
        ) from None


def _write_archive(table: str, month: date, *, user, by: str) -> ArchivedMonth:
    layout = LAYOUTS[table]
    partition = partition_name(table, month)
    if month not in attached_months(table):
        raise ArchiveError(f"{table} has no attached partition for {month:%Y-%m} ({partition})")
    path, manifest_path = archive_paths(table, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    created_at = timezone.now()
    created_by = by or _who(user)
    with transaction.atomic(), connection.cursor() as cursor:
        # The rows of a month this old hardly ever change; should one arrive meanwhile, step 2 (with the
        # partition locked) finds the difference.
        context = _context_table(cursor, layout)
        digest = RowDigest(layout)
        schema = pa.schema(
            [
                *layout.columns,
                *((name, pa.dictionary(pa.int32(), pa.string())) for name in layout.context_columns),
            ]
        )
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            for batch in partition_batches(cursor, layout, partition):
                digest.update(batch)
                writer.write_batch(_with_context(batch, layout, context, schema))
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    with open(partial, "rb") as stream:
        os.fsync(stream.fileno())
    os.replace(partial, path)
    facts = digest.facts()
    sha256 = file_sha256(path)
    manifest = {
        "format": FORMAT,
        "table": table,
        "what": ARCHIVED_TABLES[table],
        "month": f"{month:%Y-%m}",
        "partition": partition,
        "file": path.name,
        "sha256": sha256,
        **asdict(facts),
        "row_checksum_method": (
            "SHA-256 of the lines 'column:sha256' of the columns "
            + ", ".join(layout.names)
            + f" in ({layout.owner}, timestamp) order; int64 little-endian, times as int64 microseconds"
            " since 1970 UTC, numbers as one validity byte per row then float64 little-endian (0 for a"
            " null), texts as int32 byte lengths then the UTF-8 bytes"
        ),
        "columns": layout.names,
        "context_columns": list(layout.context_columns),
        "created_at": created_at.isoformat(),
        "created_by": created_by,
        "software": {"pyarrow": pa.__version__, "postgresql": server_version},
    }
    _write_json(manifest_path, manifest)
    entry = ArchivedMonth.objects.create(
        table=table,
        month=month,
        file=str(path),
        manifest=str(manifest_path),
        sha256=sha256,
        row_checksum=facts.row_checksum,
        row_count=facts.rows,
        first_time=_parse(facts.first_time),
        last_time=_parse(facts.last_time),
        created_at=created_at,
        created_by=created_by,
    )
    record(
        AuditAction.ARCHIVE,
        entry,
        {"file": [None, str(path)], "rows": [None, facts.rows], "sha256": [None, sha256]},
        reason=(
            f"{ARCHIVED_TABLES[table]} of {month:%Y-%m} older than "
            f"{settings.READINGS_RETENTION_MONTHS} months (READINGS_RETENTION_MONTHS)"
        ),
        user=user,
    )
    logger.info("Archived %s rows of %s to %s", facts.rows, partition, path)
    return entry


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _write_json(path: Path, content: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as stream:
        json.dump(content, stream, indent=2)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, path)


def _context_table(cursor, layout: Layout) -> dict[str, pa.Array]:
    cursor.execute(layout.context_sql)
    rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(len(layout.context_columns) + 1)]
    table = {"id": pa.array(columns[0], pa.int64())}
    for name, values in zip(layout.context_columns, columns[1:], strict=True):
        table[name] = pa.array([str(v) for v in values], pa.string())
    return table


def _with_context(batch: pa.RecordBatch, layout: Layout, context: dict, schema: pa.Schema) -> pa.RecordBatch:
    where = pc.index_in(batch.column(layout.owner), value_set=context["id"])
    arrays = list(batch.columns)
    for name in layout.context_columns:
        arrays.append(pc.take(context[name], where).dictionary_encode())
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def verify_and_detach(entry: ArchivedMonth, *, user=None) -> ArchivedMonth:
    """Steps 2 and 3, in one transaction: verify the file against its manifest, our record of it and the
    partition (locked against writes), then detach the partition. Raises ``ArchiveMismatch`` (and
    detaches nothing) at the first difference."""
    layout = LAYOUTS[entry.table]
    partition = partition_name(entry.table, entry.month)
    path, manifest_path = Path(entry.file), Path(entry.manifest)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)", [f"{settings.PARTITION_LOCK_TIMEOUT_SECONDS}s"]
        )
        cursor.execute(f"LOCK TABLE {partition} IN SHARE MODE")
        expected = _check_file(entry, layout, path, manifest_path)
        found = _partition_facts(cursor, layout, partition)
        if found != expected:
            raise ArchiveMismatch(
                f"the partition {partition} differs from the file: {_differences(expected, found)}"
            )
        record(
            AuditAction.VERIFY,
            entry,
            {"rows": [None, found.rows], "row_checksum": [None, found.row_checksum]},
            reason="file, manifest and partition agree: row count, first and last time, checksums",
            user=user,
        )
        detached = archived_table_name(entry.table, entry.month)
        cursor.execute(f"ALTER TABLE {entry.table} DETACH PARTITION {partition}")
        cursor.execute(f"ALTER TABLE {partition} RENAME TO {detached}")
        entry.state = ArchiveState.DETACHED
        entry.detached_table = detached
        entry.save(update_fields=["state", "detached_table"])
        if settings.ARCHIVE_DROP_DETACHED:
            record(AuditAction.DETACH, entry, {"partition": [partition, None]}, reason="archived", user=user)
            cursor.execute(f"DROP TABLE {detached}")
            entry.state = ArchiveState.DROPPED
            entry.detached_table = ""
            entry.save(update_fields=["state", "detached_table"])
            record(
                AuditAction.DROP,
                entry,
                {"table": [detached, None]},
                reason=f"ARCHIVE_DROP_DETACHED is on; the rows are in {path}",
                user=user,
            )
        else:
            _keep_as_record(cursor, detached)
            record(
                AuditAction.DETACH,
                entry,
                {"partition": [partition, detached]},
                reason=f"archived to {path}; kept as the table {detached}",
                user=user,
            )
    logger.info("Detached %s (%s) after verifying %s", partition, entry.get_state_display(), path)
    return entry


def _check_file(entry: ArchivedMonth, layout: Layout, path: Path, manifest_path: Path) -> Facts:
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArchiveMismatch(f"the manifest {manifest_path} cannot be read ({exc})") from None
    if not path.is_file():
        raise ArchiveMismatch(f"the file {path} is missing")
    sha256 = file_sha256(path)
    if not (sha256 == manifest.get("sha256") == entry.sha256):
        raise ArchiveMismatch(
            f"SHA-256 of {path.name} is {sha256}; its manifest says {manifest.get('sha256')}, "
            f"the database {entry.sha256}"
        )
    expected = Facts(
        rows=entry.row_count,
        first_time=entry.first_time.isoformat() if entry.first_time else None,
        last_time=entry.last_time.isoformat() if entry.last_time else None,
        row_checksum=entry.row_checksum,
    )
    in_manifest = Facts(**{key: manifest.get(key) for key in Facts.__dataclass_fields__})
    if _normal(in_manifest) != _normal(expected):
        raise ArchiveMismatch(
            f"the manifest differs from the database's record: {_differences(expected, in_manifest)}"
        )
    try:
        in_file = _file_facts(path, layout)
    except (pa.ArrowException, OSError, ArchiveError) as exc:
        raise ArchiveMismatch(f"the file {path.name} cannot be read back ({exc})") from None
    if _normal(in_file) != _normal(expected):
        raise ArchiveMismatch(f"the file {path.name} read back differs: {_differences(expected, in_file)}")
    return in_file


def _normal(facts: Facts) -> Facts:
    def moment(value):
        return datetime.fromisoformat(value) if value else None

    return Facts(facts.rows, moment(facts.first_time), moment(facts.last_time), facts.row_checksum)


def _differences(expected: Facts, found: Facts) -> str:
    expected, found = _normal(expected), _normal(found)
    parts = [
        f"{name} {getattr(found, name)} instead of {getattr(expected, name)}"
        for name in Facts.__dataclass_fields__
        if getattr(found, name) != getattr(expected, name)
    ]
    return "; ".join(parts) or "no difference"


def _keep_as_record(cursor, detached: str) -> None:
    """The detached partition stays as permanent as the readings: UPDATE and DELETE refused (its TRUNCATE
    refusal is its own, given when the partition was made, and stays with it). Its foreign keys go: the
    rows now live in an archive, outside the tables they referred to."""
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [detached]
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {detached} DROP CONSTRAINT "{name}"')
    cursor.execute(
        f"CREATE TRIGGER {detached}_permanent BEFORE UPDATE OR DELETE ON {detached}"
        " FOR EACH ROW EXECUTE FUNCTION coldchain_refuse_change('never')"
    )


def refuse(entry: ArchivedMonth, problem: str, *, user=None) -> ArchivedMonth:
    """A month whose verification failed: its file and manifest set aside, the refusal recorded."""
    suffix = f".refused-{timezone.now():%Y%m%dT%H%M%S}"
    moved = {}
    for field in ("file", "manifest"):
        current = Path(getattr(entry, field))
        if current.exists():
            aside = current.with_name(current.name + suffix)
            os.replace(current, aside)
            moved[field] = [str(current), str(aside)]
            setattr(entry, field, str(aside))
    entry.state = ArchiveState.REFUSED
    entry.problem = problem
    entry.save(update_fields=["state", "problem", "file", "manifest"])
    record(
        AuditAction.REFUSE,
        entry,
        moved,
        reason=f"verification failed, nothing detached: {problem}",
        user=user,
    )
    logger.error("Archive of %s %s refused: %s", entry.table, f"{entry.month:%Y-%m}", problem)
    return entry


def archive_month(table: str, month: date, *, user=None, by: str = "") -> ArchivedMonth:
    """Write, verify and detach one month of one table. Raises ``ArchiveMismatch`` when the
    verification fails (then the refusal is recorded and nothing is detached)."""
    with _only_one_at_a_time(table, month):
        return detach_if_verified(write_archive(table, month, user=user, by=by), user=user)


@contextmanager
def _only_one_at_a_time(table: str, month: date) -> Iterator[None]:
    """Two archive runs of the same month (the command and the admin's action, say) never write the same
    file at once: a session-level advisory lock of PostgreSQL, held across the steps' transactions."""
    key = int.from_bytes(
        hashlib.sha256(f"archive {table} {month:%Y-%m}".encode()).digest()[:8], "big", signed=True
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            raise ArchiveError(f"{ARCHIVED_TABLES[table]} of {month:%Y-%m} are being archived by another run")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def detach_if_verified(entry: ArchivedMonth, *, user=None) -> ArchivedMonth:
    """Steps 2 and 3 for a written archive; a failed verification is recorded as a refusal (file set
    aside, nothing detached) and raised as ``ArchiveMismatch``."""
    table, month = entry.table, entry.month
    try:
        return verify_and_detach(entry, user=user)
    except ArchiveMismatch as exc:
        refuse(entry, str(exc), user=user)
        raise
    except DatabaseError as exc:
        # A lock not granted in time, say: nothing detached, the file stays for the next attempt.
        entry.problem = f"not detached: {exc}"
        entry.save(update_fields=["problem"])
        raise ArchiveError(f"{partition_name(table, month)} not detached: {exc}") from exc


# -- where archived rows went, for charts and exports ----------------------------------------------


def archives_between(table: str, start: datetime | None, end: datetime | None) -> list[ArchivedMonth]:
    """The archived months of ``table`` that overlap [start, end) (either end open)."""
    archives = ArchivedMonth.objects.filter(
        table=table, state__in=[ArchiveState.DETACHED, ArchiveState.DROPPED]
    )
    return [
        archive
        for archive in archives.order_by("month")
        if (end is None or month_start(archive.month) < end)
        and (start is None or month_start(add_months(archive.month, 1)) > start)
    ]


def describe(archives: list[ArchivedMonth]) -> str:
    """ "Readings of 2024-01 to 2024-03 archived to <files> (manifests ...)" for a page or a message."""
    if not archives:
        return ""
    what = archives[0].what.capitalize()
    first, last = archives[0].month, archives[-1].month
    months = f"{first:%Y-%m}" if first == last else f"{first:%Y-%m} to {last:%Y-%m}"
    files = ", ".join(
        f"{a.file} (manifest {Path(a.manifest).name}, SHA-256 {a.sha256[:12]}…)" for a in archives
    )
    return f"{what} of {months} archived to {files}"


def refusal(archives: list[ArchivedMonth]) -> str:
    """Why an export of a range with archived months is refused, and what to do instead."""
    first_online = month_start(add_months(archives[-1].month, 1))
    return (
        f"{describe(archives)}: they are no longer in the database, so this export would leave them "
        f"out. Choose a range that starts on or after {first_online:%Y-%m-%d} (UTC), or read the "
        "archive file (Parquet; its manifest gives the row count and checksums)."
    )
