"""The cost of one sandbox write when a project already holds 100,000 child records.

The sandbox keeps its state in SQLite, one row per record (`encord_gateway.sandbox.store`). This measures,
in-process on a temporary database file (WAL, synchronous=FULL, as `--state` runs it), a project with
100,000 child records (API keys: each with a parent and a secondary key, as label rows will have):
the pages and bytes one committed write appends, against the size of the database a snapshot would
rewrite; the time of that write (its fsync included); and lookups by id, by secondary key, and the
children of a small parent among them. Figures are medians of several repetitions.

    .venv/bin/python bench/sandbox_store.py              # 100,000 children (about half a minute)
    .venv/bin/python bench/sandbox_store.py --children 10000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from encord_gateway.sandbox import routing  # noqa: F401  (imports every domain, so every kind is registered)
from encord_gateway.sandbox.domains.apikeys import ApiKey
from encord_gateway.sandbox.domains.projects import Project
from encord_gateway.sandbox.records import digest, new_hash
from encord_gateway.sandbox.store import Store

CHILDREN = 100_000
WRITES = 25
LOOKUPS = 2_000
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoreCost:
    children: int
    populate_seconds: float
    database_bytes: int
    page_size: int
    insert_pages: float
    update_pages: float
    insert_ms: float
    update_ms: float
    get_us: float
    find_us: float
    small_children_us: float


def _project(title: str) -> Project:
    return Project(
        hash=new_hash(),
        title=title,
        description="",
        owner="bench@sandbox.test",
        members={"bench@sandbox.test": 0},
        created_at=T0,
        last_edited_at=T0,
        ontology_hash=new_hash(),
        dataset_hashes=[],
    )


def _child(parent: Project, index: int) -> ApiKey:
    return ApiKey(
        key_hash=new_hash(),
        resource_type="project",
        resource_hash=parent.hash,
        title=f"key {index}",
        scopes=["label.read", "label.write"],
        creator="bench@sandbox.test",
        master=False,
        secret=(secret := new_hash()),
        secret_digest=digest(secret),
        created_at=T0 + timedelta(microseconds=index),
    )


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _timed_writes(store: Store, path: Path, make: Callable[[int], ApiKey], page_size: int) -> tuple[float, float]:
    """(pages appended per write, median ms per write): each write its own committed transaction."""
    samples, pages = [], []
    for i in range(WRITES):
        record = make(i)
        before = _wal_bytes(path)
        started = time.perf_counter()
        with store.transaction():
            store.put(record)
        samples.append((time.perf_counter() - started) * 1000)
        # A WAL frame is a 24-byte header and one page; the WAL is reset only by a checkpoint, which
        # SQLite runs once it passes 1,000 pages, far beyond WRITES writes.
        pages.append((_wal_bytes(path) - before) / (page_size + 24))
    return statistics.median(pages), statistics.median(samples)


def _median_us(action: Callable[[], object], calls: int) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            action()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def measure(children: int = CHILDREN) -> StoreCost:
    with tempfile.TemporaryDirectory(prefix="sandbox-store-bench-") as tmp:
        path = Path(tmp) / "sandbox.db"
        store = Store(path)
        big, small = _project("big"), _project("small")
        started = time.perf_counter()
        with store.transaction():
            store.put(big)
            store.put(small)
            for i in range(10):
                store.put(_child(small, i))
            keys = [store.put(_child(big, i)) for i in range(children)]
        populate = time.perf_counter() - started
        store.close()  # checkpoint: the WAL starts empty, so what it gains below is the writes' own cost
        database_bytes = path.stat().st_size

        store = Store(path)
        page_size = _page_size(path)
        insert_pages, insert_ms = _timed_writes(store, path, lambda i: _child(big, children + i), page_size)

        def update(i: int) -> ApiKey:
            record = keys[i * 997 % len(keys)]
            record.title = f"renamed {i}"
            return record

        update_pages, update_ms = _timed_writes(store, path, update, page_size)
        probe, secret = keys[len(keys) // 2], keys[len(keys) // 3].secret_digest
        get_us = _median_us(lambda: store.get(ApiKey, probe.key_hash), LOOKUPS)
        find_us = _median_us(lambda: store.find(ApiKey, "secret_digest", secret), LOOKUPS)
        small_us = _median_us(lambda: store.children(ApiKey, small.hash), LOOKUPS // 4)
        store.close()
    return StoreCost(
        children,
        populate,
        database_bytes,
        page_size,
        insert_pages,
        update_pages,
        insert_ms,
        update_ms,
        get_us,
        find_us,
        small_us,
    )


def _page_size(path: Path) -> int:
    """From the database header (bytes 16-17, big-endian; 1 means 65536)."""
    with path.open("rb") as fh:
        raw = fh.read(18)[16:18]
    size = int.from_bytes(raw, "big")
    return 65536 if size == 1 else size


def render(cost: StoreCost) -> str:
    database_pages = cost.database_bytes // cost.page_size
    lines = [
        f"Sandbox store: a project with {cost.children:,} child records "
        f"(SQLite, WAL, synchronous=FULL; {cost.database_bytes / 1e6:.1f} MB, {database_pages:,} pages "
        f"of {cost.page_size} bytes, filled in {cost.populate_seconds:.1f} s)",
        f"{'operation':<44}{'pages written':>14}{'bytes written':>15}{'time':>12}",
    ]
    for label, pages, ms in (
        ("add one child (commit, fsync)", cost.insert_pages, cost.insert_ms),
        ("change one child (commit, fsync)", cost.update_pages, cost.update_ms),
    ):
        written = pages * (cost.page_size + 24)
        lines.append(f"{label:<44}{pages:>14.0f}{written / 1e3:>12.1f} kB{ms:>9.2f} ms")
    lines += [
        f"{'get one child by id':<44}{'':>29}{cost.get_us:>9.1f} µs",
        f"{'find one child by secondary key':<44}{'':>29}{cost.find_us:>9.1f} µs",
        f"{'children of another project (10 of them)':<44}{'':>29}{cost.small_children_us:>9.1f} µs",
        f"one write appends {cost.insert_pages:.0f} of {database_pages:,} pages; the rest of the database is not rewritten",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=CHILDREN, help=f"child records (default {CHILDREN:,})")
    args = parser.parse_args()
    print(render(measure(args.children)))


if __name__ == "__main__":
    main()
