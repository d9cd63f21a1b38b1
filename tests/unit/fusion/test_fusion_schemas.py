"""Blank text is refused alike by the server and by the document's pattern, whichever regex engine reads it."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from services.fusion.schemas import NOT_BLANK, InputModel, is_blank


@pytest.mark.parametrize("text", ["\u0085", " \x1c\x1f", "\u3000\u2028", "\t\n", "\u00a0"])
def test_whitespace_of_any_engine_is_blank_and_refused(text: str) -> None:
    assert is_blank(text)
    with pytest.raises(ValidationError):
        InputModel(text=text)


@pytest.mark.parametrize("text", ["a", "\ufeff", " x ", "\u200b"])
def test_anything_else_is_text(text: str) -> None:
    assert not is_blank(text)
    assert InputModel(text=text).text == text


def test_the_pattern_spells_its_whitespace_out() -> None:
    """No \\s or \\S: ECMA, Python and pydantic's engine disagree on what they match."""
    assert "\\s" not in NOT_BLANK.lower()
    assert re.fullmatch(NOT_BLANK, "\u0085") is None
