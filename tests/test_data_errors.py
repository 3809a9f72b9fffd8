"""Malformed inputs: every one raises a DataError naming the file, line and field that apply."""

import gzip
import json
import os
import tempfile
from pathlib import Path
from unittest.mock import ANY

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convrec.data import (
    FORMATS,
    DataError,
    DatasetNotFoundError,
    DuplicateInteractionWarning,
    load_amazon,
    load_dataset,
    load_movielens,
    load_recbole,
    load_table,
    read_meta,
    registry,
)

HEADER = "userId,movieId,rating,timestamp\n"


def _review(**fields):
    record = {"reviewerID": "U1", "asin": "A1", "overall": 5.0, "unixReviewTime": 100}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not ...}) + "\n"


def _raises(call, path, line, field=None, match=None):
    """Run ``call`` and check the DataError's file, line and field."""
    with pytest.raises(DataError, match=match) as info:
        call()
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), line, field), str(err)
    return err


def _ml(write, body, name="ml/ratings.csv"):
    path = write(name, HEADER + body)
    return path, lambda: load_movielens(path)


# -- gzip and text encoding ----------------------------------------------------------------------


def test_truncated_gzip(write):
    full = gzip.compress(("".join(_review(asin=f"A{i}") for i in range(2000))).encode())
    path = write("r.json.gz", full[: len(full) // 2])
    err = _raises(lambda: load_amazon(path), path, ANY, match="truncated or corrupt")
    assert 1 < err.line < 2000 and f"breaks off in line {err.line}" in str(err)


def test_corrupt_gzip(write):
    path = write("t.csv.gz", b"\x1f\x8b\x08\x00garbage-not-deflate")
    _raises(lambda: load_table(path), path, 1, match="corrupt")


def test_non_utf8_names_the_line(write):
    path = write("t.csv", b"user_id,item_id,rating\na,b,1\nc,d\xe9\xff,2\n")
    _raises(lambda: load_table(path), path, 3, match="UTF-8")


def test_other_encoding_when_asked(write):
    path = write("t.csv", "user_id,item_id,rating\nJosé,b,1\n", encoding="latin-1")
    assert load_table(path, encoding="latin-1").users.external == ("José",)


# -- empty files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n \n", gzip.compress(b"")])
def test_empty_file(write, content):
    path = write("r.json.gz", content)
    _raises(lambda: load_dataset(path), path, None, match="empty")


@pytest.mark.parametrize(
    ("name", "content", "call"),
    [
        ("ml/ratings.csv", HEADER, load_movielens),
        ("t.csv", "user_id,item_id,rating\r\n", load_table),
        ("x.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n", load_recbole),
    ],
)
def test_header_only(write, name, content, call):
    path = write(name, content)
    _raises(lambda: call(path), path, None, match="header but no data rows")


# -- JSON lines ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line2", "match"),
    [
        ('{"reviewerID": "U2", "asin": \n', "not valid JSON"),
        ("[1, 2]\n", "expected a JSON object"),
        (_review().strip() + _review(), "not valid JSON"),  # two objects on one line
    ],
)
def test_json_line_that_does_not_parse(write, line2, match):
    path = write("r.json", _review() + "\n" + line2 + _review(asin="A3"))
    _raises(lambda: load_amazon(path), path, 3, match=match)


@pytest.mark.parametrize("field", ["reviewerID", "asin", "overall", "unixReviewTime"])
def test_missing_required_json_field(write, field):
    path = write("r.json", _review() + _review(**{field: ...}))
    _raises(lambda: load_amazon(path), path, 2, field, match=f"missing.*{field}")


@pytest.mark.parametrize(
    ("fields", "field", "match"),
    [
        ({"overall": "five"}, "overall", "not a number"),
        ({"overall": 0.0}, "overall", "outside 1..5"),
        ({"overall": 6}, "overall", "outside 1..5"),
        ({"overall": float("nan")}, "overall", "not a finite"),
        ({"unixReviewTime": 1.5}, "unixReviewTime", "not an integer"),
        ({"unixReviewTime": "2014-01-01"}, "unixReviewTime", "not an integer"),
        ({"reviewerID": ""}, "reviewerID", "empty reviewerID"),
        ({"asin": "  "}, "asin", "empty asin"),
        ({"reviewText": 5}, "reviewText", "must be a string"),
    ],
)
def test_bad_json_values(write, fields, field, match):
    path = write("r.json", _review(asin="A0") + "\n" + _review(**fields))
    _raises(lambda: load_amazon(path), path, 3, field, match=match)


def test_bad_meta_lines(write):
    reviews = write("r.json", _review())
    bad = write("meta.json", "{'asin': 'A1'}\n{'asin': 'A2', 'title': \n")
    _raises(lambda: load_amazon(reviews, meta=bad), bad, 2, match="neither a JSON object nor")
    no_asin = write("meta2.json", '{"title": "x"}\n')
    _raises(lambda: read_meta(no_asin), no_asin, 1, "asin", match="asin")
    code = write("meta3.json", "__import__('os').getcwd()\n")  # literal_eval, never eval
    _raises(lambda: read_meta(code), code, 1, match="neither a JSON object nor")


# -- delimited text ------------------------------------------------------------------------------


def test_missing_column(write):
    path = write("ml/ratings.csv", "userId,movieId,timestamp\n1,2,3\n")
    _raises(lambda: load_movielens(path), path, 1, "rating", match="missing column 'rating'")
    table = write("t.csv", "user,item_id\n1,2\n")
    _raises(lambda: load_table(table, rating=None), table, 1, "user_id", match="'user', 'item_id'")
    inter = write("x.inter", "user_id:token\titem_id:token\n1\t2\n")
    _raises(lambda: load_recbole(inter), inter, 1, "rating", match="rating=None")


def test_wrong_number_of_fields(write):
    path, call = _ml(write, "1,2,3,4\n1,2,3\n")
    _raises(call, path, 3, match="expected 4 comma-separated fields, found 3")
    u_data = write("g/u.data", "1\t2\t3\t4\n\n1\t2\t3\t4\t5\n")
    _raises(lambda: load_movielens(u_data), u_data, 3, match="tab-separated")


@pytest.mark.parametrize(
    ("body", "line", "field", "match"),
    [
        ("1,2,4,5\n1,3,four,5\n", 3, "rating", "'four' is not a number"),
        ("1,2,4,5\n1,3,,5\n", 3, "rating", "not a number"),
        ("1,2,4,5\n1,3,5.5,5\n", 3, "rating", "5.5 is outside 0.5..5"),
        ("1,2,0,5\n", 2, "rating", "0 is outside 0.5..5"),
        ("1,2,inf,5\n", 2, "rating", "not a finite"),
        ("1,2,4,5\n\n\n1,3,4,12.5\n", 5, "timestamp", "12.5 is not an integer"),
        ("1,2,4,5\n1,3,4,yesterday\n", 3, "timestamp", "'yesterday' is not an integer"),
        ("1,2,4,5\n,3,4,5\n", 3, "userId", "empty userId"),
        ("1,2,4,5\n1, ,4,5\n", 3, "movieId", "empty movieId"),
        ('1,2,4,5\n"1\n",3,4,5\n1,"",4,5\n', 5, "movieId", "empty movieId"),
    ],
)
def test_bad_csv_values(write, body, line, field, match):
    path, call = _ml(write, body)
    _raises(call, path, line, field, match=match)


def test_bad_grouplens_values(write):
    path = write("g/u.data", "1\t2\t3\t4\n1\t3\t6\t4\n")
    _raises(lambda: load_movielens(path), path, 2, "rating", match="6 is outside 1..5")
    write("g/u.data", "1\t2\t3\t4\n")
    item = write("g/u.item", "1|T (1995)|||u|" + "|".join("0" * 18) + "|2\n")
    _raises(lambda: load_movielens(item.parent), item, 1, "Western", match="0 or 1")
    item = write("g/u.item", "1|T (1995)|||u|0\n")
    _raises(lambda: load_movielens(item.parent), item, 1, match="expected 24 pipe-separated")


def test_generic_rating_range_and_finite(write):
    path = write("t.csv", "user_id,item_id,rating\na,b,3\na,c,-inf\n")
    _raises(lambda: load_table(path), path, 3, "rating", match="not a finite")
    path = write("t2.csv", "user_id,item_id,rating\na,b,3\na,c,11\n")
    assert load_table(path).rating.tolist() == [3, 11]  # no range given: any finite number
    _raises(lambda: load_table(path, rating_range=(0, 10)), path, 3, "rating", match="0..10")


def test_recbole_header_needs_types(write):
    path = write("x.inter", "user_id\titem_id:token\n1\t2\n")
    _raises(lambda: load_recbole(path), path, 1, "user_id", match="name:type")


def test_cannot_sniff_delimiter(write):
    path = write("t.csv", "user_id item_id\n1 2\n")
    _raises(lambda: load_table(path), path, 1, match="delimiter")


def test_parquet_errors(write, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"user_id": [1], "item": ["a"]}), path)
    _raises(lambda: load_table(path, rating=None), path, None, "item_id", match="missing column")
    pq.write_table(pa.table({"user_id": [1, None], "item_id": ["a", "b"]}), path)
    _raises(lambda: load_table(path, rating=None), path, None, "user_id", match="row 2: missing")
    fake = write("f.parquet", b"PAR1 not really")
    _raises(lambda: load_table(fake), fake, None, match="Parquet")


