"""Shared fixtures: a writer for tiny data files, and the real data sets (skipped when absent)."""

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from convrec.data import find_movielens_100k

MI5 = Path(__file__).resolve().parents[1].parent / "shared/data/amazon-mi5"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(name, content, gz=False, encoding="utf-8")``: a file under ``tmp_path``."""

    def _write(name: str, content: str | bytes, gz: bool = False, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode(encoding) if isinstance(content, str) else content
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return _write


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """The ml-100k copy inside the installed recbole package."""
    found = find_movielens_100k()
    if found is None:
        pytest.skip("ml-100k not found: pip install --no-deps recbole==1.2.1")
    return found


@pytest.fixture(scope="session")
def mi5_file() -> Path:
    """The Amazon Musical Instruments 5-core reviews under /work/shared/data."""
    path = MI5 / "reviews_Musical_Instruments_5.json.gz"
    if not path.is_file():
        pytest.skip(f"Amazon MI5 data not found at {path}")
    return path


@pytest.fixture(scope="session")
def ml100k(ml100k_dir: Path):  # type: ignore[no-untyped-def]
    """MovieLens-100k as a Dataset (the copy inside recbole)."""
    from convrec.data import load_dataset

    return load_dataset(ml100k_dir)
