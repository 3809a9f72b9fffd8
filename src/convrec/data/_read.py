"""Shared reading helpers: file bytes (gzip aware), UTF-8 checks, delimited text, line numbers."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import re
import stat
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from convrec import progress
from convrec.data.errors import DataError, DatasetNotFoundError

_GZIP_MAGIC = b"\x1f\x8b"
MAX_FILE_BYTES = 1 << 33
"""Largest file read (8 GiB, gunzipped or not): anything larger cannot fit this engine's memory
budget, and a file that grows without end (a link to ``/dev/zero``) stops there."""
BLOCK_SIZE = 1 << 25
"""pyarrow block size (32 MiB), so that no realistic line straddles two blocks."""


@dataclass(frozen=True)
class Source:
    """Where each row of a bulk-read table came from, to name it in errors.

    Attributes
    ----------
    path : pathlib.Path
        The file read.
    lines : numpy.ndarray
        ``int64[n_rows]`` 1-based source line of each row (row number for Parquet).
    by_row : bool
        ``True`` when the file has no lines (Parquet): messages then say "row N".
    trim : bool
        Whether values may carry surrounding spaces to strip (``False`` skips the work).
    """

    path: Path
    lines: np.ndarray
    by_row: bool = False
    trim: bool = True

    def error(self, row: int, field: str | None, message: str) -> DataError:
        """A :class:`DataError` naming the file, the line of ``row`` and ``field``."""
        if self.by_row:
            return DataError(f"row {row + 1}: {message}", path=self.path, field=field)
        return DataError(message, path=self.path, line=int(self.lines[row]), field=field)


def require_path(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` to a directory or a regular file.

    Raises :class:`DatasetNotFoundError` if absent, :class:`DataError` for anything else (a
    FIFO, socket or device, which could block or never end), before anything is opened.
    """
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DatasetNotFoundError("no such file or directory", path=path) from None
    except OSError as err:
        raise DataError(f"cannot read the path: {err.strerror or err}", path=path) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError("not a regular file (a pipe, socket or device is not read)", path=path)
    return path


def read_bytes(path: Path) -> bytes:
    """The whole content of a file, gunzipped when it starts with the gzip magic bytes.

    Raises :class:`DataError` for a directory, an unreadable or empty file, or gzip data that
    is truncated or corrupt (naming the first line that could not be read).
    """
    path = require_path(path)
    if path.is_dir():
        raise DataError("expected a file, found a directory", path=path)
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise DataError(
                f"the file is {size / 2**30:.1f} GiB, over the {MAX_FILE_BYTES / 2**30:.0f} GiB "
                "read at most",
                path=path,
            )
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise DataError(f"cannot read the file: {err.strerror or err}", path=path) from err
    data = _gunzip(raw, path) if raw[:2] == _GZIP_MAGIC else raw
    if not data or data.isspace():
        raise DataError("the file is empty", path=path)
    return data