# -- duplicates ----------------------------------------------------------------------------------


def test_duplicate_pair_keeps_latest_and_warns(write):
    body = "1,2,4,500\n1,3,3,10\n1,2,1,900\n1,2,5,100\n"
    _, call = _ml(write, body)
    with pytest.warns(DuplicateInteractionWarning, match=r"2 duplicate.*dropped lines 2, 5"):
        ds = call()
    assert [(ds.items.external[i], float(r)) for i, r in zip(ds.item, ds.rating, strict=True)] == [
        ("3", 3.0),
        ("2", 1.0),  # timestamp 900 is the latest of the three (1, 2) rows
    ]


def test_duplicate_pair_same_time_keeps_later_line(write):
    path = write("r.json", _review(overall=1, summary="old") + _review(overall=4, summary="new"))
    with pytest.warns(DuplicateInteractionWarning, match="dropped lines 1"):
        ds = load_amazon(path)
    assert ds.rating.tolist() == [4.0] and ds.summary == ["new"]


# -- paths and formats ---------------------------------------------------------------------------


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.csv"
    for call in (load_dataset, load_table, load_amazon, load_movielens, load_recbole):
        with pytest.raises(DatasetNotFoundError) as info:
            call(missing)
        assert info.value.path == str(missing) and isinstance(info.value, FileNotFoundError)


def test_ml100k_not_installed(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    assert registry.find_movielens_100k() is None
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("ml-100k")
    message = str(info.value)
    assert "pip install --no-deps recbole==1.2.1" in message
    assert "https://files.grouplens.org/datasets/movielens/ml-100k.zip" in message


@pytest.mark.parametrize("name", ["data.xlsx", "notes", "dir/"])
def test_unknown_format(write, tmp_path, name):
    if name == "dir/":
        path = tmp_path / "dir"
        path.mkdir()
    else:
        path = write(name, "x")
    err = _raises(lambda: load_dataset(path), path, None)
    assert "supported" in str(err) and FORMATS in str(err)


def test_not_a_movielens_directory(tmp_path):
    _raises(lambda: load_movielens(tmp_path), tmp_path, None, match="not a MovieLens directory")


# -- the line named is the true line, whatever the layout ----------------------------------------

_ROW = st.tuples(
    st.sampled_from(["", "\n", "\r\n", "\n\n"]),  # blank lines before the row
    st.booleans(),  # a quoted title spanning two lines
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=30), data=st.data())
def test_error_line_is_exact(rows, data):
    bad = data.draw(st.integers(0, len(rows) - 1))
    text, line, bad_line = "user_id,item_id,rating,title\n", 2, 0
    for r, (blank, multiline) in enumerate(rows):
        text += blank
        line += blank.count("\n")
        bad_line = line if r == bad else bad_line
        title = '"two\nlines"' if multiline else "t"
        text += f"u{r},i{r},{'x' if r == bad else 3},{title}\n"
        line += 1 + multiline
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_text(text, encoding="utf-8")
        _raises(lambda: load_table(path, title="title"), path, bad_line, "rating", "'x'")


def test_item_listed_twice_in_side_files(write):
    _ml(write, "1,2,4,5\n")
    movies = write("ml/movies.csv", "movieId,title,genres\n2,A (1990),Drama\n\n2,B (1991),Drama\n")
    _raises(lambda: load_movielens(movies.parent), movies, 4, match="listed twice")
    write("rb/rb.inter", "user_id:token\titem_id:token\n1\t2\n")
    item = write("rb/rb.item", "item_id:token\ttitle:token_seq\n2\tA\n2\tB\n")
    _raises(lambda: load_recbole(item.parent, rating=None, timestamp=None), item, 3, "item_id")


