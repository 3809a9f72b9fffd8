"""The CF entries of the evaluation: each model with the grid its protocol searches on valid."""

from __future__ import annotations

from typing import Any

from convrec.eval_models import ModelSpec


def rating_model_specs() -> list[ModelSpec]:
    """Protocol A / C rating entries (all of them run in about a minute on ML-100k).

    ``cf_knn_item`` / ``cf_knn_user`` (:class:`~convrec.cf.rating.KNNBaseline`), ``cf_bpmf``
    (:class:`~convrec.cf.factor.BPMF`) and ``cf_blend`` (:class:`~convrec.cf.rating.Blend` of
    the defaults in ``DEFAULT_MEMBERS``, no grid: its weights come from a hold-out of the
    fitting rows).
    """
    from convrec.cf.factor import BPMF
    from convrec.cf.rating import Blend, KNNBaseline

    def knn_grid(kind: str) -> list[dict[str, Any]]:
        return [
            {"kind": kind, "k": k, "shrink": shrink, "reg_item": ri, "reg_user": ru}
            for k in (40, 80)
            for shrink in (100.0, 200.0)
            for ri, ru in ((5.0, 10.0), (10.0, 15.0))
        ]

    return [
        ModelSpec("cf_knn_item", KNNBaseline, grid=knn_grid("item")),
        ModelSpec("cf_knn_user", KNNBaseline, grid=knn_grid("user")),
        ModelSpec("cf_bpmf", BPMF, grid=[{"n_factors": 10, "alpha": a} for a in (1.25, 1.5, 2.0)]),
        ModelSpec("cf_blend", Blend),
    ]


def ranking_model_specs() -> list[ModelSpec]:
    """Protocol B / C ranking entries; the runner picks each grid point on valid.

    ``cf_itemknn`` and ``cf_userknn`` are the plain neighbour models
    (:class:`~convrec.cf.knn.ItemKNN`, :class:`~convrec.cf.knn.UserKNN`, cosine, every
    interaction weighs 1); ``cf_recency_itemknn`` weighs the item-kNN neighbours by recency;
    ``cf_seqknn`` uses transition neighbours, ``cf_seqlinear`` a ridge regression of the next
    item (:class:`~convrec.cf.seqlinear.SequentialLinear`). The SequentialKNN grid was
    narrowed on an inner split of the training rows only (each user's last train item held
    out): ``tau > 2`` and the cosine blend lost there, so they are not searched.
    """
    from convrec.cf.knn import ItemKNN, UserKNN
    from convrec.cf.seqlinear import SequentialLinear
    from convrec.cf.sequential import RecencyItemKNN, SequentialKNN

    sizes = (10, 20, 50, 100, 200)
    return [
        ModelSpec("cf_itemknn", ItemKNN, grid=[{"n_neighbours": k} for k in sizes]),
        ModelSpec("cf_userknn", UserKNN, grid=[{"n_neighbours": k} for k in sizes]),
        ModelSpec(
            "cf_recency_itemknn",
            RecencyItemKNN,
            grid=[{"k": k, "tau": t} for k in (50, 100, 200) for t in (0.5, 1.0, 2.0)],
        ),
        ModelSpec(
            "cf_seqknn",
            SequentialKNN,
            grid=[{"tau": t, "window": w} for t in (1.0, 2.0) for w in (5, 10)],
        ),
        ModelSpec(
            "cf_seqlinear",
            SequentialLinear,
            grid=[{"tau_long": t, "l2": r} for t in (8.0, 16.0) for r in (100.0, 300.0, 1000.0)],
        ),
    ]
