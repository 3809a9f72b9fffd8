"""Loaders on tiny built files with known answers, and on the real ML-100k and Amazon MI5 data."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from convrec.data import (
    FORMATS,
    amazon,
    load_amazon,
    load_dataset,
    load_movielens,
    load_recbole,
    load_table,
    read_meta,
)
from convrec.data._read import line_numbers
from convrec.data.errors import DataError
from convrec.data.movielens import title_year

read_python = amazon._read_python


def _rows(ds):
    """(user id, item id, rating, timestamp) per interaction, in order."""
    return [
        (ds.users.external[u], ds.items.external[i], float(r), int(t))
        for u, i, r, t in zip(ds.user, ds.item, ds.rating, ds.timestamp, strict=True)
    ]


def _info(ds, item_id):
    i = ds.items.index(item_id)
    c = ds.catalog
    return c.title[i], int(c.year[i]), c.genres[i], c.text[i]


# -- MovieLens: GroupLens ml-100k layout ---------------------------------------------------------

U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Misérables, Les (1995)|01-Jan-1995||http://y|0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|0|0\n"
    "10|unknown|||http://z|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "11|No Year Here|05-Mar-1997||http://w|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1\n"
)


@pytest.fixture
def grouplens(write):
    write("ml-100k/u.data", "3\t2\t4\t300\n1\t1\t5\t100\n10\t10\t1\t200\n3\t1\t2\t50\n")
    write("ml-100k/u.item", U_ITEM, encoding="latin-1")
    write("ml-100k/u.user", "1|24|M|technician|85711\n3|53|F|other|94043\n10|30|M|writer|0\n")
    return write("ml-100k/u.genre", "unknown|0\n").parent


def test_grouplens_layout(grouplens):
    ds = load_movielens(grouplens)
    assert ds.name == "ml-100k"
    assert _rows(ds) == [
        ("3", "2", 4, 300),
        ("1", "1", 5, 100),
        ("10", "10", 1, 200),
        ("3", "1", 2, 50),
    ]
    assert ds.users.external == ("1", "3", "10")  # numeric order: index = position in sorted ids
    assert ds.items.external == ("1", "2", "10", "11")  # item 11 has no rating: kept, last
    assert ds.user.dtype == np.int32 and ds.rating.dtype == np.float32
    assert _info(ds, 1) == ("Toy Story (1995)", 1995, ("Animation", "Children's", "Comedy"), "")
    assert _info(ds, 2)[:3] == ("Misérables, Les (1995)", 1995, ("Drama", "Musical"))
    assert _info(ds, 10)[:3] == ("unknown", -1, ("unknown",))
    assert _info(ds, 11)[:3] == ("No Year Here", 1997, ("Action", "Western"))  # release date
    assert ds.user_attributes == {
        "age": ["24", "53", "30"],
        "gender": ["M", "F", "M"],
        "occupation": ["technician", "other", "writer"],
        "zip_code": ["85711", "94043", "0"],
    }


def test_grouplens_without_side_files(write):
    path = write("data/u.data", "1\t1\t5\t1\n")
    ds = load_dataset(path)  # a path to u.data itself
    assert ds.catalog.title == ["1"] and ds.user_attributes is None


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Toy Story (1995)", 1995),
        ("Babylon 5 (1994-1998)", 1994),
        ("Nope", -1),
        ("X (1999) ", 1999),
    ],
)
def test_title_year(title, year):
    assert title_year(title) == year


# -- MovieLens CSV releases ----------------------------------------------------------------------


@pytest.fixture
def ml_csv(write):
    write(
        "ml-latest-small/ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,964981247\n2,1,5.0,5\n",
    )
    write(
        "ml-latest-small/movies.csv",
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children\n"
        '3,"American President, The (1995)",Comedy|Drama|Romance\n'
        "7,Unrated Film,(no genres listed)\n",
    )
    write(
        "ml-latest-small/tags.csv",
        'userId,movieId,tag,timestamp\n1,1,pixar,1\n2,1,"fun, clever",2\n2,1,pixar,3\n1,9,x,4\n',
    )
    return write("ml-latest-small/links.csv", "movieId,imdbId,tmdbId\n").parent


def test_movielens_csv_release(ml_csv):
    ds = load_dataset(ml_csv)
    assert ds.name == "ml-latest-small"
    assert _rows(ds) == [("1", "1", 4.0, 964982703), ("1", "3", 0.5, 964981247), ("2", "1", 5, 5)]
    assert _info(ds, 1) == (
        "Toy Story (1995)",
        1995,
        ("Adventure", "Animation", "Children"),
        "pixar, fun, clever",
    )
    assert _info(ds, 3)[:3] == (
        "American President, The (1995)",
        1995,
        ("Comedy", "Drama", "Romance"),
    )
    assert _info(ds, 7) == ("Unrated Film", -1, (), "")  # listed, unrated: still in the catalog
    assert _info(ds, 9) == ("9", -1, (), "x")  # tagged only
    assert ds.items.external == ("1", "3", "7", "9")


def test_movielens_csv_ratings_only(write):
    path = write("ml/ratings.csv", "userId,movieId,rating,timestamp\n5,6,3.5,10\n")
    assert _rows(load_movielens(path)) == [("5", "6", 3.5, 10)]
    assert _rows(load_dataset(path)) == [("5", "6", 3.5, 10)]


# -- MovieLens "::" releases (ml-1m, ml-10m) -----------------------------------------------------


@pytest.fixture
def ml_1m(write):
    write("ml-1m/ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::9\n")
    write(
        "ml-1m/movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "2::Misérables, Les (1995)::Drama|Musical\n",
        encoding="latin-1",  # as GroupLens wrote ml-1m's movies.dat
    )
    write("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return write("ml-1m/README", "").parent


def test_movielens_dat_release(ml_1m):
    ds = load_dataset(ml_1m)
    assert ds.name == "ml-1m" and ds.source.endswith("ratings.dat")
    assert _rows(ds) == [
        ("1", "1193", 5, 978300760),
        ("1", "661", 3, 978302109),
        ("2", "1193", 4, 9),
    ]
    assert _info(ds, 661) == (
        "James and the Giant Peach (1996)",
        1996,
        ("Animation", "Children's", "Musical"),
        "",
    )
    assert _info(ds, 2)[:2] == ("Misérables, Les (1995)", 1995)  # listed, unrated: kept
    assert ds.user_attributes == {
        "age": ["under 18", "56+"],
        "gender": ["F", "M"],
        "occupation": ["K-12 student", "self-employed"],
        "zip_code": ["48067", "70072"],
    }
    assert _rows(load_dataset(ml_1m / "ratings.dat")) == _rows(ds)


def test_movielens_dat_half_stars_and_tags(write):
    write("ml-10M100K/ratings.dat", "7::1::4.5::838985046\n7::5::0.5::838983525\n")
    write(
        "ml-10M100K/movies.dat",
        "1::Toy Story (1995)::Adventure|Animation\n5::Café (2000)::(no genres listed)\n",
    )
    write(
        "ml-10M100K/tags.dat",
        "15::1::pixar::1\n20::1::c++::odd::2\n15::1::pixar::3\n15::9::später::4\n",
    )
    ds = load_dataset(write("ml-10M100K/x", "").parent)
    assert _rows(ds) == [("7", "1", 4.5, 838985046), ("7", "5", 0.5, 838983525)]
    assert _info(ds, 1) == ("Toy Story (1995)", 1995, ("Adventure", "Animation"), "pixar, c++::odd")
    assert _info(ds, 5) == ("Café (2000)", 2000, (), "")  # UTF-8 read as UTF-8
    assert _info(ds, 9) == ("9", -1, (), "später")  # tagged only
    assert ds.user_attributes is None


@pytest.mark.parametrize(
    ("files", "where", "message"),
    [
        (
            {"ratings.dat": "1::2::5::9\n1::3::5\n"},
            "ratings.dat, line 2",
            "expected 4 '::'-separated",
        ),
        ({"ratings.dat": "1,2,5,9\n"}, "ratings.dat, line 1", "UserID::MovieID::Rating"),
        ({"ratings.dat": "1::2::6::9\n"}, "ratings.dat, line 1", "Rating"),
        (
            {"ratings.dat": "1::2::5::9\n", "movies.dat": "2::A::B::C\n"},
            "movies.dat, line 1",
            "expected 3",
        ),
        (
            {"ratings.dat": "1::2::5::9\n", "movies.dat": "2::A (1990)::Drama\n2::B::Drama\n"},
            "movies.dat, line 2",
            "listed twice",
        ),
    ],
)
def test_movielens_dat_errors_name_file_and_line(write, files, where, message):
    for name, text in files.items():
        path = write(f"ml-bad/{name}", text)
    with pytest.raises(DataError) as err:
        load_dataset(path.parent)
    text = str(err.value)
    assert where in text and message in text and "\n" not in text


# -- RecBole atomic files ------------------------------------------------------------------------


@pytest.fixture
def recbole_dir(write):
    write(
        "toy/toy.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "u2\tA\t3\t881250949.0\nu1\tB\t5\t881250950\n",
    )
    write(
        "toy/toy.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "A\tToy Story\t1995\tAnimation Children's Comedy\nB\tunkonwn\tunkonwn\tunknown\n"
        'C\t"Quoted" Title\t2001\t\n',
    )
    write("toy/toy.user", "user_id:token\tage:token\tgender:token\nu1\t24\tM\nu2\t53\tF\n")
    return write("toy/toy.kg", "head_id:token\n").parent


def test_recbole_atomic_files(recbole_dir):
    ds = load_recbole(recbole_dir)
    assert ds.name == "toy"
    assert _rows(ds) == [("u2", "A", 3, 881250949), ("u1", "B", 5, 881250950)]
    assert _info(ds, "A")[:3] == ("Toy Story", 1995, ("Animation", "Children's", "Comedy"))
    assert _info(ds, "B")[:3] == ("unkonwn", -1, ("unknown",))
    assert _info(ds, "C")[:3] == ('"Quoted" Title', 2001, ())
    assert ds.user_attributes == {"age": ["24", "53"], "gender": ["M", "F"]}
    assert load_dataset(recbole_dir / "toy.inter").n_interactions == 2


def test_recbole_implicit(write):
    path = write("imp.inter", "user_id:token\titem_id:token\n1\t2\n1\t3\n")
    ds = load_recbole(path, rating=None, timestamp=None)
    assert ds.rating.tolist() == [1.0, 1.0] and ds.timestamp.tolist() == [0, 0]


# -- Amazon reviews ------------------------------------------------------------------------------

R2014 = [
    {"reviewerID": "U1", "asin": "0001", "reviewerName": "Secret Name", "helpful": [1, 2],
     "reviewText": "Great strings.", "overall": 5.0, "summary": "great",
     "unixReviewTime": 1393545600, "reviewTime": "02 28, 2014"},
    {"reviewerID": "U2", "asin": "B00X", "reviewerName": "Other Secret", "helpful": [0, 0],
     "reviewText": "Meh.", "overall": 2.0, "summary": "meh", "unixReviewTime": 1363392000},
]  # fmt: skip
R2018 = [
    {"overall": 4, "vote": "1,234", "verified": True, "reviewTime": "01 1, 2018",
     "reviewerID": "U1", "asin": "B00X", "style": {"Size:": " Large"}, "reviewerName": "Nope",
     "unixReviewTime": 1514764800, "image": ["http://img"]},
    {"overall": 3.0, "reviewerID": "U3", "asin": "0001", "reviewText": "ok",
     "unixReviewTime": 1514764801},
]  # fmt: skip


def _jsonl(records):
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.mark.parametrize("gz", [False, True])
def test_amazon_2014(write, gz):
    path = write("reviews_Toy_5.json" + (".gz" if gz else ""), _jsonl(R2014), gz=gz)
    ds = load_dataset(path)
    assert ds.name == "reviews_Toy_5"
    assert _rows(ds) == [("U1", "0001", 5.0, 1393545600), ("U2", "B00X", 2.0, 1363392000)]
    assert ds.review_text == ["Great strings.", "Meh."] and ds.summary == ["great", "meh"]
    assert ds.catalog.title == ["0001", "B00X"]  # no meta: items known by asin
    assert "Secret" not in repr(ds) and ds.user_attributes is None


def test_amazon_2018_missing_text_fields(write):
    ds = load_amazon(write("r.jsonl", _jsonl(R2018)))
    assert _rows(ds) == [("U1", "B00X", 4.0, 1514764800), ("U3", "0001", 3.0, 1514764801)]
    assert ds.review_text == ["", "ok"] and ds.summary == ["", ""]
    assert "Nope" not in repr(ds)


def test_amazon_python_path_same_answer(write, monkeypatch):
    # a numeric id and a float timestamp send the bulk reader to the line-by-line fallback
    calls = []
    monkeypatch.setattr(amazon, "_read_python", lambda *a: calls.append(1) or read_python(*a))
    records = [dict(R2014[0], unixReviewTime=1393545600.0), dict(R2014[1], reviewerID=7)]
    ds = load_amazon(write("r.json", _jsonl(records)))
    assert calls == [1]
    assert _rows(ds) == [("U1", "0001", 5.0, 1393545600), ("7", "B00X", 2.0, 1363392000)]


META_JSON = [
    {"asin": "0001", "title": "Strings", "category": ["Musical Instruments", "Strings"],
     "description": ["Bright.", "Long lasting."], "brand": "Acme"},
    {"asin": "B00X", "title": "Tuner", "categories": [["Musical Instruments", "Tuners"],
     ["Musical Instruments", "Clip-on"]], "description": "Clips on."},
    {"asin": "ZZZZ", "title": "Never reviewed"},
]  # fmt: skip


def test_amazon_meta_json(write):
    reviews = write("r.json.gz", _jsonl(R2014), gz=True)
    ds = load_amazon(reviews, meta=write("meta.json.gz", _jsonl(META_JSON), gz=True))
    assert _info(ds, "0001") == (
        "Strings",
        -1,
        ("Musical Instruments", "Strings"),
        "Brand: Acme. Bright. Long lasting.",
    )
    assert _info(ds, "B00X") == (
        "Tuner",
        -1,
        ("Musical Instruments", "Tuners", "Clip-on"),
        "Clips on.",
    )
    assert "ZZZZ" not in ds.items
    with_all = load_dataset(reviews, meta=write("m.json", _jsonl(META_JSON)), unreviewed_items=True)
    assert with_all.items.external[-1] == "ZZZZ" and with_all.catalog.title[-1] == "Never reviewed"


def test_amazon_meta_python_literals(write):
    lines = "".join(repr(r) + "\n" for r in META_JSON)  # single quotes: the 2014 meta files
    assert "'asin'" in lines
    info = read_meta(write("meta_Toy.json", lines))
    assert set(info) == {"0001", "B00X", "ZZZZ"} and info["B00X"].title == "Tuner"
    assert read_meta(write("m2.json", lines), keep={"0001"}).keys() == {"0001"}


# -- generic tables ------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", "\t", ";", "|"])
def test_table_sniffs_delimiter(write, sep):
    text = sep.join(["user_id", "item_id", "rating"]) + "\n"
    text += "".join(sep.join(r) + "\n" for r in [("a", "x", "1"), ("b", "y", " 2.5")])
    ds = load_table(write("t.csv", text))
    assert _rows(ds) == [("a", "x", 1.0, 0), ("b", "y", 2.5, 0)]


def test_table_columns_and_item_info(write):
    text = (
        "\ufeffwho,what,stars,when,name,kind,body\r\n"
        "7,m1,4,100,First,a|b,nice\r\n"
        "\r\n"
        "8,m1,2,101,Ignored,c,bad\r\n"
        "7,m2,5,102,Second,,great\r\n"
    )
    ds = load_dataset(
        write("t.csv.gz", text, gz=True),
        user="who",
        item="what",
        rating="stars",
        timestamp="when",
        title="name",
        genres="kind",
        review="body",
        rating_range=(1, 5),
    )
    assert ds.name == "t"
    assert _rows(ds) == [("7", "m1", 4, 100), ("8", "m1", 2, 101), ("7", "m2", 5, 102)]
    assert _info(ds, "m1")[:3] == ("First", -1, ("a", "b"))  # first row of the item wins
    assert _info(ds, "m2")[:3] == ("Second", -1, ())
    assert ds.review_text == ["nice", "bad", "great"] and ds.summary is None


def test_table_implicit_tsv(write):
    ds = load_dataset(write("t.tsv", "user_id\titem_id\n1\t2\n2\t2\n"), rating=None)
    assert ds.rating.tolist() == [1.0, 1.0]


def test_parquet(write, tmp_path):
    path = tmp_path / "events.parquet"
    table = pa.table(
        {
            "user_id": pa.array([10, 20, 10], pa.int64()),
            "item_id": ["b", "a", "a"],
            "rating": pa.array([1, 2, 3], pa.int8()),
            "ts": pa.array([1_000_000, 2_000_000, 3_000_000], pa.timestamp("ms")),
            "title": ["B", "A", "A2"],
        }
    )
    pq.write_table(table, path)
    ds = load_dataset(path, timestamp="ts", title="title")
    assert _rows(ds) == [("10", "b", 1, 1000), ("20", "a", 2, 2000), ("10", "a", 3, 3000)]
    assert ds.catalog.title == ["A", "B"]


# -- registry and helpers ------------------------------------------------------------------------


def test_registry_detects_formats(grouplens, ml_csv, ml_1m, recbole_dir, write):
    assert load_dataset(grouplens).n_interactions == 4
    assert load_dataset(grouplens / "u.data").n_interactions == 4
    assert load_dataset(ml_csv / "ratings.csv").catalog.title[0] == "Toy Story (1995)"
    assert load_dataset(ml_1m).user_attributes is not None
    assert load_dataset(recbole_dir).user_attributes is not None
    assert load_dataset(write("x.ndjson", _jsonl(R2014))).review_text is not None
    assert "Parquet" in FORMATS and "RecBole" in FORMATS


def test_line_numbers():
    assert line_numbers(b"h\na\nb\n", 2, 2).tolist() == [2, 3]
    assert line_numbers(b"h\na\nb", 2, 2).tolist() == [2, 3]
    assert line_numbers(b"h\n\na\r\n\r\nb\n\n", 2, 2).tolist() == [3, 5]
    assert line_numbers(b'h\n"a\nb"\n', 1, 2).tolist() == []  # multi-line value: rescan
    assert line_numbers(b"{}\n  \n{}\n", 2, 1, rb"[ \t\r]*").tolist() == [1, 3]


# -- real data -----------------------------------------------------------------------------------


def test_real_movielens_100k(ml100k_dir):
    ds = load_dataset("ml-100k")
    assert (ds.n_interactions, ds.n_users, ds.n_items) == (100_000, 943, 1_682)
    assert ds.source.endswith("ml-100k.inter") and ds.name == "ml-100k"
    assert np.array_equal(np.array(ds.users.external, int), np.arange(1, 944))
    assert np.array_equal(np.array(ds.items.external, int), np.arange(1, 1683))
    assert _rows(ds)[:2] == [("196", "242", 3, 881250949), ("186", "302", 3, 891717742)]
    assert set(np.unique(ds.rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(np.unique(ds.user.astype(np.int64) * 2000 + ds.item)) == 100_000
    assert _info(ds, 1)[:3] == ("Toy Story", 1995, ("Animation", "Children's", "Comedy"))
    assert ds.catalog.title[ds.items.index(1682)] == "Scream of Stone (Schrei aus Stein)"
    attrs = ds.user_attributes or {}
    assert {k: v[0] for k, v in attrs.items()} == {
        "age": "24",
        "gender": "M",
        "occupation": "technician",
        "zip_code": "85711",
    }
    assert load_movielens(ml100k_dir).n_interactions == 100_000


def test_real_amazon_mi5(mi5_file):
    ds = load_dataset(mi5_file)
    assert (ds.n_interactions, ds.n_users, ds.n_items) == (10_261, 1_429, 900)
    counts = np.bincount(ds.rating.astype(int), minlength=6)[1:].tolist()
    assert counts == [217, 250, 772, 2_084, 6_938]
    assert ds.review_text is not None and ds.summary is not None
    assert sum(t == "" for t in ds.review_text) == 7 and ds.summary[:2] == ["good", "Jake"]
    assert ds.users.external[ds.user[0]] == "A2IBPI20UZIR0U"
    with gzip.open(mi5_file, "rt", encoding="utf-8") as handle:
        name = json.loads(handle.readline())["reviewerName"]
    assert name not in repr(ds)


def test_real_amazon_mi5_bulk_and_python_paths_agree(mi5_file):
    data = gzip.decompress(mi5_file.read_bytes())
    fast, fast_src = amazon._read_fast(data, mi5_file)
    slow, slow_src = amazon._read_python(data, mi5_file)
    assert fast.equals(slow) and np.array_equal(fast_src.lines, slow_src.lines)