# -- values that would be stored wrongly, files that must not be read, oversized fields ----------


@pytest.mark.parametrize(
    "stamp", ["99999999999999999999", "9223372036854775808", "-9300000000000000000", "1e30"]
)
def test_timestamp_beyond_int64_is_an_error_not_a_wrapped_value(write, stamp):
    path, call = _ml(write, f"1,3,5.0,100\n1,4,4.0,{stamp}\n")
    _raises(call, path, 3, "timestamp", match="out of range")


def test_unsigned_parquet_timestamp_beyond_int64(write, tmp_path):
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "u": ["a", "b"],
            "i": ["x", "y"],
            "ts": pa.array([5, 2**63 + 7], pa.uint64()),
        }
    )
    pq.write_table(table, path)
    call = lambda: load_table(path, user="u", item="i", rating=None, timestamp="ts")  # noqa: E731
    err = _raises(call, path, None, "ts", match="out of range")
    assert "row 2" in str(err)


@pytest.mark.parametrize("header", ["uid,uid,iid,stars", "uid,iid,stars,stars"])
def test_a_column_named_twice_in_the_header(write, header):
    path = write("t.csv", header + "\n1,2,3,4\n")
    field = "uid" if header.count("uid") > 1 else "stars"
    call = lambda: load_table(path, user="uid", item="iid", rating="stars")  # noqa: E731
    _raises(call, path, 1, field, match="appears 2 times")


def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
    fifo = tmp_path / "ratings.csv"
    os.mkfifo(fifo)
    for call in (lambda: load_dataset(fifo), lambda: load_table(fifo)):
        _raises(call, fifo, None, match="not a regular file")


def test_a_link_to_a_device_is_refused(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this system")
    link = tmp_path / "ratings.csv"
    link.symlink_to("/dev/zero")
    _raises(lambda: load_dataset(link), link, None, match="not a regular file")


def test_a_file_over_the_size_limit_is_refused_before_reading(write, monkeypatch):
    from convrec.data import _read

    path, call = _ml(write, "1,3,5.0,100\n")
    monkeypatch.setattr(_read, "MAX_FILE_BYTES", 16)
    _raises(call, path, None, match="read at most")


def test_gzip_that_unpacks_past_the_limit_is_refused(write, monkeypatch):
    from convrec.data import _read

    path = write("r.json.gz", "".join(_review(asin=f"A{i}") for i in range(50)), gz=True)
    monkeypatch.setattr(_read, "MAX_FILE_BYTES", 1000)
    _raises(lambda: load_amazon(path), path, None, match="unpacks to over")


def test_lone_surrogate_in_a_review_names_line_and_field(write):
    body = _review(asin="A0") + _review(reviewText=...).replace("}", ', "reviewText": "a \\ud800"}')
    path = write("r.json", body)
    _raises(lambda: load_amazon(path), path, 2, "reviewText", match="lone surrogate")


@pytest.mark.parametrize("field", ["rating", "timestamp"])
def test_a_huge_bad_field_is_quoted_short(write, field):
    huge = "x" * 10_000_000
    row = {"rating": f"1,3,{huge},100", "timestamp": f"1,3,5.0,{huge}"}
    path, call = _ml(write, "1,2,4.0,100\n" + row[field] + "\n")
    err = _raises(call, path, 3, field)
    assert len(str(err)) < 300, str(err)[:300]


def test_huge_bad_json_value_is_quoted_short(write):
    path = write("r.json", _review(overall="5" * 1_000_000))
    err = _raises(lambda: load_amazon(path), path, 1, "overall", match="is not a number")
    assert len(str(err)) < 300


def test_half_star_data_keeps_its_own_rating_scale(write):
    from convrec.evaluation import rating_scale

    path, _ = _ml(write, "1,3,0.5,100\n1,4,5.0,101\n2,3,3.5,102\n")
    data = load_movielens(path)
    assert rating_scale(data) == (0.5, 5.0)


# -- a table of malformed (and tricky but valid) inputs: each a one-line error or a correct load --


class Dir:
    """A directory where a file is expected."""


class Link:
    """A symbolic link to ``target`` (relative to the case's folder)."""

    def __init__(self, target):
        self.target = target


class Table:
    """A Parquet file holding ``columns``."""

    def __init__(self, **columns):
        self.table = pa.table(columns)


def _gz(content):
    return gzip.compress(content.encode() if isinstance(content, str) else content)


def _make(root, files):
    for name, spec in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, Dir):
            path.mkdir()
        elif isinstance(spec, Link):
            path.symlink_to(root / spec.target)
        elif isinstance(spec, Table):
            pq.write_table(spec.table, path)
        else:
            path.write_bytes(spec.encode() if isinstance(spec, str) else spec)


def _csv(body, header="user_id,item_id,rating"):
    return {"t.csv": header + "\n" + body}


def _json(*records):
    return {"r.json": "".join(_review(**r) if isinstance(r, dict) else r for r in records)}


def _u_item(*rows):
    return {"g/u.data": "1\t2\t3\t4\n", "g/u.item": "".join(r + "\n" for r in rows)}


def _item_row(key="2", title="T (1995)", released="", flags="0" * 19):
    return "|".join([key, title, released, "", "u", *flags])


def _meta(record):
    text = record if isinstance(record, str) else json.dumps(record)
    return {"r.json": _review(), "m.json": text + "\n"}


def _movies(body):
    return {
        "mv/ratings.csv": HEADER + "1,2,3,4\n",
        "mv/movies.csv": "movieId,title,genres\n" + body,
    }


TABLE = lambda **kw: lambda root: load_table(root / "t.csv", **kw)  # noqa: E731
PARQUET = lambda **kw: lambda root: load_table(root / "t.parquet", **kw)  # noqa: E731
AMAZON = lambda root: load_amazon(root / "r.json")  # noqa: E731
META = lambda root: load_amazon(root / "r.json", meta=root / "m.json")  # noqa: E731
GROUPLENS = lambda root: load_movielens(root / "g")  # noqa: E731
MOVIES = lambda root: load_movielens(root / "mv")  # noqa: E731
ANY_FORMAT = lambda name: lambda root: load_dataset(root / name)  # noqa: E731

