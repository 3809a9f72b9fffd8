"""Shared fixtures: tiny data files, the real data sets (skipped when absent), a loopback guard."""

import gzip
import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
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


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Sockets may connect to loopback only: the app must make no outbound connection."""
    refused: list[str] = []
    connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None:
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = host == "localhost"
            if not ok:
                refused.append(host)
                raise ConnectionRefusedError(f"test forbids connecting to {host}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return refused


@pytest.fixture
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """The ml-100k copy inside the installed recbole package."""
    found = find_movielens_100k()
    if found is None:
        pytest.skip("ml-100k not found: pip install --no-deps recbole==1.2.1")
    return found


@pytest.fixture(scope="session")
def mi5_file() -> Path:
    """The Amazon Musical Instruments 5-core reviews in the shared data folder beside the repo."""
    path = MI5 / "reviews_Musical_Instruments_5.json.gz"
    if not path.is_file():
        pytest.skip(f"Amazon MI5 data not found at {path}")
    return path


@pytest.fixture(scope="session")
def ml100k(ml100k_dir: Path):  # type: ignore[no-untyped-def]
    """MovieLens-100k as a Dataset (the copy inside recbole)."""
    from convrec.data import load_dataset

    return load_dataset(ml100k_dir)


def make_llm_data(n_users: int = 40, n_items: int = 30, reviews: bool = True, seed: int = 0):
    """A small synthetic data set with titles, years, genres and (optionally) reviews."""
    from convrec.data import ItemInfo, build_dataset

    rng = np.random.default_rng(seed)
    genres = ["Action", "Comedy", "Drama", "Horror", "Romance"]
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()  # noqa: SIM905
    info = {
        str(i): ItemInfo(
            title=f"{words[i % 13].title()} {words[(i * 7 + 3) % 13].title()} {i}",
            year=1980 + i,
            genres=(genres[i % 5],),
        )
        for i in range(n_items)
    }
    user, item, rating, stamp = [], [], [], []
    for u in range(n_users):
        for k, i in enumerate(rng.choice(n_items, size=12, replace=False)):
            user.append(u)
            item.append(int(i))
            rating.append(float(1 + (u + int(i)) % 5))
            stamp.append(1000 * u + k)
    n = len(user)
    text = [
        f"the {words[i % 13]} sound is {words[(i + u) % 13]} and {words[(3 * i) % 13]} strings"
        for u, i in zip(user, item, strict=True)
    ]
    summary = [f"summary {k} {words[k % 13]} rocks" for k in range(n)]
    return build_dataset(
        "tiny",
        source="memory",
        user_ids=np.array(user),
        item_ids=np.array(item),
        rating=np.array(rating),
        timestamp=np.array(stamp, np.int64),
        lines=np.arange(1, n + 1),
        item_info=info,
        review_text=text if reviews else None,
        summary=summary if reviews else None,
    )


@pytest.fixture(scope="session")
def llm_data():
    """Synthetic review data for the LLM tests (40 users x 12 ratings, 30 titled items)."""
    return make_llm_data()


@pytest.fixture(scope="session")
def tiny_t5_dir(llm_data, tmp_path_factory) -> Path:
    """A tiny T5 checkpoint (WordPiece vocabulary trained on ``llm_data``) on disk."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from convrec.llm.tiny import build_tiny_t5

    return build_tiny_t5(llm_data, tmp_path_factory.mktemp("tiny-t5"), vocab_size=1000)


class IndexLLM:
    """A deterministic stand-in for the LLM source in fusion and chat plumbing tests.

    It scores a candidate by its item index (so an LLM-only list is in reverse index order),
    rates every pair ``rating`` and explains with a fixed ``text``, for known users and for
    sessions alike. End-to-end tests with the real (tiny) LLM are in test_fused.py.
    """

    def __init__(self, text="Because it fits.", rating=5.0):
        self.text, self.rating = text, rating
        self.widths = []  # candidates per row of each scoring call

    def score_candidates(self, users, candidates):
        self.widths.append(candidates.shape[1])
        return np.where(candidates >= 0, candidates.astype(np.float32), -np.inf)

    def score_candidates_for(self, histories, candidates):
        return self.score_candidates(np.zeros(len(histories), np.int32), candidates)

    def predict_ratings(self, users, items):
        return np.full(len(users), self.rating, np.float32)

    def explain(self, users, items):
        return [self.text] * len(users)

    def explain_for(self, histories, items):
        return [self.text] * len(histories)


@pytest.fixture(scope="session")
def index_llm():
    """The :class:`IndexLLM` class."""
    return IndexLLM


@pytest.fixture
def ratings_csv(llm_data, tmp_path):
    """``llm_data`` as a CSV file with the columns u, i, r, t."""
    path = tmp_path / "ratings.csv"
    lines = ["u,i,r,t"]
    for u, i, r, t in zip(
        llm_data.user, llm_data.item, llm_data.rating, llm_data.timestamp, strict=True
    ):
        lines.append(f"{u},{i},{r:g},{t}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def ml100k_cf(ml100k):  # type: ignore[no-untyped-def]
    """A CF-only Recommender fitted on all of MovieLens-100k (no LLM)."""
    from convrec import Recommender

    return Recommender.build(ml100k)
