"""The storage helpers: atomic replacement of files and directories, CSR arrays in an npz."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from convrec.storage import (
    atomic_path,
    csr_arrays,
    csr_from_arrays,
    load_npz,
    save_npz,
    write_json_atomic,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    path = write_json_atomic(tmp_path / "a.json", {"x": 1})
    with pytest.raises(RuntimeError, match="boom"), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_directory_is_replaced_whole(tmp_path) -> None:
    final = tmp_path / "model"
    for files in (["a", "b"], ["c"]):
        with atomic_path(final, fsync=True) as tmp:
            tmp.mkdir()
            for name in files:
                (tmp / name).write_text(name)
        assert sorted(p.name for p in final.iterdir()) == files
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_csr_arrays_round_trip_through_an_npz(tmp_path) -> None:
    rng = np.random.default_rng(0)
    mats = {
        "a_": sp.random(7, 5, density=0.4, format="csr", dtype=np.float32, random_state=rng),
        "b_": sp.random(3, 9, density=0.5, format="csr", dtype=np.float64, random_state=rng),
    }
    arrays = {k: v for prefix, m in mats.items() for k, v in csr_arrays(m, prefix).items()}
    _, _, back = load_npz(save_npz(tmp_path / "m.npz", "mats", {}, arrays), "mats")
    for prefix, mat in mats.items():
        got = csr_from_arrays(back, prefix)
        assert got.shape == mat.shape and got.dtype == mat.dtype
        assert (got != mat).nnz == 0
    no_shape = {k: v for k, v in back.items() if k != "a_shape"}
    assert csr_from_arrays(no_shape, "a_", shape=(7, 5), dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="has no shape"):
        csr_from_arrays(no_shape, "a_")
    with pytest.raises(ValueError, match="missing"):
        csr_from_arrays(back, "c_")
