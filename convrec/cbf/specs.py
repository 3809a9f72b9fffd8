"""The CBF entry of the evaluation: ``cbf`` (protocol B / C ranking) with its validation grid."""

from __future__ import annotations

from convrec.eval_models import ModelSpec


def content_model_specs() -> list[ModelSpec]:
    """Protocol B / C ranking entry ``cbf`` (:class:`~convrec.cbf.model.ContentModel`).

    The grid picks the history weighting (``positive``, ``signed``, ``uniform``) and the
    recency half-life on valid; item embeddings are computed once per item-text set and
    cached, so the grid costs little beyond the first fit. On the valid part of ML-100k and
    Amazon MI5 (NDCG@10) ``uniform`` beat ``positive`` beat ``signed`` at every half-life, and
    a half-life of 1 beat 2, 5, 20 and none: leave-last-out rewards the next item whatever
    its rating, and the last items say most about it.
    """
    from convrec.cbf.model import ContentModel

    grid = [
        {"weighting": w, "half_life": h}
        for w in ("positive", "signed", "uniform")
        for h in (0.0, 1.0, 2.0, 5.0, 20.0)
    ]
    return [ModelSpec("cbf", ContentModel, grid=grid)]
