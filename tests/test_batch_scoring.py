"""Batch scoring: every user's top-k to Parquet, the same with one process or several."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import convrec
from convrec.cli import main
from convrec.recommender import Recommender
from convrec.recommender.batch import (
    Shard,
    recommendation_table,
    source_names,
    write_all_users,
)

COLUMNS = ["--columns", "user=u,item=i,rating=r,timestamp=t"]


@pytest.fixture(scope="module")
def rec(llm_data):
    return Recommender.build(llm_data)


def _env() -> dict[str, str]:
    """The test's environment for a child process, with this convrec first on the path."""
    src = str(Path(convrec.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_shard_reads_the_launcher_variables():
    assert Shard.from_env({}) == Shard(0, 1, 0)
    assert Shard.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Shard(3, 4, 1)
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer"):
        Shard.from_env({"WORLD_SIZE": "two"})
    with pytest.raises(ValueError, match="RANK < WORLD_SIZE"):
        Shard.from_env({"RANK": "2", "WORLD_SIZE": "2"})


@pytest.mark.parametrize("n_batches", [0, 1, 2, 7, 100])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_the_batches_once_in_order(n_batches, world):
    runs = [Shard(r, world).batches(n_batches) for r in range(world)]
    assert [b for run in runs for b in run] == list(range(n_batches))
    assert max(len(r) for r in runs) - min(len(r) for r in runs) <= 1


def test_table_holds_each_users_list_as_recommend_gives_it(rec, llm_data):
    users = rec.user_ids()
    table = recommendation_table(rec, users, k=5, batch_size=7)
    assert table.column_names == ["user", "rank", "item", "score", "cf"]
    assert table.num_rows == 5 * len(users)
    rows = table.to_pylist()
    for user in (users[0], users[13], users[-1]):  # batches 1, 2 and the last, short one
        mine = [r for r in rows if r["user"] == user]
        expected = rec.recommend(user=user, k=5, explain=False)
        assert [r["rank"] for r in mine] == [1, 2, 3, 4, 5]
        assert [r["item"] for r in mine] == [item.item_id for item in expected]
        assert [r["score"] for r in mine] == [np.float32(i.score) for i in expected]
        assert [r["cf"] for r in mine] == [np.float32(i.components["cf"]) for i in expected]
        seen = {item for item, _ in rec.user_ratings(user)}
        assert not seen & {r["item"] for r in mine}
    with pytest.raises(ValueError, match="batch_size > 0"):
        recommendation_table(rec, users, k=5, batch_size=0)


def test_table_has_a_column_per_source(llm_data, index_llm):
    import dataclasses

    base = Recommender.build(llm_data)
    rec = Recommender(llm_data, base.rows, base.cf, base.rating, llm=index_llm(),
                      config=dataclasses.replace(base.config, llm_candidates=3))  # fmt: skip
    assert source_names(rec) == ["cf", "llm"]
    users = rec.user_ids()[:4]
    table = recommendation_table(rec, users, k=6)
    assert table.column_names == ["user", "rank", "item", "score", "cf", "llm"]
    expected = rec.recommend(user=users[2], k=6, explain=False)
    mine = [r for r in table.to_pylist() if r["user"] == users[2]]
    for name in ("cf", "llm"):
        assert [r[name] for r in mine] == [np.float32(i.components[name]) for i in expected]


def test_parts_written_by_two_shards_merge_into_the_one_process_file(rec, tmp_path, monkeypatch):
    """Without a process group, rank 0 waits for the other part's file and merges."""
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    one = write_all_users(rec, tmp_path / "one.parquet", k=4, batch_size=6, shard=Shard())
    two = tmp_path / "two.parquet"
    write_all_users(rec, two, k=4, batch_size=6, shard=Shard(1, 2, 1))  # writes its part only
    assert not two.exists()
    write_all_users(rec, two, k=4, batch_size=6, shard=Shard(0, 2, 0))
    assert pq.read_table(two).equals(pq.read_table(one))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.parquet", "two.parquet"]
    with pytest.raises(TimeoutError, match="1 of 2 parts are still missing"):
        write_all_users(rec, tmp_path / "x.parquet", k=4, batch_size=6, shard=Shard(0, 2),
                        timeout=0.3)  # fmt: skip


def test_cli_all_users_and_its_errors(ratings_csv, tmp_path, capsys):
    data = ["recommend", "--data", str(ratings_csv), *COLUMNS, "--adapter", "none"]
    out = tmp_path / "recs.parquet"
    assert main([*data, "--all-users", "--out", str(out), "--k", "3", "--batch-size", "8"]) == 0
    assert "top-3 of 40 users" in capsys.readouterr().out
    table = pq.read_table(out)
    assert table.num_rows == 120 and table.column("rank").to_pylist()[:4] == [1, 2, 3, 1]
    for extra, message in [
        ([], "needs --out"),
        (["--out", str(out), "--user", "3"], "drop --user"),
        (["--out", str(out), "--explain", "--json"], "drop --explain, --json"),
        (["--out", str(tmp_path / "no" / "x.parquet")], "no such directory"),
        (["--out", str(out), "--batch-size", "0"], "--batch-size must be >= 1"),
    ]:
        assert main([*data, "--all-users", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert main([*data, "--out", str(out), "--user", "3"]) == 2
    assert "add --all-users" in capsys.readouterr().err


def test_two_processes_under_torchrun_write_the_one_process_file(ratings_csv, tmp_path,
                                                                 free_port):  # fmt: skip
    """CF only, 40 users in batches of 7: rank 0 scores batches 0-2, rank 1 batches 3-5."""
    args = ["recommend", "--data", str(ratings_csv), *COLUMNS, "--adapter", "none",
            "--all-users", "-k", "5", "--batch-size", "7"]  # fmt: skip
    one = tmp_path / "one.parquet"
    assert main([*args, "--out", str(one)]) == 0
    two = tmp_path / "two.parquet"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
              "--master-port", str(free_port), "-m", "convrec.cli"]  # fmt: skip
    done = subprocess.run(
        [*launch, *args, "--out", str(two)], env=_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote") == 1 and "over 2 processes" in done.stdout
    assert pq.read_table(two).equals(pq.read_table(one))
    assert two.read_bytes() == one.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # parts removed
