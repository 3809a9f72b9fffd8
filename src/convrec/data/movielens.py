"""MovieLens loaders: the GroupLens ml-100k files, RecBole atomic copies and the CSV releases."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from convrec.data._columns import id_column, number_column, timestamp_column
from convrec.data._read import (
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
from convrec.data.tabular import load_recbole

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
"""The 19 genre flags of ``u.item``, in the order of ``u.genre``."""

NO_GENRES = "(no genres listed)"
_YEAR = r"((?:1[89]|20)\d\d)"  # 1800-2099, as titles.split_year reads them
_TITLE_YEAR = re.compile(r"\(" + _YEAR + r"(?:[-–]\d{0,4})?\)\s*$")
_DATE_YEAR = re.compile(r"(?:.*\D)?" + _YEAR)
_U_DATA = ("user_id", "item_id", "rating", "timestamp")
_U_USER = ("age", "gender", "occupation", "zip_code")  # the names RecBole's ml-100k.user uses
_DAT_RATINGS = ("UserID", "MovieID", "Rating", "Timestamp")  # ml-1m / ml-10m README names
_DAT_ENCODINGS = ("utf-8-sig", "latin-1")  # ml-10m writes UTF-8, ml-1m's movies.dat latin-1
_DAT_SEP = b"\x1f"  # stands in for "::" so that the bulk reader splits on one byte
_ML1M_AGES = {
    "1": "under 18", "18": "18-24", "25": "25-34", "35": "35-44", "45": "45-49", "50": "50-55",
    "56": "56+",
}  # fmt: skip
"""ml-1m ``users.dat`` age codes and the ranges its README gives them."""
_ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
"""ml-1m ``users.dat`` occupation codes 0-20, in code order."""


def load_movielens(path: str | Path, *, name: str | None = None) -> Dataset:
    """Load a MovieLens directory in any of its three layouts.

    Parameters
    ----------
    path
        A directory (or a file inside it) holding either the GroupLens ml-100k files
        (``u.data``, optional ``u.item`` / ``u.user``), a ``::``-separated release
        (``ratings.dat``, optional ``movies.dat`` / ``users.dat`` / ``tags.dat``: ml-1m,
        ml-10m), a CSV release (``ratings.csv``, optional ``movies.csv`` / ``tags.csv``:
        ml-latest-small, ml-20m, ml-25m, ml-32m) or RecBole atomic files (``<name>.inter``,
        optional ``.item`` / ``.user``).
    name
        Dataset name; the directory name by default.

    Returns
    -------
    Dataset
        Interactions in file order; titles as the source spells them, the year in
        ``catalog.year``; ratings checked against 1..5 (ml-100k) or 0.5..5.
    """
    root = require_path(path)
    if root.is_file():
        root = root.parent
    name = name or root.name
    if (root / "u.data").is_file():
        return _load_grouplens(root, name)
    if (root / "ratings.csv").is_file():
        return _load_csv_release(root, name)
    if (root / "ratings.dat").is_file():
        return _load_dat_release(root, name)
    inter = sorted(root.glob("*.inter"))
    if inter:
        chosen = next((p for p in inter if p.stem == root.name), inter[0])
        whole_stars = "ml-100k" in (name, chosen.stem)  # ml-100k rates 1..5, later ones 0.5..5
        return load_recbole(
            chosen, name=name, rating_range=(1.0, 5.0) if whole_stars else (0.5, 5.0)
        )
    raise DataError(
        "not a MovieLens directory: expected u.data (GroupLens ml-100k), ratings.dat "
        "(ml-1m, ml-10m), ratings.csv (ml-latest, ml-20m, ml-25m, ml-32m) or a RecBole "
        "<name>.inter file",
        path=root,
    )


def title_year(title: str) -> int:
    """Release year from a trailing ``"(1995)"`` (or ``"(1994-1998)"``) in a title, else -1
    (also for a year outside 1800-2099, such as ``"(0000)"``)."""
    match = _TITLE_YEAR.search(title)
    return int(match.group(1)) if match else -1


def _load_grouplens(root: Path, name: str) -> Dataset:
    path = root / "u.data"
    data = check_encoding(read_bytes(path), path)
    table, src = read_delimited(
        data, path, delimiter="\t", names=_U_DATA, columns=_U_DATA, header=False, quoting=False
    )
    item_info = _read_u_item(root / "u.item") if (root / "u.item").is_file() else None
    user_info = _read_u_user(root / "u.user") if (root / "u.user").is_file() else None
    return build_dataset(
        name,
        source=str(path),
        user_ids=id_column(table["user_id"], "user_id", src),
        item_ids=id_column(table["item_id"], "item_id", src),
        rating=number_column(table["rating"], "rating", src, (1.0, 5.0)),
        timestamp=timestamp_column(table["timestamp"], "timestamp", src),
        lines=src.lines,
        item_info=item_info,
        user_info=user_info,
    )


def _split_rows(
    path: Path,
    n_fields: int,
    sep: str,
    encodings: tuple[str, ...] = ("latin-1",),
    last_joins: bool = False,
) -> list[tuple[int, list[str]]]:
    """Non-blank lines of a small ``sep``-separated file as ``(line, fields)``.

    Decoded with the first of ``encodings`` that fits (latin-1 fits any bytes). With
    ``last_joins`` a line may hold more separators than fields: the surplus ones belong to the
    second-to-last field (a tag that contains the separator).
    """
    raw_bytes = read_bytes(path)
    for encoding in encodings:
        try:
            text = raw_bytes.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = raw_bytes.decode("latin-1")
    rows = []
    for line, raw in enumerate(text.split("\n"), start=1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        fields = raw.split(sep)
        if last_joins and len(fields) > n_fields:
            fields = [*fields[: n_fields - 2], sep.join(fields[n_fields - 2 : -1]), fields[-1]]
        if len(fields) != n_fields:
            raise DataError(
                f"expected {n_fields} {'pipe' if sep == '|' else repr(sep)}-separated fields, "
                f"found {len(fields)}",
                path=path,
                line=line,
            )
        if not fields[0].strip():
            raise DataError("empty id", path=path, line=line, field="id")
        rows.append((line, fields))
    return rows


def _read_u_item(path: Path) -> dict[str, ItemInfo]:
    """``u.item``: id|title|release date|video date|url|19 genre flags (latin-1)."""
    info: dict[str, ItemInfo] = {}
    for line, fields in _split_rows(path, 5 + len(GENRES_100K), "|"):
        flags = fields[5:]
        for genre, flag in zip(GENRES_100K, flags, strict=True):
            if flag.strip() not in ("0", "1"):
                raise DataError(
                    f"genre flag must be 0 or 1, found {shown(flag)}",
                    path=path,
                    line=line,
                    field=genre,
                )
        title, released = fields[1].strip(), fields[2].strip()
        year = title_year(title)
        date = _DATE_YEAR.fullmatch(released)
        if year < 0 and date:
            year = int(date.group(1))
        key = _item_key(fields[0], path, line, info)
        genres = tuple(g for g, f in zip(GENRES_100K, flags, strict=True) if f.strip() == "1")
        info[key] = ItemInfo(title=title, year=year, genres=genres)
    return info


def _read_u_user(path: Path) -> dict[str, dict[str, str]]:
    """``u.user``: id|age|gender|occupation|zip."""
    rows = _split_rows(path, 1 + len(_U_USER), "|")
    return {
        f[0].strip(): dict(zip(_U_USER, (v.strip() for v in f[1:]), strict=True)) for _, f in rows
    }


def _item_key(raw: str, path: Path, line: int, seen: dict[str, ItemInfo]) -> str:
    key = raw.strip()
    if key in seen:
        raise DataError(f"item id {key} is listed twice", path=path, line=line)
    return key


def _load_csv_release(root: Path, name: str) -> Dataset:
    path = root / "ratings.csv"
    data = check_encoding(read_bytes(path), path)
    cols = ["userId", "movieId", "rating", "timestamp"]
    names = header_fields(data, path, ",")
    require_columns(names, cols, path)
    table, src = read_delimited(data, path, delimiter=",", names=names, columns=cols, header=True)
    user = id_column(table["userId"], "userId", src)
    item = id_column(table["movieId"], "movieId", src)
    rating = number_column(table["rating"], "rating", src, (0.5, 5.0))
    timestamp = timestamp_column(table["timestamp"], "timestamp", src)
    del table
    tags = _read_tags(root / "tags.csv") if (root / "tags.csv").is_file() else {}
    info = _read_movies(root / "movies.csv") if (root / "movies.csv").is_file() else {}
    return _release(name, path, (user, item, rating, timestamp, src.lines), info, tags)


def _release(
    name: str,
    path: Path,
    columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    info: dict[str, ItemInfo],
    tags: dict[str, str],
    users: dict[str, dict[str, str]] | None = None,
) -> Dataset:
    """A release's Dataset from its rating ``columns`` (user, item, rating, timestamp, line);
    each movie's tags are its text (a movie known only from its tags joins the catalogue)."""
    for key, text in tags.items():
        info[key] = replace(info[key], text=text) if key in info else ItemInfo(text=text)
    user, item, rating, timestamp, lines = columns
    return build_dataset(
        name,
        source=str(path),
        user_ids=user,
        item_ids=item,
        rating=rating,
        timestamp=timestamp,
        lines=lines,
        item_info=info or None,
        user_info=users,
    )


