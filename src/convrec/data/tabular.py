"""Column-mapped loaders: any CSV / TSV / Parquet table, and RecBole atomic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from convrec import progress
from convrec.data._columns import id_column, number_column, timestamp_column
from convrec.data._read import (
    Source,
    check_encoding,
    first_line,
    header_fields,
    read_bytes,
    read_delimited,
    require_columns,
    require_path,
)
from convrec.data.dataset import Dataset, ItemInfo, build_dataset
from convrec.data.errors import DataError, shown

DELIMITERS = (",", "\t", ";", "|")
"""Delimiters :func:`load_table` recognises when none is given (ties go to the earlier one)."""

PARQUET_SUFFIXES = (".parquet", ".pq")
_RECBOLE_TITLE = ("movie_title", "title", "item_name", "name")
_RECBOLE_YEAR = ("release_year", "year")
_RECBOLE_GENRES = ("class", "genre", "genres", "categories")


def load_table(
    path: str | Path,
    *,
    user: str = "user_id",
    item: str = "item_id",
    rating: str | None = "rating",
    timestamp: str | None = None,
    delimiter: str | None = None,
    title: str | None = None,
    year: str | None = None,
    genres: str | None = None,
    genre_sep: str = "|",
    text: str | None = None,
    review: str | None = None,
    summary: str | None = None,
    rating_range: tuple[float, float] | None = None,
    encoding: str = "utf-8",
    name: str | None = None,
) -> Dataset:
    """Load interactions from a CSV / TSV (optionally gzipped) or Parquet table.

    Parameters
    ----------
    path
        The table; Parquet when the suffix is ``.parquet`` / ``.pq`` (or the file starts with
        ``PAR1``), delimited text with a header line otherwise.
    user, item
        Columns of the external user and item ids (required, never empty).
    rating
        Column of explicit ratings (finite numbers); ``None`` for implicit data (all ``1.0``).
    timestamp
        Column of integer seconds (or an Arrow timestamp / date in Parquet); ``None``: all 0.
    delimiter
        Field separator; sniffed among ``, \\t ; |`` from the header line when ``None``.
    title, year, genres, text
        Optional item columns; each item takes the values of its first row. ``genres`` is
        split on ``genre_sep`` (a Parquet list of strings is taken as the genres); a year that
        is not an integer counts as unknown (-1).
    review, summary
        Optional per-interaction text columns (``Dataset.review_text`` / ``Dataset.summary``).
    rating_range
        ``(low, high)``: ratings outside it are an error.
    encoding
        Text encoding of a delimited file.
    name
        Dataset name; the file name without its suffixes by default.
    """
    path = require_path(path)
    if user == item:
        raise DataError(f"user and item both name column {user!r}; pass two columns", path=path)
    roles = {
        "user": user, "item": item, "rating": rating, "timestamp": timestamp, "title": title,
        "year": year, "genres": genres, "text": text, "review": review, "summary": summary,
    }  # fmt: skip
    columns = list(dict.fromkeys(c for c in roles.values() if c))
    if _is_parquet(path):
        table, src = _read_parquet(path, columns, lists=[genres] if genres else [])
        if genres and _is_list(table[genres].type):  # genres as a list of strings
            joined = pc.binary_join(table[genres], genre_sep)
            table = table.set_column(table.schema.get_field_index(genres), genres, joined)
    else:
        data = check_encoding(read_bytes(path), path, encoding)
        sep = delimiter or sniff_delimiter(data, path)
        names = header_fields(data, path, sep)
        require_columns(names, columns, path)
        table, src = read_delimited(
            data, path, delimiter=sep, names=names, columns=columns, header=True
        )
    n = table.num_rows
    items = id_column(table[item], item, src)
    info = None
    if title or year or genres or text:
        info = _first_item_info(table, items, roles, genre_sep)
    return build_dataset(
        name or file_stem(path),
        source=str(path),
        user_ids=id_column(table[user], user, src),
        item_ids=items,
        rating=number_column(table[rating], rating, src, rating_range) if rating else np.ones(n),
        timestamp=(
            timestamp_column(table[timestamp], timestamp, src)
            if timestamp
            else np.zeros(n, np.int64)
        ),
        lines=src.lines,
        item_info=info,
        review_text=text_list(table[review]) if review else None,
        summary=text_list(table[summary]) if summary else None,
    )


def load_recbole(
    path: str | Path,
    *,
    user: str = "user_id",
    item: str = "item_id",
    rating: str | None = "rating",
    timestamp: str | None = "timestamp",
    rating_range: tuple[float, float] | None = None,
    name: str | None = None,
) -> Dataset:
    """Load RecBole atomic files: ``<name>.inter`` plus optional ``<name>.item`` / ``.user``.

    Files are tab-separated with a header of ``field:type`` (``token``, ``token_seq``,
    ``float``, ``float_seq``). From ``.item`` the title (``movie_title`` / ``title``), year
    (``release_year`` / ``year``) and genres (``class`` / ``genre(s)`` / ``categories``,
    space-separated) are read; every non-id field of ``.user`` becomes a user attribute.

    Parameters
    ----------
    path
        The ``.inter`` file, or a directory with one (or one named after the directory).
    user, item, rating, timestamp
        Field names; ``rating=None`` for implicit data, ``timestamp=None`` when absent.
    rating_range
        ``(low, high)``: ratings outside it are an error.
    name
        Dataset name; the ``.inter`` file's stem by default.
    """
    inter = _find_inter(require_path(path))
    data = check_encoding(read_bytes(inter), inter)
    names = recbole_header(data, inter)
    wanted = [c for c in (user, item, rating, timestamp) if c]
    require_columns(names, wanted, inter, hint=" (pass rating=None / timestamp=None if absent)")
    table, src = read_delimited(
        data, inter, delimiter="\t", names=names, columns=wanted, header=True, quoting=False
    )
    n = table.num_rows
    item_file, user_file = inter.with_suffix(".item"), inter.with_suffix(".user")
    return build_dataset(
        name or inter.stem,
        source=str(inter),
        user_ids=id_column(table[user], user, src),
        item_ids=id_column(table[item], item, src),
        rating=number_column(table[rating], rating, src, rating_range) if rating else np.ones(n),
        timestamp=(
            timestamp_column(table[timestamp], timestamp, src)
            if timestamp
            else np.zeros(n, np.int64)
        ),
        lines=src.lines,
        item_info=_recbole_items(item_file, item) if item_file.is_file() else None,
        user_info=_recbole_users(user_file, user) if user_file.is_file() else None,
    )


def sniff_delimiter(data: bytes, path: Path) -> str:
    """The delimiter of a header line: tab for ``.tsv``, else the most frequent of DELIMITERS."""
    if ".tsv" in path.suffixes:
        return "\t"
    head = first_line(data).decode("utf-8", errors="replace")
    counts = [head.count(d) for d in DELIMITERS]
    if max(counts) == 0:
        raise DataError(
            "cannot tell the delimiter from the header line (expected , tab ; or |); "
            "pass delimiter=...",
            path=path,
            line=1,
        )
    return DELIMITERS[counts.index(max(counts))]


def recbole_header(data: bytes, path: Path) -> list[str]:
    """Field names of a RecBole header line (``user_id:token`` -> ``user_id``)."""
    names = []
    for field in header_fields(data, path, "\t", quoting=False):
        base, sep, kind = field.partition(":")
        if not sep or not base or not kind:
            raise DataError(
                "RecBole header fields must read name:type (e.g. user_id:token)",
                path=path,
                line=1,
                field=field,
            )
        names.append(base)
    return names


def text_list(col: pa.ChunkedArray) -> list[str]:
    """A text column as ``list[str]`` (missing -> ``""``)."""
    return [str(v) for v in pc.fill_null(pc.cast(col, pa.string()), "").to_pylist()]


def file_stem(path: Path) -> str:
    """File name without compression and format suffixes (``a.json.gz`` -> ``a``)."""
    stem = path.name.removesuffix(".gz")
    return stem.rsplit(".", 1)[0] if "." in stem else stem


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def _read_parquet(path: Path, columns: list[str], lists: list[str]) -> tuple[pa.Table, Source]:
    """The ``columns`` of a Parquet file, each of one number / text / time per row (the
    ``lists`` columns may also be lists of text instead)."""
    if path.is_dir():
        raise DataError("expected a Parquet file, found a directory", path=path)
    try:
        schema = pq.read_schema(path)
        require_columns(schema.names, columns, path, line=None)
        for col in columns:
            kind = schema.field(col).type
            if not (col in lists and _is_list(kind) and pa.types.is_string(kind.value_type)):
                _require_scalar(kind, col, path)
        parquet = pq.ParquetFile(path)
        batches = []
        total = parquet.metadata.num_rows
        with progress.bar(total, desc=f"read {path.name}", unit="rows") as rows_read:
            for batch in parquet.iter_batches(columns=columns):
                batches.append(batch)
                rows_read.update(batch.num_rows)
        table = pa.Table.from_batches(batches) if batches else parquet.read(columns=columns)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"not a readable Parquet file: {err}", path=path) from None
    if table.num_rows == 0:
        raise DataError("the table has no rows", path=path)
    return table, Source(path, np.arange(1, table.num_rows + 1, dtype=np.int64), by_row=True)


def _is_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind))


def _is_scalar(kind: pa.DataType) -> bool:
    """Whether a Parquet column of this type holds one number, text, time or date per row."""
    if pa.types.is_dictionary(kind):
        return _is_scalar(kind.value_type)
    return any(
        test(kind)
        for test in (
            pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_string,
            pa.types.is_large_string, pa.types.is_timestamp, pa.types.is_date, pa.types.is_null,
        )
    )  # fmt: skip


def _require_scalar(kind: pa.DataType, column: str, path: Path) -> None:
    """Raise :class:`DataError` for a list, struct, map, binary or boolean column: none of them
    is an id, a number or a text."""
    if not _is_scalar(kind):
        raise DataError(
            f"column '{column}' holds {shown(str(kind))} values; expected numbers, text "
            "or timestamps (one per row)",
            path=path,
            field=column,
        )


def _first_item_info(
    table: pa.Table, items: np.ndarray, roles: dict[str, str | None], genre_sep: str
) -> dict[str, ItemInfo]:
    """Item side information from the first row of every item."""
    _, first = np.unique(items, return_index=True)
    keys = [str(k) for k in items[first].tolist()]

    def values(role: str) -> list[str]:
        col = roles[role]
        return text_list(table[col].take(pa.array(first))) if col else [""] * len(first)

    rows = zip(keys, values("title"), values("year"), values("genres"), values("text"), strict=True)
    return {
        key: ItemInfo(
            title=title.strip(),
            year=_year(year),
            genres=_split(genre, genre_sep),
            text=text,
        )
        for key, title, year, genre, text in rows
    }


def _find_inter(path: Path) -> Path:
    if path.is_file():
        return path
    found = sorted(path.glob("*.inter"))
    named = [p for p in found if p.stem == path.name]
    if named or len(found) == 1:
        return (named or found)[0]
    what = "no .inter file" if not found else f"{len(found)} .inter files; pass one"
    raise DataError(f"expected one RecBole <name>.inter file, found {what}", path=path)


def _recbole_rows(path: Path, key: str) -> tuple[list[str], list[list[str]]]:
    """All fields of a small RecBole side file as strings: (names, rows)."""
    data = check_encoding(read_bytes(path), path)
    names = recbole_header(data, path)
    require_columns(names, [key], path)
    table, src = read_delimited(
        data, path, delimiter="\t", names=names, columns=names, header=True, quoting=False
    )
    columns = [table[n].to_pylist() for n in names]
    ids = columns[names.index(key)]
    seen: set[str] = set()
    for row, raw in enumerate(ids):
        if not raw.strip():
            raise src.error(row, key, f"empty {key}")
        if raw.strip() in seen:
            raise src.error(row, key, f"{key} {raw.strip()} is listed twice")
        seen.add(raw.strip())
    return names, [list(r) for r in zip(*columns, strict=True)]


def _recbole_items(path: Path, key: str) -> dict[str, ItemInfo]:
    names, rows = _recbole_rows(path, key)

    def pick(options: tuple[str, ...]) -> int | None:
        return next((names.index(o) for o in options if o in names), None)

    k, t, y, g = names.index(key), pick(_RECBOLE_TITLE), pick(_RECBOLE_YEAR), pick(_RECBOLE_GENRES)
    return {
        row[k].strip(): ItemInfo(
            title="" if t is None else row[t].strip(),
            year=-1 if y is None else _year(row[y]),
            genres=() if g is None else _split(row[g], " "),
        )
        for row in rows
    }


def _recbole_users(path: Path, key: str) -> dict[str, dict[str, str]]:
    names, rows = _recbole_rows(path, key)
    k = names.index(key)
    return {
        row[k].strip(): {n: v.strip() for n, v in zip(names, row, strict=True) if n != key}
        for row in rows
    }


def _year(raw: str) -> int:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 4 else -1


def _split(raw: str, sep: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(g.strip() for g in raw.split(sep) if g.strip()))