# id: (files, load, (file, line, field, message regex))
ERRORS = {
    # text encodings, byte order marks, line ends
    "utf16-with-bom": ({"t.csv": "user_id,item_id,rating\n1,2,3\n".encode("utf-16")}, TABLE(),
                       ("t.csv", 1, None, "not valid utf-8 text: byte 0xff at column 1")),
    "utf16le-no-bom": ({"t.csv": "user_id,item_id,rating\n1,2,3\n".encode("utf-16-le")}, TABLE(),
                       ("t.csv", 1, None, "NUL byte at column 2.*UTF-16")),
    "nul-byte-in-id": (_csv("1,2,3\n1,\x00,3\n"), TABLE(), ("t.csv", 3, None, "NUL byte at col")),
    "json-nul-escape-in-id": (_json({"reviewerID": "U\u0000"}), AMAZON,
                              ("r.json", 1, "reviewerID", "holds a NUL character")),
    "latin1-in-json": ({"r.json": (_review() + _review(summary="caf-")).encode()
                        .replace(b"caf-", b"caf\xe9")}, AMAZON,
                       ("r.json", 2, None, "byte 0xe9")),
    "not-utf16-when-asked": ({"t.csv": b"user_id,item_id,rating\n1,2,3\n"},
                             TABLE(encoding="utf-16"), ("t.csv", 2, None, "not valid utf-16")),
    "unknown-encoding": (_csv("1,2,3\n"), TABLE(encoding="klingon"),
                         ("t.csv", None, None, "unknown text encoding 'klingon'")),
    "crlf-bad-rating": ({"t.csv": "user_id,item_id,rating\r\n1,2,3\r\n1,3,x\r\n"}, TABLE(),
                        ("t.csv", 3, "rating", "'x' is not a number")),
    "cr-only-bad-rating": ({"t.csv": "user_id,item_id,rating\r1,2,3\r1,3,x\r"}, TABLE(),
                           ("t.csv", 3, "rating", "'x' is not a number")),
    "crlf-json-bad-value": ({"r.json": (_review() + _review(overall="x")).replace("\n", "\r\n")},
                            AMAZON, ("r.json", 2, "overall", "'x' is not a number")),
    "bad-utf8-in-movies": ({**_movies("2,X (1990),Drama\n"), "mv/movies.csv": b"movieId,title,"
                            b"genres\n2,Caf\xe9 (1990),Drama\n"}, MOVIES,
                           ("mv/movies.csv", 2, None, "byte 0xe9")),
    "bad-utf8-in-tags": ({"mv/ratings.csv": HEADER + "1,2,3,4\n",
                          "mv/tags.csv": b"userId,movieId,tag,timestamp\n1,2,\xff,3\n"}, MOVIES,
                         ("mv/tags.csv", 2, None, "byte 0xff")),
    # quotes
    "unclosed-quote-swallows-rows": (_csv('1,2,3,"abc\n1,3,4,x\n1,4,5,y\n', "user_id,item_id,"
                                          "rating,title"), TABLE(title="title"),
                                     ("t.csv", 2, None, "quoted value .* never closed")),
    "bare-quote-shifts-fields": (_csv('1,"2,3\n4,5,6\n'), TABLE(),
                                 ("t.csv", 2, None, "expected 3 comma-separated fields, found 2")),
    # empty files and header-only files
    "zero-byte-csv": ({"t.csv": b""}, TABLE(), ("t.csv", None, None, "the file is empty")),
    "zero-byte-u.data": ({"g/u.data": b""}, GROUPLENS, ("g/u.data", None, None, "empty")),
    "zero-byte-parquet": ({"t.parquet": b""}, PARQUET(), ("t.parquet", None, None, "Parquet")),
    "zero-byte-gz": ({"r.json.gz": b""}, ANY_FORMAT("r.json.gz"),
                     ("r.json.gz", None, None, "the file is empty")),
    "gz-of-nothing-csv": ({"t.csv": _gz("")}, TABLE(), ("t.csv", None, None, "empty")),
    "header-only-gz-csv": ({"t.csv": _gz("user_id,item_id,rating\n")}, TABLE(),
                           ("t.csv", None, None, "header but no data rows")),
    "header-then-blank-lines": (_csv("\n\r\n"), TABLE(),
                                ("t.csv", None, None, "header but no data rows")),
    "a-line-of-one-space": (_csv("1,2,3\n \n"), TABLE(), ("t.csv", 3, None, "found 1")),
    "header-only-tsv": ({"t.tsv": "user_id\titem_id\trating\n"},
                        lambda root: load_table(root / "t.tsv"),
                        ("t.tsv", None, None, "header but no data rows")),
    "whitespace-only-json": ({"r.json": "  \n\t\n"}, AMAZON, ("r.json", None, None, "empty")),
    "empty-parquet-table": ({"t.parquet": Table(user_id=pa.array([], pa.int64()),
                                                item_id=pa.array([], pa.int64()))},
                            PARQUET(rating=None), ("t.parquet", None, None, "no rows")),
    # missing columns
    "missing-item-column": (_csv("1,2\n", "user_id,rating"), TABLE(),
                            ("t.csv", 1, "item_id", "missing column 'item_id'")),
    "missing-named-timestamp": (_csv("1,2,3\n"), TABLE(timestamp="ts"),
                                ("t.csv", 1, "ts", "missing column 'ts'")),
    "ratings-without-timestamp": ({"mv/ratings.csv": "userId,movieId,rating\n1,2,3\n"},
                                  MOVIES, ("mv/ratings.csv", 1, "timestamp", "missing column")),
    "movies-without-genres": (_movies("2,X (1990)\n") | {"mv/movies.csv": "movieId,title\n2,X\n"},
                              MOVIES, ("mv/movies.csv", 1, "genres", "missing column")),
    "tags-without-tag": ({"mv/ratings.csv": HEADER + "1,2,3,4\n",
                          "mv/tags.csv": "userId,movieId,label\n1,2,x\n"}, MOVIES,
                         ("mv/tags.csv", 1, "tag", "missing column 'tag'")),
    "parquet-without-rating": ({"t.parquet": Table(user_id=[1], item_id=[2])}, PARQUET(),
                               ("t.parquet", None, "rating", "missing column 'rating'")),
    "tsv-holding-commas": ({"t.tsv": "user_id,item_id,rating\n1,2,3\n"},
                           lambda root: load_table(root / "t.tsv"),
                           ("t.tsv", 1, "user_id", "'user_id,item_id,rating'")),
    "same-column-for-user-and-item": (_csv("1,2,3\n"), TABLE(item="user_id"),
                                      ("t.csv", None, None, "user and item both name")),
    # ratings
    "nan-rating": (_csv("1,2,3\n1,3,NaN\n"), TABLE(), ("t.csv", 3, "rating", "nan is not a fin")),
    "minus-inf-rating": (_csv("1,2,-inf\n"), TABLE(), ("t.csv", 2, "rating", "-inf is not a")),
    "overflowing-rating": (_csv("1,2,1e400\n"), TABLE(), ("t.csv", 2, "rating", "inf is not a")),
    "negative-movielens-rating": ({"mv/ratings.csv": HEADER + "1,2,-1,4\n"}, MOVIES,
                                  ("mv/ratings.csv", 2, "rating", "-1 is outside 0.5..5")),
    "two-decimal-points": (_csv("1,2,3.0.1\n"), TABLE(), ("t.csv", 2, "rating", "'3.0.1' is not")),
    "blank-rating": (_csv("1,2,   \n"), TABLE(), ("t.csv", 2, "rating", "is not a number")),
    "decimal-comma": ({"t.csv": "user_id;item_id;rating\n1;2;3,5\n"}, TABLE(),
                      ("t.csv", 2, "rating", "'3,5' is not a number")),
    "amazon-negative-overall": (_json({"overall": -1}), AMAZON,
                                ("r.json", 1, "overall", "-1 is outside 1..5")),
    "amazon-overall-as-text-nan": (_json({"overall": "NaN"}), AMAZON,
                                   ("r.json", 1, "overall", "'NaN' is not a number")),
    "amazon-nan-literal": ({"r.json": _review().replace("5.0", "NaN")}, AMAZON,
                           ("r.json", 1, "overall", "nan is not a finite")),
    "grouplens-rating-zero": ({"g/u.data": "1\t2\t0\t4\n"}, GROUPLENS,
                              ("g/u.data", 1, "rating", "0 is outside 1..5")),
    "parquet-inf-rating": ({"t.parquet": Table(user_id=[1, 2], item_id=[2, 3],
                                               rating=[4.0, float("inf")])}, PARQUET(),
                           ("t.parquet", None, "rating", "row 2: rating inf is not a finite")),
    "parquet-text-rating": ({"t.parquet": Table(user_id=[1], item_id=[2], rating=["x"])},
                            PARQUET(), ("t.parquet", None, "rating", "row 1: rating 'x' is not")),
    "rating-outside-given-range": (_csv("1,2,3\n1,3,11\n"), TABLE(rating_range=(1, 10)),
                                   ("t.csv", 3, "rating", "11 is outside 1..10")),
    # ids
    "parquet-fractional-id": ({"t.parquet": Table(user_id=[1.5], item_id=[2])},
                              PARQUET(rating=None), ("t.parquet", None, "user_id", "1.5 is not")),
    "parquet-null-item": ({"t.parquet": Table(user_id=[1, 2], item_id=["a", None])},
                          PARQUET(rating=None), ("t.parquet", None, "item_id", "row 2: missing")),
    "amazon-null-asin": (_json({"asin": None}), AMAZON, ("r.json", 1, "asin", "missing asin")),
    "amazon-object-reviewer": (_json({"reviewerID": {"a": 1}}), AMAZON,
                               ("r.json", 1, "reviewerID", "must be a string")),
    "amazon-boolean-asin": (_json({"asin": True}), AMAZON, ("r.json", 1, "asin", "must be a str")),
    "empty-quoted-user": (_csv('1,2,3\n"",3,4\n'), TABLE(), ("t.csv", 3, "user_id", "empty user")),
    # timestamps
    "clock-time-timestamp": (_csv("1,2,3,12:30\n", "user_id,item_id,rating,ts"),
                             TABLE(timestamp="ts"),
                             ("t.csv", 2, "ts", "'12:30' is not an integer")),
    "parquet-nan-timestamp": ({"t.parquet": Table(user_id=[1], item_id=[2], ts=[float("nan")])},
                              PARQUET(rating=None, timestamp="ts"),
                              ("t.parquet", None, "ts", "nan is not an integer")),
    "amazon-text-timestamp": (_json({"unixReviewTime": "abc"}), AMAZON,
                              ("r.json", 1, "unixReviewTime", "'abc' is not an integer")),
    "amazon-huge-float-timestamp": (_json({"unixReviewTime": 1e19}), AMAZON,
                                    ("r.json", 1, "unixReviewTime", "out of range")),
    "amazon-overflowing-timestamp": ({"r.json": _review().replace("100}", "1e400}")}, AMAZON,
                                     ("r.json", 1, "unixReviewTime", "inf is not an integer")),
    # Parquet column types (one number / text / time per row, or genres as a list of strings)
    "parquet-list-user": ({"t.parquet": Table(user_id=[[1], [2]], item_id=[1, 2])},
                          PARQUET(rating=None), ("t.parquet", None, "user_id", "list<element")),
    "parquet-struct-item": ({"t.parquet": Table(user_id=[1], item_id=[{"a": 1}])},
                            PARQUET(rating=None), ("t.parquet", None, "item_id", "'struct<a")),
    "parquet-binary-rating": ({"t.parquet": Table(user_id=[1], item_id=[2], rating=[b"4"])},
                              PARQUET(), ("t.parquet", None, "rating", "'binary' values")),
    "parquet-bool-rating": ({"t.parquet": Table(user_id=[1], item_id=[2], rating=[True])},
                            PARQUET(), ("t.parquet", None, "rating", "'bool' values")),
    "parquet-list-timestamp": ({"t.parquet": Table(user_id=[1], item_id=[2], ts=[[5]])},
                               PARQUET(rating=None, timestamp="ts"),
                               ("t.parquet", None, "ts", "list<element: int64>")),
    "parquet-map-title": ({"t.parquet": Table(user_id=[1], item_id=[2], name=pa.array(
                           [[("en", "x")]], pa.map_(pa.string(), pa.string())))},
                          PARQUET(rating=None, title="name"), ("t.parquet", None, "name", "map<")),
    "parquet-list-of-numbers-as-genres": ({"t.parquet": Table(user_id=[1], item_id=[2], g=[[1]])},
                                          PARQUET(rating=None, genres="g"),
                                          ("t.parquet", None, "g", "list<element: int64>")),
    "parquet-list-of-text-as-title": ({"t.parquet": Table(user_id=[1], item_id=[2], t=[["a"]])},
                                      PARQUET(rating=None, title="t"),
                                      ("t.parquet", None, "t", "list<element: string>")),
    # gzip
    "truncated-gzip-csv": ({"t.csv": _gz("user_id,item_id,rating\n" + "".join(
                           f"{i},{i},3\n" for i in range(5000)))[:300]},
                           TABLE(), ("t.csv", ANY, None, "truncated or corrupt")),
    "gzip-magic-only": ({"t.csv": b"\x1f\x8b"}, TABLE(), ("t.csv", 1, None, "truncated or")),
    "gzip-with-trailing-garbage": ({"r.json.gz": _gz(_review()) + b"garbage"},
                                   ANY_FORMAT("r.json.gz"), ("r.json.gz", 2, None, "corrupt")),
    "gzip-twice": ({"r.json.gz": _gz(_gz(_review()))}, ANY_FORMAT("r.json.gz"),
                   ("r.json.gz", 1, None, "not valid utf-8")),
    # delimiters and field counts
    "semicolon-header-comma-rows": ({"t.csv": "user_id;item_id;rating\n1,2,3\n"}, TABLE(),
                                    ("t.csv", 2, None, "3 semicolon-separated fields, found 1")),
    "grouplens-with-commas": ({"g/u.data": "1,2,3,4\n"}, GROUPLENS,
                              ("g/u.data", 1, None, "4 tab-separated fields, found 1")),
    "grouplens-with-spaces": ({"g/u.data": "1\t2\t3\t4\n1 2 3 4\n"}, GROUPLENS,
                              ("g/u.data", 2, None, "tab-separated fields, found 1")),
    "row-with-an-extra-field": (_csv("1,2,3\n1,3,4,5\n"), TABLE(),
                                ("t.csv", 3, None, "expected 3 comma-separated fields, found 4")),
    "row-with-a-field-missing": (_csv("1,2,3\n\n1,3\n"), TABLE(), ("t.csv", 4, None, "found 2")),
    "a-line-of-100k-fields": (_csv("1,2,3" + ",9" * 100_000 + "\n"), TABLE(),
                              ("t.csv", 2, None, "found 100003")),
    "tab-given-for-a-csv": (_csv("1,2,3\n"), TABLE(delimiter="\t"),
                            ("t.csv", 1, "user_id", "missing column 'user_id'")),
    "no-delimiter-in-header": (_csv("1\n", "rating"), TABLE(), ("t.csv", 1, None, "delimiter")),
    # binary garbage in a text format
    "png-named-csv": ({"t.csv": b"\x89PNG\r\n\x1a\n" + bytes(32)}, TABLE(),
                      ("t.csv", 1, None, "0x89")),
    "zip-named-json": ({"r.json": b"PK\x03\x04\x14\x00" + bytes(range(256))}, AMAZON,
                       ("r.json", 2, None, "byte 0x80 at column 118")),
    "garbage-parquet": ({"t.parquet": b"PAR1" + bytes(range(256)) + b"PAR1"}, PARQUET(),
                        ("t.parquet", None, None, "not a readable Parquet file")),
    "truncated-parquet": ({"t.parquet": b"PAR1\x15\x04\x15\x10"}, PARQUET(),
                          ("t.parquet", None, None, "not a readable Parquet file")),
    # paths that are not regular files
    "directory-as-table": ({"t.csv": Dir()}, TABLE(), ("t.csv", None, None, "found a directory")),
    "directory-as-parquet": ({"t.parquet": Dir()}, PARQUET(), ("t.parquet", None, None, "a dir")),
    "directory-as-reviews": ({"r.json": Dir()}, AMAZON, ("r.json", None, None, "a directory")),
    "directory-as-meta": ({"r.json": _review(), "m.json": Dir()}, META,
                          ("m.json", None, None, "found a directory")),
    "directory-named-like-a-file": ({"x.json": Dir()}, ANY_FORMAT("x.json"),
                                    ("x.json", None, None, "cannot tell the dataset format")),
    "symlink-loop": ({"t.csv": Link("t.csv")}, TABLE(),
                     ("t.csv", None, None, "Too many levels of symbolic links")),
    "dangling-symlink": ({"t.csv": Link("gone.csv")}, TABLE(),
                         ("t.csv", None, None, "no such file or directory")),
    # Amazon metadata
    "meta-categories-number": (_meta({"asin": "A1", "categories": 5}), META,
                               ("m.json", 1, "categories", "must be a string or lists of str")),
    "meta-categories-dict": (_meta({"asin": "A1", "category": {"a": 1}}), META,
                             ("m.json", 1, "category", "found {'a': 1}")),
    "meta-categories-set-literal": (_meta("{'asin': 'A1', 'categories': {1, 2}}"), META,
                                    ("m.json", 1, "categories", "found {1, 2}")),
    "meta-title-list": (_meta({"asin": "A1", "title": ["x"]}), META,
                        ("m.json", 1, "title", "title must be a string")),
    "meta-description-dict": (_meta({"asin": "A1", "description": {"x": 1}}), META,
                              ("m.json", 1, "description", "must be a string or lists")),
    "meta-brand-number": (_meta({"asin": "A1", "brand": 7}), META,
                          ("m.json", 1, "brand", "brand must be a string, found 7")),
    "meta-line-a-list": (_meta('["A1"]'), META, ("m.json", 1, None, "expected an object")),
    "meta-asin-float": (_meta({"asin": 1.5}), META, ("m.json", 1, "asin", "asin 1.5 is not a str")),
    "meta-asin-blank": (_meta({"asin": " "}), META, ("m.json", 1, "asin", "empty asin")),
    "meta-truncated-gzip": ({"r.json": _review(), "m.json": _gz('{"asin": "A1"}\n' * 200)[:40]},
                            META, ("m.json", ANY, None, "truncated or corrupt")),
    # MovieLens side files
    "u.item-genre-flag-2": (_u_item(_item_row(flags="2" + "0" * 18)), GROUPLENS,
                            ("g/u.item", 1, "unknown", "0 or 1, found '2'")),
    "u.item-genre-flag-empty": (_u_item(_item_row(flags=["0"] * 18 + [""])), GROUPLENS,
                                ("g/u.item", 1, "Western", "found ''")),
    "u.item-too-few-fields": (_u_item("2|T (1995)|x"), GROUPLENS,
                              ("g/u.item", 1, None, "expected 24 pipe-separated fields, found 3")),
    "u.item-listed-twice": (_u_item(_item_row(), "", _item_row()), GROUPLENS,
                            ("g/u.item", 3, None, "item id 2 is listed twice")),
    "u.user-too-few-fields": ({"g/u.data": "1\t2\t3\t4\n", "g/u.user": "1|24|M\n"}, GROUPLENS,
                              ("g/u.user", 1, None, "expected 5 pipe-separated")),
    # RecBole atomic files
    "recbole-text-rating": ({"x.inter": "user_id:token\titem_id:token\trating:float\n1\t2\tx\n"},
                            lambda root: load_recbole(root / "x.inter", timestamp=None),
                            ("x.inter", 2, "rating", "'x' is not a number")),
    "recbole-two-inter-files": ({"rb/a.inter": "user_id:token\n", "rb/b.inter": "user_id:token\n"},
                                lambda root: load_recbole(root / "rb"),
                                ("rb", None, None, "found 2 .inter files")),
    # JSON lines
    "json-array-of-reviews": ({"r.json": "[" + _review().strip() + "]\n"}, AMAZON,
                              ("r.json", 1, None, "expected a JSON object")),
    "json-trailing-comma": ({"r.json": _review().replace("}", ",}")}, AMAZON,
                            ("r.json", 1, None, "not valid JSON")),
    "json-nested-100k-deep": ({"r.json": _review() + "[" * 100_000 + "]" * 100_000 + "\n"}, AMAZON,
                              ("r.json", 2, None, "not valid JSON: too deeply nested")),
    "json-duplicate-key-last-wins": ({"r.json": _review().replace("}", ', "overall": "x"}')},
                                     AMAZON, ("r.json", 1, "overall", "'x' is not a number")),
}  # fmt: skip