def _movie(title: str, genres: str) -> ItemInfo:
    """A movie of a release: its title, the year in it, and its ``|``-separated genres
    ("(no genres listed)" is none)."""
    names = () if genres.strip() in ("", NO_GENRES) else genres.split("|")
    return ItemInfo(
        title=title.strip(),
        year=title_year(title),
        genres=tuple(g.strip() for g in names if g.strip()),
    )


def _distinct_tags(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each movie's distinct tags from ``(movie, tag)`` pairs, in file order, joined by
    ``", "``."""
    grouped: dict[str, dict[str, None]] = {}
    for key, tag in pairs:
        if tag.strip():
            grouped.setdefault(key.strip(), {})[tag.strip()] = None
    return {key: ", ".join(tags) for key, tags in grouped.items()}


def _read_movies(path: Path) -> dict[str, ItemInfo]:
    """``movies.csv``: movieId,title,genres (``|``-separated; "(no genres listed)" is none)."""
    data = check_encoding(read_bytes(path), path)
    cols = ["movieId", "title", "genres"]
    names = header_fields(data, path, ",")
    require_columns(names, cols, path)
    table, src = read_delimited(data, path, delimiter=",", names=names, columns=cols, header=True)
    ids = table["movieId"].to_pylist()
    info: dict[str, ItemInfo] = {}
    for row, (raw, title, genres) in enumerate(
        zip(ids, table["title"].to_pylist(), table["genres"].to_pylist(), strict=True)
    ):
        if not raw.strip():
            raise src.error(row, "movieId", "empty movieId")
        info[_item_key(raw, path, int(src.lines[row]), info)] = _movie(title, genres)
    return info


def _read_tags(path: Path) -> dict[str, str]:
    """``tags.csv``: each movie's distinct tags in file order, joined by ``", "``."""
    data = check_encoding(read_bytes(path), path)
    names = header_fields(data, path, ",")
    require_columns(names, ["movieId", "tag"], path)
    table, src = read_delimited(
        data, path, delimiter=",", names=names, columns=["movieId", "tag"], header=True
    )
    movie = id_column(table["movieId"], "movieId", src)
    keys = movie.astype(str) if movie.dtype != object else movie
    return _distinct_tags(zip(keys.tolist(), table["tag"].to_pylist(), strict=True))


def _load_dat_release(root: Path, name: str) -> Dataset:
    """ml-1m / ml-10m: ``ratings.dat`` holds ``UserID::MovieID::Rating::Timestamp`` lines."""
    path = root / "ratings.dat"
    data = check_encoding(read_bytes(path), path)
    if _DAT_SEP in data:
        line = data.count(b"\n", 0, data.index(_DAT_SEP)) + 1
        raise DataError("a control byte 0x1f: not a MovieLens .dat file", path=path, line=line)
    head = first_line(data)
    if b"::" not in head:
        raise DataError(
            "expected UserID::MovieID::Rating::Timestamp lines (ml-1m, ml-10m), found "
            + shown(head.decode("utf-8", errors="replace")),
            path=path,
            line=1,
        )
    table, src = read_delimited(
        data.replace(b"::", _DAT_SEP),
        path,
        delimiter=_DAT_SEP.decode(),
        names=_DAT_RATINGS,
        columns=_DAT_RATINGS,
        header=False,
        quoting=False,
        delimiter_name="'::'",
    )
    user = id_column(table["UserID"], "UserID", src)
    item = id_column(table["MovieID"], "MovieID", src)
    rating = number_column(table["Rating"], "Rating", src, (0.5, 5.0))
    timestamp = timestamp_column(table["Timestamp"], "Timestamp", src)
    del table, data
    tags = _read_dat_tags(root / "tags.dat") if (root / "tags.dat").is_file() else {}
    info = _read_dat_movies(root / "movies.dat") if (root / "movies.dat").is_file() else {}
    users = _read_dat_users(root / "users.dat") if (root / "users.dat").is_file() else None
    return _release(name, path, (user, item, rating, timestamp, src.lines), info, tags, users)


def _read_dat_movies(path: Path) -> dict[str, ItemInfo]:
    """``movies.dat``: MovieID::Title::Genres (``|``-separated; "(no genres listed)" is none)."""
    info: dict[str, ItemInfo] = {}
    for line, (raw, title, genres) in _split_rows(path, 3, "::", _DAT_ENCODINGS):
        info[_item_key(raw, path, line, info)] = _movie(title, genres)
    return info


def _read_dat_tags(path: Path) -> dict[str, str]:
    """``tags.dat`` (ml-10m): UserID::MovieID::Tag::Timestamp; each movie's distinct tags in
    file order, joined by ``", "``."""
    pairs = []
    for line, (_, movie, tag, _) in _split_rows(path, 4, "::", _DAT_ENCODINGS, last_joins=True):
        if not movie.strip():
            raise DataError("empty MovieID", path=path, line=line, field="MovieID")
        pairs.append((movie, tag))
    return _distinct_tags(pairs)


def _read_dat_users(path: Path) -> dict[str, dict[str, str]]:
    """``users.dat`` (ml-1m): UserID::Gender::Age::Occupation::Zip-code, the age and occupation
    codes read as their README's ranges and names (an unknown code is kept as written)."""
    users: dict[str, dict[str, str]] = {}
    for _, (raw, gender, age, occupation, zip_code) in _split_rows(path, 5, "::", _DAT_ENCODINGS):
        code = occupation.strip()
        known = code.isdigit() and int(code) < len(_ML1M_OCCUPATIONS)
        users[raw.strip()] = {
            "age": _ML1M_AGES.get(age.strip(), age.strip()),
            "gender": gender.strip(),
            "occupation": _ML1M_OCCUPATIONS[int(code)] if known else code,
            "zip_code": zip_code.strip(),
        }
    return users
