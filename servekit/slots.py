"""Typed values an app holds for its requests (settings, the model pool, clients), declared once beside their owner.

Flask keeps them in ``app.extensions``; a slot names its key once and gives the value back with its type, so that
no module spells another's key or casts what it reads.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from flask import Flask, current_app

T = TypeVar("T")


class AppSlot(Generic[T]):
    """One typed value per app, under ``app.extensions[name]``."""

    def __init__(self, name: str) -> None:
        self.key = name

    def set(self, app: Flask, value: T) -> T:
        app.extensions[self.key] = value
        return value

    def of(self, app: Flask) -> T:
        value: T = app.extensions[self.key]
        return value

    def current(self) -> T:
        """The value of the app serving the current request (or the pushed app context)."""
        return self.of(current_app)

    def current_or_none(self) -> T | None:
        """The current app's value, or None where the app was built without it (an optional feature)."""
        value: T | None = current_app.extensions.get(self.key)
        return value