def _gunzip(raw: bytes, path: Path) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except (EOFError, OSError, zlib.error) as err:
        readable = b""
        with contextlib.suppress(zlib.error):  # error path only: how far can it be read?
            readable = zlib.decompressobj(wbits=31).decompress(raw)
        line = readable.count(b"\n") + 1
        raise DataError(
            f"the gzip data is truncated or corrupt ({err}); it breaks off in line {line}",
            path=path,
            line=line,
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise DataError(
            f"the gzip data unpacks to over {MAX_FILE_BYTES / 2**30:.0f} GiB, the most read",
            path=path,
        )
    return data


def check_encoding(data: bytes, path: Path, encoding: str = "utf-8") -> bytes:
    """``data`` as UTF-8 bytes: checked when UTF-8, transcoded from any other ``encoding``.

    Raises :class:`DataError` naming the line and column of the first undecodable byte.
    """
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
    try:
        text = "" if utf8 and data.isascii() else data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise DataError(
            f"not valid {encoding} text: byte 0x{data[err.start]:02x} at column {column} "
            f"(save the file as UTF-8, or pass encoding=...)",
            path=path,
            line=line,
        ) from None
    except LookupError:
        raise DataError(f"unknown text encoding {encoding!r}", path=path) from None
    out = data if utf8 else text.encode("utf-8")
    nul = out.find(b"\x00")
    if nul >= 0:  # UTF-16 read as UTF-8, or a binary file: no text holds a NUL character
        line = out.count(b"\n", 0, nul) + 1
        column = nul - (out.rfind(b"\n", 0, nul) + 1) + 1
        raise DataError(
            f"a NUL byte at column {column}: not a text file (UTF-16? save it as UTF-8, or pass "
            "encoding=...)",
            path=path,
            line=line,
        )
    return out


def line_numbers(data: bytes, n_rows: int, first_line: int, blank: bytes = rb"\r*") -> np.ndarray:
    """1-based source line of each row when every non-blank line from ``first_line`` is a row.

    Parameters
    ----------
    data
        The file content.
    n_rows
        Rows the bulk reader returned.
    first_line
        Line of the first row (2 after a header).
    blank
        Regex of a line's content that makes it blank (skipped by the bulk reader).

    Returns
    -------
    numpy.ndarray
        ``int64[n_rows]``, or ``int64[0]`` when the rows do not map one-to-one onto the
        non-blank lines (a quoted value spanning lines); callers then rescan in Python.
    """
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if n_lines - first_line + 1 == n_rows:
        return np.arange(first_line, first_line + n_rows, dtype=np.int64)
    is_row = np.ones(n_lines + 1, dtype=bool)
    is_row[:first_line] = False
    line, last = 1, 0
    for match in re.finditer(rb"(?m)^" + blank + rb"$", data):
        if match.start() >= len(data):
            break
        line += data.count(b"\n", last, match.start())
        last = match.start()
        is_row[line] = False
    rows = np.flatnonzero(is_row).astype(np.int64)
    return rows if len(rows) == n_rows else np.zeros(0, np.int64)


def csv_records(
    text: str, delimiter: str, quoting: bool, first_line: int = 1
) -> Iterator[tuple[int, list[str]]]:
    """Python rescan of delimited text: ``(start line, fields)`` of every non-blank record."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    end = 0
    for fields in reader:
        start, end = end + 1, reader.line_num
        if fields and start >= first_line:
            yield start, fields


def first_line(data: bytes) -> bytes:
    """The bytes of line 1, without its line break (no copy of the rest)."""
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


def header_fields(data: bytes, path: Path, delimiter: str, quoting: bool = True) -> list[str]:
    """Column names from the first line (BOM and surrounding spaces removed)."""
    first = first_line(data).decode("utf-8-sig", errors="replace").rstrip("\r")
    names = next(csv_records(first, delimiter, quoting), (1, []))[1]
    names = [n.strip() for n in names]
    if not names or not any(names):
        raise DataError("the header line is empty", path=path, line=1)
    return names


def require_columns(
    names: Sequence[str], wanted: Sequence[str], path: Path, *, line: int | None = 1, hint: str = ""
) -> None:
    """Raise :class:`DataError` naming the first column of ``wanted`` missing from ``names``, or
    named twice there (which of the two was meant cannot be told)."""
    for col in wanted:
        if list(names).count(col) > 1:
            raise DataError(
                f"column '{col}' appears {list(names).count(col)} times in the header",
                path=path,
                line=line,
                field=col,
            )
        if col not in names:
            raise DataError(
                f"missing column '{col}'; the file has: {', '.join(map(repr, names))}{hint}",
                path=path,
                line=line,
                field=col,
            )


def read_delimited(
    data: bytes,
    path: Path,
    *,
    delimiter: str,
    names: Sequence[str],
    columns: Sequence[str],
    header: bool,
    quoting: bool = True,
    delimiter_name: str | None = None,
) -> tuple[pa.Table, Source]:
    """Bulk-read ``columns`` of delimited UTF-8 text as strings with pyarrow.

    Parameters
    ----------
    data
        File content, already checked as UTF-8.
    names
        All column names, in file order (the header's, or given for headerless files).
    columns
        The columns to keep, read as ``string``.
    header
        Whether line 1 is a header (skipped).
    quoting
        Whether ``"`` quotes values (off for tab-separated MovieLens / RecBole files).
    delimiter_name
        How messages name the separator (``"'::'"`` where the caller swapped it for one byte).

    Returns
    -------
    (pyarrow.Table, Source)
        One string column per entry of ``columns``, and the line of every row.
    """
    first_line = 2 if header else 1
    quoting = quoting and b'"' in data
    try:
        reader = pacsv.open_csv(  # block by block, so that a bar counts the rows read
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                column_names=list(names), skip_rows=int(header), block_size=BLOCK_SIZE
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoting else False,
                newlines_in_values=quoting,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                include_columns=list(columns),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        batches = []
        with progress.bar(desc=f"read {path.name}", unit="rows") as rows_read:
            for batch in reader:
                batches.append(batch)
                rows_read.update(batch.num_rows)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowInvalid, pa.ArrowKeyError) as err:
        error = _locate_parse_error(
            data, path, delimiter, len(names), quoting, first_line, err, delimiter_name
        )
        raise error from None
    if table.num_rows == 0:
        what = "has a header but no data rows" if header else "has no data rows"
        raise DataError(f"the file {what}", path=path)
    lines = line_numbers(data, table.num_rows, first_line)
    if len(lines) == 0:  # quoted values span lines: count records in Python
        text = data.decode("utf-8", errors="replace")
        found = [start for start, _ in csv_records(text, delimiter, quoting, first_line)]
        if quoting and found:
            _require_closed_quotes(text, found[-1], delimiter, path)
        if len(found) != table.num_rows:
            raise DataError("rows could not be matched to lines (stray quotes?)", path=path)
        lines = np.asarray(found, dtype=np.int64)
    trim = any(c in data for c in (b" ", b"\t") if c != delimiter.encode())
    return table, Source(path, lines, trim=trim)


def _require_closed_quotes(text: str, last: int, delimiter: str, path: Path) -> None:
    """Raise :class:`DataError` when the record starting in line ``last`` (the file's last)
    opens a quote that is never closed: it would swallow every line after it unseen."""
    start = 0
    for _ in range(last - 1):
        start = text.index("\n", start) + 1
    reader = csv.reader(io.StringIO(text[start:], newline=""), delimiter=delimiter, strict=True)
    try:
        for _ in reader:
            pass
    except csv.Error as err:
        if "unexpected end of data" in str(err):
            raise DataError(
                "a quoted value opened in this line is never closed (it runs to the end of "
                "the file)",
                path=path,
                line=last,
            ) from None


def _locate_parse_error(
    data: bytes,
    path: Path,
    delimiter: str,
    n_fields: int,
    quoting: bool,
    first_line: int,
    err: Exception,
    delimiter_name: str | None = None,
) -> DataError:
    """Error path: rescan in Python for the first record with the wrong number of fields."""
    text = data.decode("utf-8", errors="replace")
    names = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
    sep_name = delimiter_name or names.get(delimiter, delimiter)
    for start, fields in csv_records(text, delimiter, quoting, first_line):
        if len(fields) != n_fields:
            return DataError(
                f"expected {n_fields} {sep_name}-separated fields, found {len(fields)}",
                path=path,
                line=start,
            )
    return DataError(f"cannot parse the file: {err}", path=path)
