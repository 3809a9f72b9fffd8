"""Amazon review loader: JSON-lines reviews (2014 / 2018 releases) and optional item metadata."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from convrec import progress
from convrec.data._columns import id_column, number_column, timestamp_column
from convrec.data._read import (
    BLOCK_SIZE,
    Source,
    check_encoding,
    line_numbers,
    read_bytes,
    require_path,
)
from convrec.data.dataset import Dataset, ItemInfo, build_dataset
from convrec.data.errors import DataError, shown
from convrec.data.tabular import file_stem, text_list

REQUIRED = ("reviewerID", "asin", "overall", "unixReviewTime")
"""JSON fields every review line must have."""

OPTIONAL = ("reviewText", "summary")
"""Text fields read when present (``""`` otherwise)."""

_SCHEMA = pa.schema(
    [
        ("reviewerID", pa.string()),
        ("asin", pa.string()),
        ("overall", pa.float64()),
        ("unixReviewTime", pa.int64()),
        ("reviewText", pa.string()),
        ("summary", pa.string()),
    ]
)
_BLANK = rb"[ \t\r]*"


def load_amazon(
    reviews: str | Path,
    meta: str | Path | None = None,
    *,
    name: str | None = None,
    rating_range: tuple[float, float] = (1.0, 5.0),
    unreviewed_items: bool = False,
) -> Dataset:
    """Load Amazon reviews (one JSON object per line, plain or gzipped).

    Only ``reviewerID``, ``asin``, ``overall``, ``unixReviewTime``, ``reviewText`` and
    ``summary`` are read: every other field (``reviewerName``, ``vote``, ``style``, ``image``,
    ...) is ignored and never stored.

    Parameters
    ----------
    reviews
        The review file (``.json``, ``.jsonl``, optionally ``.gz``).
    meta
        Optional metadata file (JSON lines, or the Python-literal lines of the 2014 release):
        ``asin``, ``title``, ``categories`` / ``category``, ``description``, ``brand``.
    name
        Dataset name; the review file's name without suffixes by default.
    rating_range
        Allowed ``overall`` values (closed interval).
    unreviewed_items
        Keep metadata items that have no review (appended after the reviewed ones).

    Returns
    -------
    Dataset
        Reviews in file order; ``review_text`` / ``summary`` hold the review body and title.
    """
    path = require_path(reviews)
    data = check_encoding(read_bytes(path), path)
    table, src = _read_fast(data, path) or _read_python(data, path)
    items = id_column(table["asin"], "asin", src)
    info = None
    if meta is not None:
        keep = None if unreviewed_items else {str(i) for i in np.unique(items).tolist()}
        info = read_meta(meta, keep)
    return build_dataset(
        name or file_stem(path),
        source=str(path),
        user_ids=id_column(table["reviewerID"], "reviewerID", src),
        item_ids=items,
        rating=number_column(table["overall"], "overall", src, rating_range),
        timestamp=timestamp_column(table["unixReviewTime"], "unixReviewTime", src),
        lines=src.lines,
        item_info=info,
        review_text=text_list(table["reviewText"]),
        summary=text_list(table["summary"]),
    )


def _read_fast(data: bytes, path: Path) -> tuple[pa.Table, Source] | None:
    """Bulk parse with pyarrow; ``None`` when anything is off (the Python path then decides)."""
    if re.search(rb"\}[ \t]*\{", data):  # maybe two objects on a line: pyarrow would accept it
        return None
    try:
        n_lines = data.count(b"\n") if progress.enabled() else 0
        with progress.running(n_lines, desc=f"read {path.name}", unit="lines"):
            table = pajson.read_json(
                pa.BufferReader(data),
                read_options=pajson.ReadOptions(block_size=BLOCK_SIZE),
                parse_options=pajson.ParseOptions(
                    explicit_schema=_SCHEMA, unexpected_field_behavior="ignore"
                ),
            )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    lines = line_numbers(data, table.num_rows, 1, _BLANK)
    if table.num_rows == 0 or len(lines) == 0:  # e.g. two objects on one line
        return None
    return table, Source(path, lines)


def _read_python(data: bytes, path: Path) -> tuple[pa.Table, Source]:
    """Line-by-line reference parser: exact results, or a DataError naming line and field."""
    columns: dict[str, list[Any]] = {f: [] for f in _SCHEMA.names}
    lines: list[int] = []
    for line, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.decode("utf-8")
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            message = getattr(err, "msg", "too deeply nested")
            raise DataError(f"not valid JSON: {message}", path=path, line=line) from None
        if not isinstance(record, dict):
            raise DataError("expected a JSON object", path=path, line=line)
        if b"\\u" in raw:  # an escape may spell a lone surrogate, which is no text
            _check_text(record, path, line)
        for field in REQUIRED:
            if record.get(field) is None:
                raise DataError(
                    f"missing required field '{field}'", path=path, line=line, field=field
                )
        for field in ("reviewerID", "asin"):
            if not isinstance(record[field], (str, int)) or isinstance(record[field], bool):
                raise DataError(f"{field} must be a string", path=path, line=line, field=field)
            columns[field].append(str(record[field]))
        for field, kind in (("overall", "a number"), ("unixReviewTime", "an integer")):
            value = record[field]
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if field == "unixReviewTime" and ok and isinstance(value, float):
                ok = value == value and value not in (float("inf"), float("-inf"))
                ok = ok and value == int(value)
            if not ok:
                raise DataError(
                    f"{field} {shown(value)} is not {kind}", path=path, line=line, field=field
                )
            columns[field].append(value)
        for field in OPTIONAL:
            value = record.get(field)
            if value is not None and not isinstance(value, str):
                raise DataError(f"{field} must be a string", path=path, line=line, field=field)
            columns[field].append(value or "")
        lines.append(line)
    if not lines:
        raise DataError("the file has no JSON lines", path=path)
    columns["unixReviewTime"] = [int(v) for v in columns["unixReviewTime"]]
    columns["overall"] = [float(v) for v in columns["overall"]]
    try:
        table = pa.table(columns, schema=_SCHEMA)
    except OverflowError:  # a timestamp beyond int64: find it
        big = next(i for i, v in enumerate(columns["unixReviewTime"]) if abs(v) >= 1 << 63)
        raise DataError(
            "unixReviewTime is out of range", path=path, line=lines[big], field="unixReviewTime"
        ) from None
    return table, Source(path, np.asarray(lines, dtype=np.int64))


def _check_text(record: dict[str, Any], path: Path, line: int) -> None:
    """Raise :class:`DataError` at the first string field of ``record`` that is not valid text
    (a ``\\ud800`` escape decodes to a lone surrogate, which no UTF-8 text can hold)."""
    for field, value in record.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as err:
                raise DataError(
                    f"not valid text: a lone surrogate \\u{ord(value[err.start]):04x} at "
                    f"character {err.start + 1}",
                    path=path,
                    line=line,
                    field=str(field)[:80],
                ) from None


def read_meta(path: str | Path, keep: set[str] | None = None) -> dict[str, ItemInfo]:
    """Item side information from an Amazon metadata file.

    Each line is a JSON object or, as in the 2014 release, a Python dict literal (read with
    :func:`ast.literal_eval`, never ``eval``). ``title`` -> title; ``categories`` (nested
    lists) / ``category`` -> genres, de-duplicated in order; ``brand`` and ``description``
    (string or list) -> text. An asin listed twice keeps its first record. One of these fields
    of another type (a number, a dict, a title that is a list) is a :class:`DataError` naming
    the line and field.

    Parameters
    ----------
    path
        Metadata file, plain or gzipped.
    keep
        Only these asins (``None``: all).
    """
    path = require_path(path)
    data = check_encoding(read_bytes(path), path)
    info: dict[str, ItemInfo] = {}
    for line, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.decode("utf-8").strip()
        if not text:
            continue
        record = _meta_record(text, path, line)
        asin = record.get("asin")
        if not isinstance(asin, (str, int)) or isinstance(asin, bool):
            what = "missing" if asin is None else f"{shown(asin)} is not a string"
            raise DataError(f"asin {what}", path=path, line=line, field="asin")
        if not str(asin).strip():
            raise DataError("empty asin", path=path, line=line, field="asin")
        key = str(asin).strip()
        if key in info or (keep is not None and key not in keep):
            continue
        where = {"path": path, "line": line}
        genre_field = "categories" if "categories" in record else "category"
        info[key] = ItemInfo(
            title=" ".join(_strings(record.get("title"), "title", where, nested=False)),
            genres=tuple(dict.fromkeys(_strings(record.get(genre_field), genre_field, where))),
            text=_meta_text(record, where),
        )
    return info


def _meta_record(text: str, path: Path, line: int) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        try:
            record = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise DataError(
                "neither a JSON object nor a Python dict literal", path=path, line=line
            ) from None
    if not isinstance(record, dict):
        raise DataError("expected an object with an 'asin' field", path=path, line=line)
    return record


def _strings(value: object, field: str, where: dict[str, Any], nested: bool = True) -> list[str]:
    """Every non-empty string of a text field (a string, or lists of strings, nested when
    ``nested``), in order; ``None`` is no text. Anything else is a :class:`DataError`."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if nested and isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v, field, where)]
    kind = "a string or lists of strings" if nested else "a string"
    raise DataError(f"{field} must be {kind}, found {shown(value)}", field=field, **where)


def _meta_text(record: dict[str, Any], where: dict[str, Any]) -> str:
    brand = " ".join(_strings(record.get("brand"), "brand", where, nested=False))
    parts = [f"Brand: {brand}." if brand else ""]
    parts += _strings(record.get("description"), "description", where)
    return " ".join(p for p in parts if p)
