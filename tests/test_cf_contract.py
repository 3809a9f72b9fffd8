"""The CF contract over every CF model: known-answer checkerboard, round trip, bad input."""

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

import convrec.cf as cf_package
from convrec.cf import (
    BPMF,
    EASE,
    SIMILARITIES,
    BiasBaseline,
    Blend,
    CFModel,
    GlobalMean,
    ItemKNN,
    KNNBaseline,
    MostPopular,
    RecencyItemKNN,
    SequentialKNN,
    SequentialLinear,
    UserKNN,
)
from convrec.cf.base import CONFIG_NAME, WEIGHTS_NAME
from convrec.data import build_dataset
from convrec.data.dataset import Dataset
from convrec.evaluation.specs import ranks

N_USERS, N_ITEMS = 10, 8
WITHHELD = {0: 4, 1: 3}
"""User 0's item 4 and user 1's item 3: same parity as the user, left out of the data."""
DECOYS = {0: 1, 1: 2}
"""Rating data only: an other-parity item each of users 0 and 1 has not rated either."""


def checkerboard_matrix(n_users: int = N_USERS, n_items: int = N_ITEMS) -> sp.csr_matrix:
    """User u likes the items of its parity; user 0's item 4 and user 1's item 3 are withheld."""
    dense = np.array([[float(i % 2 == u % 2) for i in range(n_items)] for u in range(n_users)])
    for user, item in WITHHELD.items():
        dense[user, item] = 0.0
    return sp.csr_matrix(dense)


def checkerboard(ratings: bool) -> Dataset:
    """The checkerboard as a Dataset, user ``u`` meeting its items in index order.

    ``ratings=False``: only the same-parity items (rating 5), the implicit data the ranking
    models fit. ``ratings=True``: every other-parity item too, rated 1, except the
    :data:`DECOYS`, so that users 0 and 1 each have one liked and one disliked item unrated.
    """
    users, items, rating = [], [], []
    for u in range(N_USERS):
        for i in range(N_ITEMS):
            liked = i % 2 == u % 2
            if WITHHELD.get(u) == i or DECOYS.get(u) == i or not (liked or ratings):
                continue
            users.append(f"u{u:02d}")
            items.append(f"i{i}")
            rating.append(5.0 if liked else 1.0)
    n = len(users)
    data = build_dataset(
        "checkerboard",
        source="memory",
        user_ids=np.array(users),
        item_ids=np.array(items),
        rating=np.array(rating),
        timestamp=np.array(
            [100 * int(u[1:]) + int(i[1:]) for u, i in zip(users, items, strict=True)]
        ),
        lines=np.arange(1, n + 1),
    )
    assert [data.users.index(f"u{u:02d}") for u in range(N_USERS)] == list(range(N_USERS))
    assert [data.items.index(f"i{i}") for i in range(N_ITEMS)] == list(range(N_ITEMS))
    return data


# (name, factory, fitted on rating data, expected top item of users 0 and 1)
PERSONAL = [4, 3]
NON_PERSONAL_RATED = [1, 2]  # the decoy: rated by the most users, ties to the lower index
MODELS: list[tuple[str, Callable[[], CFModel], bool, list[int]]] = [
    ("ItemKNN", lambda: ItemKNN(n_neighbours=5), False, PERSONAL),
    ("UserKNN", lambda: UserKNN(n_neighbours=4), False, PERSONAL),
    ("RecencyItemKNN", lambda: RecencyItemKNN(k=5, tau=2.0), False, PERSONAL),
    ("SequentialKNN", lambda: SequentialKNN(k=5), False, PERSONAL),
    ("SequentialKNN+prior", lambda: SequentialKNN(k=5, popularity=0.01), False, PERSONAL),
    ("SequentialLinear", lambda: SequentialLinear(k=5, l2=10.0), False, PERSONAL),
    ("EASE", lambda: EASE(l2=1.0), False, PERSONAL),
    # the five-count items 1 (user 0) and 0 (user 1) beat the withheld four-count ones
    ("MostPopular", MostPopular, False, [1, 0]),
    ("KNNBaseline-item", lambda: KNNBaseline(kind="item", k=5, shrink=1.0), True, PERSONAL),
    ("KNNBaseline-user", lambda: KNNBaseline(kind="user", k=5, shrink=1.0), True, PERSONAL),
    ("BPMF", lambda: BPMF(n_factors=2, n_samples=20, burn_in=10), True, PERSONAL),
    ("Blend", lambda: Blend(holdout=0.2), True, PERSONAL),
    ("BiasBaseline", BiasBaseline, True, NON_PERSONAL_RATED),
    ("GlobalMean", GlobalMean, True, NON_PERSONAL_RATED),
]
IDS = [m[0] for m in MODELS]
_DATA = {False: checkerboard(False), True: checkerboard(True)}


