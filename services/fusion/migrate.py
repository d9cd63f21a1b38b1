"""Copy collections from one index to another: the embedded Milvus Lite file to a Milvus server or cluster
(or back, or between two servers), with descriptions, indexed keys, records and every vector.

    python -m services.fusion.migrate --source var/fusion/index.db --target http://milvus:19530 [--collection NAME]

Stop the fusion service first (Milvus Lite opens its file in one process only). Collections that already exist
on the target are refused unless ``--replace``; items are upserted, so a copy that was interrupted can be run again.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from services.fusion.store import MilvusStore, VectorRow

log = logging.getLogger(__name__)


def copy_collection(source: MilvusStore, target: MilvusStore, name: str, batch: int = 500,
                    replace: bool = False) -> int:
    """Copy one collection; the number of items copied."""
    info = source.collection_info(name)
    if target.exists(name) and replace:
        target.drop_collection(name)
    if not target.exists(name):
        target.create_collection(name, info["description"], source.indexed(name))
    copied = 0
    for ids in source.iter_ids(name, batch):
        records = source.get(name, ids)
        vectors = source.vectors(name, ids)
        rows = [VectorRow(item_id, modality, space, vector)
                for item_id, modalities in vectors.items() for modality, spaces in modalities.items()
                for space, vector in spaces.items()]
        target.upsert(name, list(records.values()), rows)
        copied += len(records)
        log.info("copied", extra={"collection": name, "items": copied})
    target.flush(name)
    return copied


def migrate(source_uri: str, target_uri: str, names: Sequence[str] = (), replace: bool = False,
            token: str | None = None) -> dict[str, int]:
    """Copy the named collections (all when none are named); collection -> items copied."""
    source = MilvusStore(source_uri)
    target = MilvusStore(target_uri, token=token)
    try:
        chosen = list(names) or source.list_collections()
        for name in chosen:
            source.require(name)
            if target.exists(name) and not replace:
                raise SystemExit(f"collection {name!r} exists on the target: pass --replace to overwrite it")
        return {name: copy_collection(source, target, name, replace=replace) for name in chosen}
    finally:
        source.close()
        target.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="a Milvus Lite .db file or a server URL")
    parser.add_argument("--target", required=True, help="a server URL (or a .db file)")
    parser.add_argument("--token", default=None, help="token of the target server (user:password or API key)")
    parser.add_argument("--collection", action="append", default=[], help="copy only this one (repeatable)")
    parser.add_argument("--replace", action="store_true", help="drop and copy collections the target has")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    for name, count in migrate(args.source, args.target, args.collection, args.replace, args.token).items():
        print(f"{name}: {count} items")


if __name__ == "__main__":
    main()
