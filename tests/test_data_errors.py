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