def fitted(index: int) -> tuple[CFModel, Dataset]:
    _, factory, rated, _ = MODELS[index]
    data = _DATA[rated]
    return factory().fit(data, np.arange(data.n_interactions)), data


def test_every_cf_model_is_under_test() -> None:
    """Every concrete CFModel convrec.cf exports (NeighbourModel is the sequential base)."""
    shipped = {
        name
        for name, cls in vars(cf_package).items()
        if isinstance(cls, type)
        and issubclass(cls, CFModel)
        and not getattr(cls, "__abstractmethods__", None)
    }
    tested = {type(factory()).__name__ for _, factory, _, _ in MODELS}
    assert shipped - {"NeighbourModel"} <= tested


@pytest.mark.parametrize("index", range(len(MODELS)), ids=IDS)
def test_checkerboard_withheld_item_ranks_first(index: int) -> None:
    model, data = fitted(index)
    expected = MODELS[index][3]
    assert (model.n_users, model.n_items) == (data.n_users, data.n_items)
    users = np.array([0, 1], dtype=np.int32)
    ids, scores = model.recommend(users, k=N_ITEMS)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    assert ids.shape == scores.shape == (2, N_ITEMS)
    assert ids[:, 0].tolist() == expected
    history = model.history()
    for u in range(2):  # seen items never come back; the list is sorted, padding last
        listed = ids[u][ids[u] >= 0]
        assert not set(listed) & set(history[u].indices)
        assert np.all(np.diff(scores[u][: len(listed)]) <= 0)
        assert np.isneginf(scores[u][len(listed) :]).all()
    dense = model.score_items(users)
    assert dense.dtype == np.float32 and dense.shape == (2, N_ITEMS)
    for u in range(2):  # recommend ranks by score_items
        assert dense[u, ids[u, 0]] == pytest.approx(scores[u, 0])
    batch = sp.csr_matrix(history[[0, 1]])
    batch_ids, _ = model.recommend(batch, k=N_ITEMS)
    if model.objective == "ranking":  # a history batch ranks like the fitted user it copies
        np.testing.assert_array_equal(batch_ids, ids)
    else:  # a rating model rates a history as a new user's: no user term, own items left out
        assert batch_ids[:, 0].tolist() == NON_PERSONAL_RATED
        assert not any(set(batch_ids[u]) & set(history[u].indices) for u in range(2))
    assert ranks(model) == (model.objective == "ranking")


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_item_knn_checkerboard_under_every_similarity(similarity: str) -> None:
    ui = checkerboard_matrix()
    if similarity in ("adjusted_cosine", "pearson"):  # centring needs varied ratings
        ui = ui.multiply(np.arange(1, 11)[:, None] % 3 + 1).tocsr()
    model = ItemKNN(n_neighbours=5, similarity=similarity).fit(ui)
    ids, scores = model.recommend(ui[:2], k=2)
    if similarity in ("cosine", "bm25"):
        assert ids[:, 0].tolist() == [4, 3]
        assert (ids[:, 1] == -1).all() and np.isneginf(scores[:, 1]).all()
    # Whatever the measure, only same-parity items can be recommended.
    assert all(i == -1 or i % 2 == u % 2 for u in range(2) for i in ids[u])


