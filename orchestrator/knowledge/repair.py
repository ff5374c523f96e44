"""`orchestrator collections --check [--repair]`: find damaged collections and rebuild them from their files.

A damaged database (chroma.sqlite3 failing SQLite's check, or missing or empty while collections were
recorded as built from files) is moved aside whole, to chroma.damaged-<time>, and every collection
listed in data_dir/sources/ is ingested again. A collection with a damaged vector index is deleted and
ingested again from the files its chunks name (and the source list). Nothing else is touched; files
that no longer exist are reported, not invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from orchestrator.knowledge.ingest import collection_lock, ingest_paths, recorded_sources
from orchestrator.knowledge.store import (
    CollectionHealth,
    KnowledgeStoreError,
    check_collections,
    chroma_dir,
    collection_sources,
    database_damage,
    delete_collection,
    lost_database,
    move_aside,
    recorded_collections,
)

if TYPE_CHECKING:
    from orchestrator.config import Settings


@dataclass
class KnowledgeBaseHealth:
    """The database's own problem (None when sound) and each collection's health."""

    database_problem: str | None
    collections: list[CollectionHealth] = field(default_factory=list)

    @property
    def damaged(self) -> list[str]:
        return [row.name for row in self.collections if row.problem]


@dataclass
class RepairResult:
    """One rebuilt collection."""

    name: str
    files: int
    chunks: int
    missing: list[str]


def _sources_in_store(settings: Settings, name: str) -> list[str]:
    try:
        return collection_sources(settings, name)
    except KnowledgeStoreError:
        return []  # the source list written by ingest is all there is


def check_knowledge_base(settings: Settings) -> KnowledgeBaseHealth:
    """Check the database file, then every collection's vector index (see store.collection_damage)."""
    if not settings.chroma_host:
        lost = lost_database(settings)
        damage = database_damage(chroma_dir(settings))
        problem = lost or (f"chroma.sqlite3 fails SQLite's integrity check ({damage})" if damage else None)
        if problem:
            rows = [CollectionHealth(name, None, "in the damaged database") for name in recorded_collections(settings)]
            return KnowledgeBaseHealth(problem, rows)
    return KnowledgeBaseHealth(None, check_collections(settings))


def repair_knowledge_base(
    settings: Settings, open_store: Callable, progress=None
) -> tuple[KnowledgeBaseHealth, list[RepairResult]]:
    """Rebuild what `check_knowledge_base` finds damaged; `open_store(settings, collection=, fresh=, verify=)` opens a
    collection (verify=False: the rebuild may start from a missing database)."""
    health = check_knowledge_base(settings)
    if health.database_problem:
        if settings.chroma_host:
            raise KnowledgeStoreError("The Chroma server's database is damaged: repair it on the server.")
        sources = {name: recorded_sources(settings, name) for name in recorded_collections(settings)}
        if chroma_dir(settings).exists():
            move_aside(settings)
    else:
        sources = {
            name: sorted(set(recorded_sources(settings, name)) | set(_sources_in_store(settings, name)))
            for name in health.damaged
        }
        for name in health.damaged:
            delete_collection(settings, name)
    results = []
    for name, files in sources.items():
        present = [source for source in files if Path(source).is_file()]
        with collection_lock(settings, name, progress):
            store = open_store(settings, collection=name, fresh=True, verify=False)
            summary = ingest_paths(present, store, settings, progress=progress) if present else None
        results.append(
            RepairResult(
                name,
                len(present),
                summary.chunks_total if summary else 0,
                [source for source in files if source not in present],
            )
        )
    return health, results
