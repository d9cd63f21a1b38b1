"""Per-item results of a multi-item request: one bad item fails alone and is reported with its index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from servekit.errors import ApiError


def about_item(error: ApiError, param: str, index: int) -> ApiError:
    """The same error (same class, status, code and headers) reworded to name ``param[index]``.

    Built without calling the constructor: subclasses such as the client's ``UpstreamError`` have constructors
    of their own, so neither ``type(error)(message, param=...)`` nor ``copy.copy`` builds every error class."""
    named = type(error).__new__(type(error))
    named.__dict__.update(error.__dict__)
    named.headers = dict(error.headers)
    named.param = f"{param}[{index}]"
    named.message = f"{named.param}: {error.message}"
    named.args = (named.message,)
    return named


def per_item_data(results: Sequence[Any], render: Callable[[Any], dict[str, Any]],
                  param: str = "input") -> list[dict[str, Any]]:
    """``[{"index": i, **render(result)}]``, with ``{"index": i, "error": {...}}`` for failed items.

    When every item failed, the first failure is raised instead (so a one-item request gets its 4xx).
    Unexpected exceptions (not :class:`ApiError`) are re-raised: they are bugs, not bad input.
    """
    data: list[dict[str, Any]] = []
    failures: list[tuple[int, ApiError]] = []
    for index, result in enumerate(results):
        if isinstance(result, ApiError):
            failures.append((index, result))
            data.append({"index": index, "error": {**result.body()["error"], "param": f"{param}[{index}]"}})
        elif isinstance(result, Exception):
            raise result
        else:
            data.append({"index": index, **render(result)})
    if failures and len(failures) == len(results):
        index, first = failures[0]
        raise about_item(first, param, index)
    return data


def raise_first_failure(results: Sequence[Any], param: str = "input") -> None:
    """For all-or-nothing responses (embeddings): the first failed item fails the request, naming it."""
    for index, result in enumerate(results):
        if isinstance(result, ApiError):
            raise about_item(result, param, index)
        if isinstance(result, Exception):
            raise result