def test_user_knn_checkerboard_from_histories_and_known_users() -> None:
    ui = checkerboard_matrix()
    model = UserKNN(n_neighbours=4).fit(ui)
    ids, _ = model.recommend(ui[:2], k=2)
    assert ids[:, 0].tolist() == [4, 3]
    assert (ids[:, 1] == -1).all()  # every other same-parity item is already seen
    ids_known, _ = model.recommend(np.array([0, 1]), k=1)
    assert ids_known[:, 0].tolist() == [4, 3]


@pytest.mark.parametrize("index", range(len(MODELS)), ids=IDS)
def test_similar_items_stay_within_the_parity(index: int) -> None:
    model, _ = fitted(index)
    ids, scores = model.similar_items(0, k=N_ITEMS)
    assert ids.dtype == np.int32 and scores.dtype == np.float32 and ids.shape == (N_ITEMS,)
    listed = ids[ids >= 0]
    assert 0 not in listed and len(set(listed)) == len(listed)
    assert np.all(np.diff(scores[: len(listed)]) <= 0)
    assert np.isneginf(scores[len(listed) :]).all()
    if MODELS[index][3] == NON_PERSONAL_RATED:
        if isinstance(model, GlobalMean):  # rates every item alike: none is more similar
            assert len(listed) == 0
        return
    # implicit data: only same-parity items are co-consumed; ratings: liked by the same users
    assert len(listed) > 0 and all(i % 2 == 0 for i in listed)


@pytest.mark.parametrize("index", range(len(MODELS)), ids=IDS)
def test_save_pretrained_round_trip(index: int, tmp_path) -> None:
    model, data = fitted(index)
    folder = model.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == sorted([CONFIG_NAME, WEIGHTS_NAME])
    with np.load(folder / WEIGHTS_NAME, allow_pickle=False) as archive:  # no object arrays
        assert all(archive[k].dtype != object for k in archive.files)
    for loaded in (CFModel.from_pretrained(folder), type(model).from_pretrained(folder)):
        assert type(loaded) is type(model) and loaded.params() == model.params()
        users = np.arange(data.n_users, dtype=np.int32)
        np.testing.assert_array_equal(loaded.score_items(users), model.score_items(users))
        for got, want in zip(
            loaded.recommend(users, k=3), model.recommend(users, k=3), strict=True
        ):
            np.testing.assert_array_equal(got, want)
        for got, want in zip(
            loaded.similar_items(2, k=3), model.similar_items(2, k=3), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    model.save_pretrained(folder)  # over an existing directory: replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    other = GlobalMean if not isinstance(model, GlobalMean) else MostPopular
    with pytest.raises(ValueError, match="holds a"):
        other.from_pretrained(folder)
    with pytest.raises(ValueError, match="not a saved CF model"):
        CFModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("index", range(len(MODELS)), ids=IDS)
def test_bad_input_is_a_clear_error(index: int) -> None:
    model, data = fitted(index)
    n_users, n_items = data.n_users, data.n_items
    with pytest.raises(RuntimeError, match="not fitted"):
        MODELS[index][1]().recommend(np.array([0]))
    for users in (np.array([n_users]), np.array([-1])):
        with pytest.raises(ValueError, match=rf"users must be indices in \[0, {n_users}\)"):
            model.score_items(users)
        with pytest.raises(ValueError, match="users must be indices"):
            model.recommend(users)
    for users in (np.array([0.0]), np.array(["0"]), np.array([[0]], dtype=np.int32)[0, 0]):
        with pytest.raises(ValueError, match="1-D integer array"):
            model.recommend(users)
    with pytest.raises(TypeError, match=r"scipy\.sparse"):
        model.recommend(np.zeros((2, n_items)))
    with pytest.raises(ValueError, match=f"{n_items} columns"):
        model.recommend(sp.csr_matrix((1, n_items + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="no rows"):
        model.score_items(sp.csr_matrix((0, n_items), dtype=np.float32))
    for k, match in ((0, "k must be > 0"), (-2, "k must be > 0"), (1.5, "k must be an integer")):
        with pytest.raises(ValueError, match=match):
            model.recommend(np.array([0]), k=k)
        with pytest.raises(ValueError, match=match):
            model.similar_items(0, k=k)
    for item in (n_items, -1, 1.0, "1"):
        with pytest.raises(ValueError, match="item must be"):
            model.similar_items(item)
