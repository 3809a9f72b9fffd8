"""benchmarks/bench_scale.py and its MovieLens-shaped generator (scale_data.py): the data read
back through the MovieLens loader, its shape, and the JSON of a tiny full run."""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from convrec.data import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_scale
import scale_data

N = 20_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, scale_data.Shape]:
    folder = tmp_path_factory.mktemp("ml-synth")
    return folder, scale_data.generate(folder, N, seed=3)


def test_sizes_follow_movielens() -> None:
    assert scale_data.shape_for(25_000_000) == scale_data.Shape(25_000_000, 162_338, 59_047)
    small = scale_data.shape_for(1_000_000)
    assert (small.users, small.items) == (6_494, 3_706)  # ml-1m: 6,040 x 3,706
    assert scale_data.shape_for(N).items == scale_data.MIN_ITEMS
    with pytest.raises(ValueError, match="do not fit"):
        scale_data.shape_for(10_000, users=2, items=100)


def test_generated_directory_loads_as_movielens(generated: tuple[Path, scale_data.Shape]) -> None:
    folder, shape = generated
    assert sorted(p.name for p in folder.iterdir()) == ["movies.csv", "ratings.csv"]
    header = folder.joinpath("ratings.csv").read_text().split("\n", 1)[0]
    assert header == "userId,movieId,rating,timestamp"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a duplicate (user, item) pair would warn
        data = load_dataset(folder)
    assert shape.interactions == N and data.n_interactions == N
    assert data.n_users == shape.users == round(N / 154)
    assert data.n_items <= shape.items
    assert set(np.unique(data.rating).tolist()) <= set(np.arange(1, 11) / 2)
    assert len(np.unique(data.rating)) == 10
    assert scale_data.T_START <= data.timestamp.min() <= data.timestamp.max() <= scale_data.T_END
    titles = [t for t in data.catalog.title if t]
    assert len(titles) == len(set(titles)) == data.n_items
    assert (data.catalog.year >= 1915).all() and (data.catalog.year <= 2019).all()
    assert any(g for g in data.catalog.genres)


def test_popularity_and_activity_are_skewed(generated: tuple[Path, scale_data.Shape]) -> None:
    data = load_dataset(generated[0])
    per_item = np.sort(np.bincount(data.item, minlength=data.n_items))[::-1]
    assert per_item[: data.n_items // 10].sum() > 0.25 * N  # 2.5x their even share
    assert per_item[0] > 5 * np.median(per_item)
    per_user = np.bincount(data.user)
    assert per_user.min() >= scale_data.MIN_ACTIVITY
    assert per_user.max() > 3 * np.median(per_user)
    assert per_user.max() <= scale_data.shape_for(N).items // 2


def test_generator_is_seeded_and_whole_stars(tmp_path: Path) -> None:
    a, b, c = (tmp_path / name for name in "abc")
    scale_data.generate(a, 5_000, seed=1)
    scale_data.generate(b, 5_000, seed=1)
    scale_data.generate(c, 5_000, seed=1, whole_stars=True)
    assert a.joinpath("ratings.csv").read_bytes() == b.joinpath("ratings.csv").read_bytes()
    assert a.joinpath("movies.csv").read_bytes() == b.joinpath("movies.csv").read_bytes()
    assert set(np.unique(load_dataset(c).rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_tiny_full_run_writes_the_documented_json(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    bench_scale.main(["--interactions", str(N), "--json", str(out), "--turns", "3"])
    payload = json.loads(out.read_text())
    assert set(payload["machine"]) == {"cpu", "cores", "memory_gb", "python", "numpy", "os"}
    (run,) = payload["runs"]
    assert (run["interactions"], run["users"]) == (N, round(N / 154))
    stages = run["stages"]
    assert list(stages) == ["load", *bench_scale.MODELS, "recommender_build", "chat_turn"]
    for name, stage in stages.items():
        if "skipped" in stage:
            assert name == "cf_seqlinear"
            continue
        assert stage["seconds"] > 0 and stage["peak_rss_gb"] > 0, name
    assert stages["chat_turn"]["turns"] == 3
    assert stages["chat_turn"]["turns_listing_5"] == 3
    assert stages["chat_turn"]["p95_seconds"] >= stages["chat_turn"]["p50_seconds"]
    assert run["peak_rss_gb"] == max(s["peak_rss_gb"] for s in stages.values() if "seconds" in s)


def test_json_replaces_the_run_of_the_same_size(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"

    def run(n: int, seconds: float) -> dict:
        return {"data": "synthetic", "interactions_asked": n, "interactions": n,
                "total_seconds": seconds}  # fmt: skip

    for n, seconds in ((5_000_000, 1.0), (1_000_000, 2.0), (5_000_000, 3.0)):
        bench_scale.merge_json(out, {"cpu": "x"}, run(n, seconds))
    runs = json.loads(out.read_text())["runs"]
    assert [(r["interactions"], r["total_seconds"]) for r in runs] == [
        (1_000_000, 2.0),
        (5_000_000, 3.0),
    ]


def test_a_model_that_refuses_the_data_is_recorded_as_skipped(
    generated: tuple[Path, scale_data.Shape], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convrec.cf.seqlinear import SequentialLinear
    from convrec.data.store import save_dataset

    def refuse(self: object, *args: object) -> None:
        raise ValueError("catalogue too large for this test")

    monkeypatch.setattr(SequentialLinear, "fit", refuse)
    save_dataset(load_dataset(generated[0]), tmp_path / "cache")
    result = bench_scale.stage_model("cf_seqlinear", tmp_path / "cache", grid=False)
    assert result == {"cf_seqlinear": {"skipped": "catalogue too large for this test"}}


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        bench_scale.parse([])
    with pytest.raises(SystemExit):
        bench_scale.parse(["--interactions", "1000", "--stages", "cf_itemknn"])
    with pytest.raises(ValueError, match="at least 1000"):
        scale_data.shape_for(10)
