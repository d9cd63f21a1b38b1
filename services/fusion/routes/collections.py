"""Collections, their items, bulk ingest jobs and cross-modal search."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from servekit.errors import InvalidInput, NotFound
from servekit.items import per_item_data
from servekit.validation import check_item_count, parse_json
from services.fusion.indexed import check_indexed
from services.fusion.ingest import INGEST_RUNS, IngestRuns
from services.fusion.retrieval import search, upsert_items
from services.fusion.runtime import FusionRuntime, runtime
from services.fusion.schemas import CreateCollection, SearchRequest, UpsertItems

bp = Blueprint("fusion_collections", __name__, url_prefix="/v1/collections")


def _runs() -> IngestRuns:
    return INGEST_RUNS.current()


def _items(body: UpsertItems, limit: int | None) -> list[tuple[str, dict[str, Any], Any]]:
    if limit is not None:
        check_item_count(len(body.items), limit, param="items", noun="items")
    return [(item.id, item.metadata, item.inputs()) for item in body.items]


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be an integer between {low} and {high}", param=name,
                           code="invalid_parameter")
    return int(raw)


@bp.post("")
def create_collection() -> ResponseReturnValue:
    body = parse_json(CreateCollection)
    check_indexed(body.indexed)
    return jsonify(runtime().store.create_collection(body.name, body.description, body.indexed)), 201


@bp.get("")
def list_collections() -> ResponseReturnValue:
    store = runtime().store
    return jsonify(object="list", data=[store.collection_info(name) for name in store.list_collections()])


@bp.get("/<name>")
def get_collection(name: str) -> ResponseReturnValue:
    return jsonify(runtime().store.collection_info(name))


@bp.delete("/<name>")
def delete_collection(name: str) -> ResponseReturnValue:
    runtime().store.drop_collection(name)
    return jsonify(object="collection.deleted", name=name, deleted=True)


@bp.post("/<name>/items")
def upsert(name: str) -> ResponseReturnValue:
    rt: FusionRuntime = runtime()
    body = parse_json(UpsertItems)
    results = upsert_items(rt, name, _items(body, rt.settings.max_items_per_request), body.allow_degraded)
    return jsonify(object="list", collection=name, data=per_item_data(results, lambda r: r, param="items"))


@bp.get("/<name>/items")
def list_items(name: str) -> ResponseReturnValue:
    store = runtime().store
    limit, offset = _int_arg("limit", 100, 1, 1000), _int_arg("offset", 0, 0, 10_000_000)
    records = store.get(name, store.list_ids(name, limit, offset))
    return jsonify(object="list", collection=name, data=[r.to_json() for r in records.values()])


@bp.get("/<name>/items/<path:item_id>")
def get_item(name: str, item_id: str) -> ResponseReturnValue:
    record = runtime().store.get(name, [item_id]).get(item_id)
    if record is None:
        raise NotFound(f"no item {item_id!r} in collection {name!r}", param="item_id", code="item_not_found")
    return jsonify(object="item", **record.to_json())


@bp.delete("/<name>/items/<path:item_id>")
def delete_item(name: str, item_id: str) -> ResponseReturnValue:
    if not runtime().store.delete(name, [item_id]):
        raise NotFound(f"no item {item_id!r} in collection {name!r}", param="item_id", code="item_not_found")
    return jsonify(object="item.deleted", id=item_id, deleted=True)


@bp.post("/<name>/ingest")
def start_ingest(name: str) -> ResponseReturnValue:
    body = parse_json(UpsertItems)
    job = _runs().start(name, _items(body, None), body.allow_degraded)
    return jsonify(job.describe()), 202


@bp.get("/<name>/ingest/<job_id>")
def ingest_status(name: str, job_id: str) -> ResponseReturnValue:
    return jsonify(_runs().get(name, job_id).describe())


@bp.post("/<name>/search")
def search_collection(name: str) -> ResponseReturnValue:
    rt = runtime()
    body = parse_json(SearchRequest)
    options = rt.options(body)
    return jsonify(search(rt, name, body.query.inputs(), options, body.top_k, body.filter, body.allow_degraded,
                          body.rerank, body.group_by))