@pytest.mark.parametrize(("files", "load", "expected"), ERRORS.values(), ids=ERRORS.keys())
def test_a_malformed_input_is_a_one_line_error(tmp_path, files, load, expected):
    _make(tmp_path, files)
    name, line, field, match = expected
    err = _raises(lambda: load(tmp_path), tmp_path / name, line, field, match)
    assert "\n" not in str(err) and len(str(err)) < 600, str(err)[:600]


def test_a_file_without_read_permission_is_a_one_line_error(write):
    if os.geteuid() == 0:
        pytest.skip("running as root: a file without read permission is still readable")
    path = write("t.csv", "user_id,item_id,rating\n1,2,3\n")
    path.chmod(0)
    _raises(lambda: load_table(path), path, None, match="Permission denied")


def _titles(ds):
    return list(ds.catalog.title)


# id: (files, load, check of the Dataset loaded)
LOADS = {
    "bom-before-the-header": ({"t.csv": "\ufeffuser_id,item_id,rating\n1,2,3\n"}, TABLE(),
                              lambda ds: ds.users.external == ("1",)),
    "bom-before-json": ({"r.json": "\ufeff" + _review()}, AMAZON,
                        lambda ds: ds.items.external == ("A1",)),
    "bom-in-gzipped-json": ({"r.json.gz": _gz("\ufeff" + _review())}, ANY_FORMAT("r.json.gz"),
                            lambda ds: ds.n_interactions == 1),
    "crlf-line-ends": ({"t.csv": "user_id,item_id,rating\r\n1,2,3\r\n1,3,4\r\n"}, TABLE(),
                       lambda ds: ds.rating.tolist() == [3, 4]),
    "cr-only-line-ends": ({"t.csv": "user_id,item_id,rating\r1,2,3\r1,3,4\r"}, TABLE(),
                          lambda ds: ds.items.external == ("2", "3")),
    "cp1252-when-asked": ({"t.csv": "user_id,item_id,rating,title\n1,2,3,“Smart” – quotes\n"
                           .encode("cp1252")}, TABLE(title="title", encoding="cp1252"),
                          lambda ds: _titles(ds) == ["“Smart” – quotes"]),
    "quoted-comma-in-title": (_csv('1,2,3,"Good, the Bad"\n', "user_id,item_id,rating,title"),
                              TABLE(title="title"), lambda ds: _titles(ds) == ["Good, the Bad"]),
    "doubled-quotes": (_csv('1,2,3,"say ""hi"""\n', "user_id,item_id,rating,title"),
                       TABLE(title="title"), lambda ds: _titles(ds) == ['say "hi"']),
    "quoted-numbers": ({"t.csv": '"user_id","item_id","rating"\n"1","2","3.5"\n'}, TABLE(),
                       lambda ds: ds.rating.tolist() == [3.5]),
    "newline-inside-quotes": (_csv('1,2,3,"two\nlines"\n1,3,4,x\n', "user_id,item_id,rating,title"),
                              TABLE(title="title"), lambda ds: _titles(ds) == ["two\nlines", "x"]),
    "pipe-delimited": ({"t.csv": "user_id|item_id|rating\n1|2|3\n"}, TABLE(),
                       lambda ds: ds.rating.tolist() == [3]),
    "extra-columns-ignored": (_csv("1,2,3,x,y\n", "user_id,item_id,rating,a,b"), TABLE(),
                              lambda ds: ds.n_interactions == 1),
    "leading-zeros-are-other-ids": (_csv("007,2,3\n7,2,4\n"), TABLE(),
                                    lambda ds: ds.users.external == ("007", "7")),
    "full-width-digits-are-other-ids": (_csv("１２,2,3\n12,2,4\n"), TABLE(),
                                        lambda ds: set(ds.users.external) == {"１２", "12"}),
    "superscript-digit-id": (_csv("²,2,3\n2,2,4\n"), TABLE(),
                             lambda ds: set(ds.users.external) == {"²", "2"}),
    "signed-ids-stay-text": (_csv("-1,2,3\n1,2,4\n+1,2,5\n"), TABLE(),
                             lambda ds: set(ds.users.external) == {"-1", "1", "+1"}),
    "ids-beyond-int64-exact": (_csv("99999999999999999999999,2,3\n"), TABLE(),
                               lambda ds: ds.users.external == ("99999999999999999999999",)),
    "spaces-around-ids": (_csv(" 1 , 2 ,3\n1,2,4\n"), TABLE(),
                          lambda ds: ds.users.external == ("1",) and ds.rating.tolist() == [4]),
    "mixed-number-and-text-ids": (_csv("1,2,3\nabc,2,3\n"), TABLE(),
                                  lambda ds: set(ds.users.external) == {"1", "abc"}),
    "duplicate-rows-keep-one": (_csv("1,2,3\n1,2,3\n"), TABLE(),
                                lambda ds: ds.rating.tolist() == [3]),
    "negative-rating-without-range": (_csv("1,2,-3\n"), TABLE(),
                                      lambda ds: ds.rating.tolist() == [-3]),
    "float-text-timestamp": (_csv("1,2,3,1.0e3\n", "user_id,item_id,rating,ts"),
                             TABLE(timestamp="ts"), lambda ds: ds.timestamp.tolist() == [1000]),
    "negative-timestamp": (_csv("1,2,3,-5\n", "user_id,item_id,rating,ts"), TABLE(timestamp="ts"),
                           lambda ds: ds.timestamp.tolist() == [-5]),
    "years-out-of-range-unknown": (_csv("1,2,3,99999\n1,3,3,-5\n1,4,3,1995\n", "user_id,item_id,"
                                        "rating,year"), TABLE(year="year"),
                                   lambda ds: ds.catalog.year.tolist() == [-1, -1, 1995]),
    "unicode-titles": (_csv('1,2,3,"Amélie 天国 🎬 שלום e\u0301"\n',
                            "user_id,item_id,rating,title"),
                       TABLE(title="title"),
                       lambda ds: _titles(ds) == ["Amélie 天国 🎬 שלום e\u0301"]),
    "html-title-kept-as-text": (_csv('1,2,3,<img src="http://h/x.png">\n',
                                     "user_id,item_id,rating,title"),
                                TABLE(title="title"),
                                lambda ds: _titles(ds) == ['<img src="http://h/x.png">']),
    "a-1-mb-title": (_csv("1,2,3," + "x" * 1_000_000 + "\n", "user_id,item_id,rating,title"),
                     TABLE(title="title"), lambda ds: len(_titles(ds)[0]) == 1_000_000),
    "parquet-under-a-csv-name": ({"t.csv": Table(user_id=[1], item_id=[2], rating=[4.0])},
                                 TABLE(), lambda ds: ds.rating.tolist() == [4]),
    "parquet-float-ids-that-are-whole": ({"t.parquet": Table(user_id=[2.0], item_id=[3])},
                                         PARQUET(rating=None),
                                         lambda ds: ds.users.external == ("2",)),
    "parquet-dictionary-ids": ({"t.parquet": Table(user_id=pa.array(["u"]).dictionary_encode(),
                                                   item_id=["i"])}, PARQUET(rating=None),
                               lambda ds: ds.users.external == ("u",)),
    "parquet-genres-as-list": ({"t.parquet": Table(user_id=[1, 1], item_id=["a", "b"],
                                                   g=[["Drama", "War", "Drama"], None])},
                               PARQUET(rating=None, genres="g"),
                               lambda ds: ds.catalog.genres == [("Drama", "War"), ()]),
    "parquet-millisecond-timestamps": ({"t.parquet": Table(user_id=[1], item_id=[2], ts=pa.array(
                                        [86_400_000], pa.timestamp("ms")))},
                                       PARQUET(rating=None, timestamp="ts"),
                                       lambda ds: ds.timestamp.tolist() == [86_400]),
    "parquet-dates": ({"t.parquet": Table(user_id=[1], item_id=[2], ts=pa.array([2], pa.date32()))},
                      PARQUET(rating=None, timestamp="ts"),
                      lambda ds: ds.timestamp.tolist() == [172_800]),
    "gzip-members-concatenated": ({"r.json.gz": _gz(_review()) + _gz(_review(asin="A2"))},
                                  ANY_FORMAT("r.json.gz"), lambda ds: ds.n_interactions == 2),
    "symlink-to-a-file": ({"real.csv": "user_id,item_id,rating\n1,2,3\n",
                           "t.csv": Link("real.csv")},
                          TABLE(), lambda ds: ds.n_interactions == 1),
    "json-unknown-nested-fields": ({"r.json": _review(style={"a": [1, {"b": None}]}, vote="1,234")},
                                   AMAZON, lambda ds: ds.n_interactions == 1),
    "json-surrogate-pair-escape": ({"r.json": _review(reviewText="\U0001f3b5 ok")}, AMAZON,
                                   lambda ds: ds.review_text == ["\U0001f3b5 ok"]),
    "json-integer-asin": (_json({"asin": 12}), AMAZON, lambda ds: ds.items.external == ("12",)),
    "meta-nested-categories-deduplicated": (_meta({"asin": "A1", "categories": [["Music", "Guitar"],
                                                   ["Music"]], "title": " T "}), META,
                                            lambda ds: ds.catalog.genres == [("Music", "Guitar")]
                                            and _titles(ds) == ["T"]),
    "meta-asin-twice-keeps-first": ({"r.json": _review(), "m.json": '{"asin": "A1", "title": "a"}\n'
                                     '{"asin": "A1", "title": "b"}\n'}, META,
                                    lambda ds: _titles(ds) == ["a"]),
    "u.item-year-0000-unknown": (_u_item(_item_row(title="T (0000)")), GROUPLENS,
                                 lambda ds: ds.catalog.year.tolist() == [-1]),
    "u.item-5-digit-release-year": (_u_item(_item_row(title="T", released="01-Jan-99999")),
                                    GROUPLENS, lambda ds: ds.catalog.year.tolist() == [-1]),
    "u.item-release-date-year": (_u_item(_item_row(title="T", released="01-Jan-1995")), GROUPLENS,
                                 lambda ds: ds.catalog.year.tolist() == [1995]),
    "u.item-latin1-title": ({"g/u.data": "1\t2\t3\t4\n",
                             "g/u.item": _item_row(title="Café (1995)").encode("latin-1") + b"\n"},
                            GROUPLENS, lambda ds: _titles(ds) == ["Café (1995)"]),
    "u.item-a-directory-is-ignored": ({"g/u.data": "1\t2\t3\t4\n", "g/u.item": Dir()}, GROUPLENS,
                                      lambda ds: _titles(ds) == ["2"]),
    "movies-year-2150-unknown": (_movies("2,Future (2150),Sci-Fi\n"), MOVIES,
                                 lambda ds: ds.catalog.year.tolist() == [-1]),
    "movies-year-range": (_movies("2,Serial (1994-1998),Drama\n"), MOVIES,
                          lambda ds: ds.catalog.year.tolist() == [1994]),
    "movies-no-genres-listed": (_movies("2,X (1990),(no genres listed)\n"), MOVIES,
                                lambda ds: ds.catalog.genres == [()]),
    "movies-empty-genre-pieces": (_movies("2,X (1990),||Drama|| \n"), MOVIES,
                                  lambda ds: ds.catalog.genres == [("Drama",)]),
    "recbole-user-attributes": ({"rb/rb.inter": "user_id:token\titem_id:token\n1\t2\n",
                                 "rb/rb.user": "user_id:token\tage:float\n1\t30\n"},
                                lambda root: load_recbole(root / "rb", rating=None, timestamp=None),
                                lambda ds: ds.user_attributes == {"age": ["30"]}),
}  # fmt: skip


@pytest.mark.parametrize(("files", "load", "check"), LOADS.values(), ids=LOADS.keys())
@pytest.mark.filterwarnings("ignore::convrec.data.DuplicateInteractionWarning")
def test_a_tricky_but_valid_input_loads_correctly(tmp_path, files, load, check):
    _make(tmp_path, files)
    ds = load(tmp_path)
    assert check(ds), ds
