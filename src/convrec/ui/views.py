"""What the app shows beside the chat: the results table, the per-source plot, reply chunks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import pandas as pd

from convrec.schema import ScoredItem

TABLE_HEADERS = ["#", "title", "predicted rating", "cf", "llm", "cbf", "score"]
TABLE_DATATYPES: list[Literal["str", "number"]] = [
    "number",
    "str",
    "number",
    "number",
    "number",
    "number",
    "number",
]
"""Per column of :data:`TABLE_HEADERS`: cells are shown as text or numbers, never markdown."""
TABLE_WIDTHS: list[str | int] = ["6%", "40%", "14%", "10%", "10%", "10%", "10%"]
SOURCES = ("cf", "llm", "cbf")
PLOT_COLUMNS = ["item", "source", "contribution"]
FUSED_TITLE = "Each source's share of the ranking score (normalised score x weight; bars add up)"
RAW_TITLE = "Score per source (this list is not fused: popularity or similarity)"
_LABEL_CHARS = 32
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # ASCII punctuation: markdown may read any


def plain(text: str) -> str:
    """``text`` for a markdown string, shown as written: every ASCII punctuation mark is
    backslash-escaped (CommonMark allows it for all of them), so no emphasis, link, image,
    HTML tag or LaTeX delimiter can start in it."""
    return _PUNCTUATION.sub(r"\\\1", text)


def table_rows(items: Sequence[ScoredItem]) -> list[list[Any]]:
    """The items as rows of :data:`TABLE_HEADERS` (a source that did not score it: blank)."""
    rows: list[list[Any]] = []
    for rank, item in enumerate(items, 1):
        rating = None if item.predicted_rating is None else round(item.predicted_rating, 2)
        comps = [item.components.get(n) for n in SOURCES]
        rows.append(
            [rank, item.title, rating, *(None if c is None else round(c, 4) for c in comps),
             round(item.score, 4)]
        )  # fmt: skip
    return rows


def item_label(rank: int, item: ScoredItem) -> str:
    """``"1. Return of the Jedi (1983)"``, cut to a length that fits under a bar."""
    label = f"{rank}. {item.title}"
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def contribution_frame(items: Sequence[ScoredItem]) -> tuple[pd.DataFrame | None, str]:
    """Long-format ``(item, source, contribution)`` rows for a stacked bar per item, and a title.

    Fused items plot :attr:`ScoredItem.contributions` (they add up to the item's score);
    lists that were not fused (popular picks, similar titles) plot their raw
    :attr:`ScoredItem.components`. ``(None, title)`` when there are no items.
    """
    fused = any(item.contributions for item in items)
    records = []
    for rank, item in enumerate(items, 1):
        values = item.contributions if fused else item.components
        for source, value in values.items():
            records.append((item_label(rank, item), source, float(value)))
    if not records:
        return None, FUSED_TITLE
    return pd.DataFrame.from_records(records, columns=PLOT_COLUMNS), (
        FUSED_TITLE if fused else RAW_TITLE
    )


def stream_chunks(text: str) -> Iterator[str]:
    """The reply growing line by line: each value is a prefix of the next, the last is ``text``."""
    lines = text.split("\n")
    for end in range(1, len(lines) + 1):
        if end == len(lines) or lines[end - 1].strip():  # blank lines ride with the next one
            yield "\n".join(lines[:end])
