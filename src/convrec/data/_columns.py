"""Bulk-read columns -> validated numpy arrays: ids, numbers, timestamps (vectorised; Python
only to word an error, which names the file, line and field through the column's Source)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from convrec.data._read import Source
from convrec.data.errors import shown


def id_column(col: pa.ChunkedArray | pa.Array, field: str, src: Source) -> np.ndarray:
    """External ids: ``int64[n]`` when every id is a plain integer, else ``object[n]`` of str.

    Raises :class:`DataError` at the first missing or empty id.
    """
    _no_nulls(col, field, src)
    if pa.types.is_integer(col.type):
        return np.asarray(col.to_numpy(), dtype=np.int64)
    if pa.types.is_floating(col.type):
        floats = np.asarray(col.to_numpy(), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(floats) | (floats != np.round(floats)))
        if len(bad):
            raise src.error(int(bad[0]), field, f"id {float(floats[bad[0]])!r} is not an integer")
        return floats.astype(np.int64)
    text = col if _is_string(col) else pc.cast(col, pa.string())
    if src.trim:
        text = pc.utf8_trim_whitespace(text)
    lengths = pc.binary_length(text)
    empty = first_true(pc.equal(lengths, 0))
    if empty >= 0:
        raise src.error(empty, field, f"empty {field}")
    nul = first_true(pc.match_substring(text, "\x00"))  # e.g. a JSON "\u0000" escape
    if nul >= 0:
        raise src.error(nul, field, f"{field} {shown(text[nul].as_py())} holds a NUL character")
    try:  # plain integers (no sign, no leading zero) are kept as int64: much faster to index
        ints = pc.cast(text, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    leading_zero = pc.and_(pc.starts_with(text, "0"), pc.greater(lengths, 1))
    if (
        pc.min(ints).as_py() >= 0
        and first_true(pc.or_(leading_zero, pc.starts_with(text, "+"))) < 0
    ):
        return np.asarray(ints.to_numpy(), dtype=np.int64)
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def number_column(
    col: pa.ChunkedArray | pa.Array, field: str, src: Source, limits: tuple[float, float] | None
) -> np.ndarray:
    """``float64[n]`` finite numbers, inside the closed interval ``limits`` when given."""
    _no_nulls(col, field, src)
    if _is_string(col) and src.trim:
        col = pc.utf8_trim_whitespace(col)
    values = np.asarray(_cast(col, pa.float64(), field, src, "not a number").to_numpy())
    bad = first_index(~np.isfinite(values))
    if bad >= 0:
        raise src.error(bad, field, f"{field} {float(values[bad])!r} is not a finite number")
    if limits is not None:
        lo, hi = limits
        bad = first_index((values < lo) | (values > hi))
        if bad >= 0:
            raise src.error(bad, field, f"{field} {values[bad]:g} is outside {lo:g}..{hi:g}")
    return values


def timestamp_column(col: pa.ChunkedArray | pa.Array, field: str, src: Source) -> np.ndarray:
    """``int64[n]`` seconds; integer text, integral numbers or Arrow timestamps / dates."""
    _no_nulls(col, field, src)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        seconds = pc.cast(pc.cast(col, pa.timestamp("s"), safe=False), pa.int64())
        return np.asarray(seconds.to_numpy(), dtype=np.int64)
    if pa.types.is_integer(col.type):
        if pa.types.is_uint64(col.type):
            over = first_true(pc.greater(col, pa.scalar(_INT64_MAX, pa.uint64())))
            if over >= 0:
                raise src.error(over, field, f"{field} {col[over].as_py()} is out of range")
        return np.asarray(col.to_numpy(), dtype=np.int64)
    if _is_string(col):
        col = pc.utf8_trim_whitespace(col) if src.trim else col
        try:
            return np.asarray(pc.cast(col, pa.int64()).to_numpy(), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # maybe "881250949.0": try as a number
    values = np.asarray(_cast(col, pa.float64(), field, src, "not an integer").to_numpy())
    bad = first_index(~np.isfinite(values) | (values != np.round(values)))
    if bad >= 0:
        raise src.error(bad, field, f"{field} {float(values[bad])!r} is not an integer")
    bad = first_index(np.abs(values) >= 2.0**63)  # would wrap around in int64
    if bad >= 0:
        raise src.error(bad, field, f"{field} {float(values[bad])!r} is out of range")
    return values.astype(np.int64)


_INT64_MAX = 2**63 - 1


def first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    """Index of the first ``True`` of a boolean Arrow array (nulls count as false), or -1."""
    return int(pc.index(pc.fill_null(mask, False), True).as_py())


def first_index(mask: np.ndarray) -> int:
    """Index of the first ``True`` of ``bool[n]``, or -1."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else -1


def _is_string(col: pa.ChunkedArray | pa.Array) -> bool:
    return bool(pa.types.is_string(col.type) or pa.types.is_large_string(col.type))


def _no_nulls(col: pa.ChunkedArray | pa.Array, field: str, src: Source) -> None:
    if col.null_count == 0:
        return
    row = first_true(pc.is_null(col))
    if row >= 0:
        raise src.error(row, field, f"missing {field}")


def _cast(
    col: pa.ChunkedArray | pa.Array, target: pa.DataType, field: str, src: Source, what: str
) -> pa.ChunkedArray | pa.Array:
    """Cast, or raise naming the first value that does not convert (found by bisection)."""
    try:
        return pc.cast(col, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    lo, hi = 0, len(col)
    while hi - lo > 1:  # the first failing value lies in [lo, hi)
        mid = (lo + hi) // 2
        try:
            pc.cast(col.slice(lo, mid - lo), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
        else:
            lo = mid
    raise src.error(lo, field, f"{field} {shown(col[lo].as_py())} is {what}")
