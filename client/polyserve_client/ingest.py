"""Ingest a folder into a collection: one item per file (id = path relative to the folder), in batches,
skipping ids the collection already holds so that an interrupted run resumes where it stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyserve_client.client import Polyserve
from polyserve_client.errors import PolyserveError
from polyserve_client.files import modality_of, to_b64

PAGE = 1000


@dataclass(frozen=True)
class SourceFile:
    id: str
    path: Path
    modality: str
    size: int


@dataclass
class IngestReport:
    """What a run did: ids upserted, skipped (already there) and failed (id -> ``code: message``)."""

    upserted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)


def source_files(folder: Path) -> tuple[list[SourceFile], list[str]]:
    """Every file under the folder whose type the collections take, and the names of the others."""
    found, unsupported = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        item_id = path.relative_to(folder).as_posix()
        modality = modality_of(path)
        if modality is None:
            unsupported.append(item_id)
        else:
            found.append(SourceFile(item_id, path, modality, path.stat().st_size))
    return found, unsupported


def existing_ids(client: Polyserve, collection: str) -> set[str]:
    ids: set[str] = set()
    offset = 0
    while True:
        page = client.items(collection, limit=PAGE, offset=offset)
        ids.update(str(item["id"]) for item in page)
        if len(page) < PAGE:
            return ids
        offset += PAGE


def item_of(source: SourceFile) -> dict[str, Any]:
    """The API item for a file: text files send their text, images and audio their base64 bytes."""
    meta = {"path": source.id, "modality": source.modality}
    if source.modality == "text":
        return {"id": source.id, "text": source.path.read_text(errors="replace"), "metadata": meta}
    return {"id": source.id, source.modality: to_b64(source.path), "metadata": meta}


def batches(sources: list[SourceFile], max_items: int, max_bytes: int) -> Iterator[list[SourceFile]]:
    batch: list[SourceFile] = []
    size = 0
    for source in sources:
        if batch and (len(batch) >= max_items or size + source.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(source)
        size += source.size
    if batch:
        yield batch


def ingest_folder(client: Polyserve, folder: Path, collection: str, *, resume: bool = True, batch_items: int = 8,
                  batch_bytes: int = 8 << 20, on_batch: Callable[[list[SourceFile]], None] | None = None
                  ) -> IngestReport:
    """Upload the folder; a failed item (or a failed batch) is recorded and the run goes on."""
    sources, unsupported = source_files(folder)
    report = IngestReport(unsupported=unsupported)
    present = existing_ids(client, collection) if resume else set()
    report.skipped = [source.id for source in sources if source.id in present]
    for batch in batches([s for s in sources if s.id not in present], batch_items, batch_bytes):
        _upload(client, collection, batch, report)
        if on_batch is not None:
            on_batch(batch)
    return report


def _upload(client: Polyserve, collection: str, batch: list[SourceFile], report: IngestReport) -> None:
    try:
        answer = client.upsert_items(collection, [item_of(source) for source in batch])
    except PolyserveError as error:
        if len(batch) == 1:
            report.failed[batch[0].id] = f"{error.code}: {error.message}"
            return
        for source in batch:  # the whole batch was refused: find out which file it was, one by one
            _upload(client, collection, [source], report)
        return
    for source, result in zip(batch, answer.get("data", []), strict=False):
        item_error = result.get("error")
        if item_error:
            report.failed[source.id] = f"{item_error.get('code')}: {item_error.get('message')}"
        else:
            report.upserted.append(source.id)
