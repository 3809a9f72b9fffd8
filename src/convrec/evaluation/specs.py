"""The models `convrec eval` can score: ModelSpec, the default lists per protocol, the adapter
models (``llm``, ``fused``), MMR twins, and the ``--models`` selection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

PROTOCOLS = ("A", "B", "C", "S")


def ranks(model: Any) -> bool:
    """Whether the ranking task scores ``model``: it has ``score_items`` and is not a rating
    model (a :class:`~convrec.cf.base.CFModel` whose ``objective`` is ``"rating"`` ranks by
    predicted rating, but is reported on the rating task only)."""
    return hasattr(model, "score_items") and getattr(model, "objective", "ranking") == "ranking"


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: a factory called with each point of a hyper-parameter grid.

    The grid point with the best validation score (lowest RMSE, highest
    NDCG@10, highest ROUGE-L) is refitted on train+valid and scored on test.
    """

    name: str
    factory: Callable[..., Any]
    grid: Sequence[Mapping[str, Any]] = ({},)
    sample: int | None = None
    """Choose on and score on seeded samples of at most this many valid and test rows (slow
    models, e.g. the LLM)."""
    shipped: Mapping[str, Any] | None = None
    """The grid point the product ships with, when it is fixed elsewhere (protocol S reports
    its test NDCG@10 beside the point chosen on valid)."""
    training: Mapping[str, Any] | None = None
    """What a model trained elsewhere (an adapter) learnt from: ``{"data": name, "split":
    TrainConfig.split}``. Protocol S flags a model trained on the same data set without
    ``split == "S"``: its training saw the valid and test users and the cold items."""


def reference_models(protocol: str) -> list[ModelSpec]:
    """The simple references every report carries (names fixed by PROTOCOL.md's tables)."""
    from convrec.cf.baselines import BiasBaseline, GlobalMean, MostPopular

    regs = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    specs = [
        ModelSpec("global_mean", GlobalMean),
        ModelSpec(
            "bias_baseline",
            BiasBaseline,
            grid=[{"reg_item": a, "reg_user": b} for a in regs for b in regs],
        ),
        ModelSpec("most_popular", MostPopular),
    ]
    if protocol.upper() == "C":
        from convrec.evaluation.floors import ConstantSentence, SameItemRetrieval

        specs += [
            ModelSpec("constant_sentence", ConstantSentence, grid=[{"rank": k} for k in range(30)]),
            ModelSpec("same_item_retrieval", SameItemRetrieval),
        ]
    return specs


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
    item (:class:`~convrec.cf.seqlinear.SequentialLinear`); ``ease`` is the closed-form linear
    autoencoder of Steck (2019) (:class:`~convrec.cf.ease.EASE`), a strong simple peer. The
    SequentialKNN grid was narrowed on an inner split of the training rows only (each user's
    last train item held out): ``tau > 2`` and the cosine blend lost there, so they are not
    searched.
    """
    from convrec.cf.ease import EASE
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
        ModelSpec("ease", EASE, grid=[{"l2": r} for r in (50.0, 200.0, 500.0, 1000.0, 3000.0)]),
    ]


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


def peer_model_specs() -> list[ModelSpec]:
    """Protocol S's peer from another library, when it is installed: ``implicit_als``,
    implicit's ALS (:class:`~convrec.evaluation.peers.ImplicitALS`, each session solved as a
    new user by ``recalculate_user``); factors, regularisation and confidence chosen on valid.
    """
    from convrec.evaluation.peers import IMPLICIT_ALS, ImplicitALS, peers_installed

    if not peers_installed():
        return []
    grid = [
        {"factors": f, "regularization": r, "alpha": a}
        for f in (32, 64, 128)
        for r in (0.1, 1.0, 10.0, 100.0)
        for a in (1.0, 5.0)
    ]
    return [ModelSpec(IMPLICIT_ALS, ImplicitALS, grid=grid)]


MODEL_GROUPS = ("references", "cf", "cbf", "all")


def default_models(protocol: str) -> list[ModelSpec]:
    """Every model a protocol reports: the references, then the CF models it scores.

    Rating CF models (``cf_knn_item``, ``cf_knn_user``, ``cf_bpmf``, ``cf_blend``) run under
    A and C, ranking ones (``cf_itemknn``, ``cf_userknn``, ``cf_recency_itemknn``,
    ``cf_seqknn``, ``ease``) under B and C, as does the content-based ``cbf``; protocol S
    (cold sessions) runs ``most_popular``, the ranking models, implicit's ALS when it is
    installed (:func:`peer_model_specs`), ``cbf`` and the shipped session configuration
    (:func:`session_model_specs`).
    """
    protocol = protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    specs = reference_models(protocol)
    if protocol == "S":  # ranking only: sessions have no ratings to predict
        return [s for s in specs if s.name == "most_popular"] + [
            *ranking_model_specs(),
            *peer_model_specs(),
            *content_model_specs(),
            *session_model_specs(),
        ]
    if protocol in ("A", "C"):
        specs += rating_model_specs()
    if protocol in ("B", "C"):
        specs += ranking_model_specs() + content_model_specs()
    return specs


def model_names() -> list[str]:
    """Names of every model of :func:`default_models` over all protocols, in report order."""
    names: list[str] = []
    for protocol in PROTOCOLS:
        names += [s.name for s in default_models(protocol) if s.name not in names]
    return names


LLM_NAME = "llm"
"""The LLM alone (needs a trained adapter: ``convrec eval --adapter DIR``)."""
FUSED_NAME = "fused"
"""CF fused with the LLM (needs a trained adapter): see :func:`fused_specs`."""
ADAPTER_MODELS = (LLM_NAME, FUSED_NAME)
SESSION_NAME = "cf_session"
"""The Recommender's session candidate model under protocol S (:func:`session_model_specs`)."""
ALPHAS = tuple(round(0.1 * a, 1) for a in range(11))
"""The CF weights ``alpha`` the ``fused`` model chooses from on valid."""


def llm_spec(
    adapter: str | Path, sample: int | None = None, loader: Callable[[], Any] | None = None
) -> ModelSpec:
    """The ``llm`` model: an adapter directory loaded once, refitted (prompt index) per split.

    ``loader`` (an :class:`~convrec.evaluation.fused.AdapterLoader`) shares the loaded adapter
    with the ``fused`` model.
    """
    from convrec.evaluation.fused import AdapterLoader, LLMAlone

    load = loader or AdapterLoader(adapter)
    return ModelSpec(LLM_NAME, lambda: LLMAlone(load()), sample=sample)


def fused_specs(
    adapter: str | Path,
    protocol: str,
    sample: int | None = None,
    loader: Callable[[], Any] | None = None,
    candidates: int = 50,
    mmr: Sequence[float] = (),
) -> list[ModelSpec]:
    """The ``fused`` model (plus one ``fused+mmrD`` twin per diversity ``D`` of ``mmr``).

    A :class:`~convrec.recommender.Recommender` per split: ratings
    ``alpha * Blend + (1 - alpha) * LLM expected rating`` (A; the Blend is ``cf_blend``), and
    rankings of the SequentialLinear (``cf_seqlinear``) top-``candidates``, re-scored by the
    LLM and fused natively by ``alpha * CF + (1 - alpha) * LLM`` after a per-user ``zscore`` /
    ``minmax`` normalisation, or by weighted reciprocal-rank fusion (``rrf``) (B). ``alpha``
    (:data:`ALPHAS`) and the fusion are chosen on valid; fitted parts and LLM scores are shared
    by the whole grid.
    """
    from convrec.evaluation.fused import AdapterLoader, FusedModel, SharedParts
    from convrec.recommender import FUSIONS

    shared = SharedParts(loader or AdapterLoader(adapter), candidates)
    grid: list[dict[str, Any]]
    if protocol.upper() == "A":
        grid = [{"alpha": a} for a in ALPHAS]
    else:
        grid = [{"alpha": a, "fusion": f, "candidates": candidates}
                for f in FUSIONS for a in ALPHAS]  # fmt: skip

    def factory(diversity: float) -> Callable[..., Any]:
        return lambda **point: FusedModel(shared, diversity=diversity, **point)

    specs = [ModelSpec(FUSED_NAME, factory(0.0), grid, sample)]
    if protocol.upper() != "A":
        specs += [ModelSpec(f"{FUSED_NAME}+mmr{d:g}", factory(d), grid, sample) for d in mmr]
    return specs


def session_model_specs() -> list[ModelSpec]:
    """Protocol S's shipped session configuration, as fixed (no grid), and its tuned twin.

    ``cf_session`` is the Recommender's session candidate model alone
    (:data:`~convrec.recommender.config.SESSION_CF`), ``cf_session_tuned`` the same model
    with ``k`` and ``popularity`` chosen on the valid sessions (:data:`SESSION_GRID`);
    ``cf_session+cbf`` is a
    :class:`Recommender` without LLM ranking sessions as ``Recommender.from_pretrained(...,
    llm=False)`` does: that model fused with the content source, which also proposes
    candidates (so items without interactions can be listed).
    """
    from convrec.evaluation.fused import FusedModel, SharedParts
    from convrec.recommender.config import SESSION_CF, RecommenderConfig, cf_classes, named_model

    shared = SharedParts(None, RecommenderConfig().n_candidates, content=True, sessions_only=True)
    return [
        ModelSpec(SESSION_NAME, lambda: named_model(SESSION_CF, cf_classes())),
        ModelSpec(f"{SESSION_NAME}+cbf", lambda: FusedModel(shared, alpha=1.0)),
        ModelSpec(
            f"{SESSION_NAME}_tuned",
            lambda **point: named_model({**SESSION_CF, **point}, cf_classes()),
            SESSION_GRID,
        ),
    ]


SESSION_GRID = [
    {"k": k, "popularity": p, "activity": a}
    for k in (50, 100, 200)
    for p in (0.0, 0.1, 0.2, 0.5, 1.0)
    for a in (0.0, 0.5, 1.0)
    if p or not a
]
"""``cf_session_tuned``: the session model's neighbours and popularity prior (weight and
activity exponent) chosen on the data set's own valid sessions (the shipped
:data:`SESSION_CF` was chosen on ML-100k's)."""


def session_adapter_specs(
    loader: Callable[[], Any], candidates: int = 50, llm: bool = True, fused: bool = True
) -> list[ModelSpec]:
    """Protocol S's adapter models, over one shared :class:`Recommender` per split.

    ``llm`` is the LLM alone re-scoring the best ``llm_candidates`` (the adapter's, as in the
    chat; 20 by default) of each session's ``candidates`` (``alpha`` 0); ``fused`` chooses
    ``alpha`` (:data:`ALPHAS`) and the fusion on the valid sessions, its ``shipped`` point
    being the adapter's ``session_alpha`` and fusion when it carries one, and comes with
    ``fused_no_llm``, the same lists at alpha 1 (the session model and the content source
    alone, in the fusion the adapter gives sessions), so that the paired difference between
    the two is what the LLM adds.
    The CF side is the session model the chat would use with that adapter (the default,
    :func:`session_model_specs`, unless the adapter carries its domain's own:
    :attr:`~convrec.llm.shipped.ShippedFusion.session_cf`) with the content source at its
    default weight, as the chat ranks sessions.
    """
    from convrec.evaluation.fused import FusedModel, SharedParts
    from convrec.llm.shipped import ShippedFusion, adapter_training, shipped_fusion
    from convrec.recommender import FUSIONS

    adapter = getattr(loader, "adapter", None)
    fusion = shipped_fusion(adapter) if adapter is not None else None
    training = adapter_training(adapter) if adapter is not None else None
    session_cf = None if fusion is None else fusion.session_cf
    # the LLM re-scores what it re-scores in the chat: the adapter's llm_candidates best
    shown = (fusion or ShippedFusion()).llm_candidates
    shared = SharedParts(
        loader,
        candidates,
        content=True,
        session_cf=session_cf,
        llm_candidates=shown,
        sessions_only=True,
    )
    specs = []
    if llm:
        specs.append(ModelSpec(LLM_NAME, lambda: FusedModel(shared, alpha=0.0), training=training))
    if fused:
        grid = [{"alpha": a, "fusion": f} for f in FUSIONS for a in ALPHAS]
        # the sessions' fusion, as the chat's: the adapter's, else the recommender's default
        method = shared.config.fusion if fusion is None else fusion.session_fusion or fusion.fusion
        shipped = None
        if fusion is not None and fusion.session_alpha is not None:
            shipped = {"alpha": fusion.session_alpha, "fusion": method}
        specs.append(
            ModelSpec(f"{FUSED_NAME}_no_llm", lambda: FusedModel(shared, alpha=1.0, fusion=method))
        )
        specs.append(
            ModelSpec(
                FUSED_NAME,
                lambda **point: FusedModel(shared, **point),
                grid,
                shipped=shipped,
                training=training,
            )
        )
    return specs


def mmr_twin(spec: ModelSpec, diversity: float) -> ModelSpec:
    """``NAME+mmrD``: ``spec``'s model with its top-100 re-ranked by MMR (same grid)."""
    from convrec.evaluation.fused import MMRModel

    def factory(**point: Any) -> MMRModel:
        return MMRModel(spec.factory(**point), diversity)

    return ModelSpec(f"{spec.name}+mmr{diversity:g}", factory, spec.grid, spec.sample)


def parse_model_selection(text: str) -> list[str]:
    """Check a comma-separated list of model names and groups (:data:`MODEL_GROUPS`).

    Returns the items, stripped, in order. Raises ``ValueError`` naming every unknown item and
    listing the valid ones.
    """
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise ValueError("--models is empty; give model names or one of " + ", ".join(MODEL_GROUPS))
    from convrec.evaluation.peers import IMPLICIT_ALS

    known = [*model_names(), *ADAPTER_MODELS, IMPLICIT_ALS]
    unknown = [item for item in items if item not in known and item not in MODEL_GROUPS]
    if unknown:
        raise ValueError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; choose from the groups "
            f"{', '.join(MODEL_GROUPS)} or the models {', '.join(known)}"
        )
    return items


def select_models(
    protocol: str,
    selection: str | Sequence[str] = "all",
    adapter: str | Path | None = None,
    sample: int | None = None,
    mmr: Sequence[float] = (),
    candidates: int = 50,
    sample_all: bool = False,
) -> list[ModelSpec]:
    """The models of :func:`default_models` (``protocol``) that ``selection`` names.

    ``selection`` is a comma-separated string or a list of names and groups: ``references``
    (the simple references), ``cf`` (the ``cf_*`` models), ``cbf`` (content-based), ``all``.
    Names that exist but are not scored under ``protocol`` (e.g. a rating model under B) are
    left out. ``llm`` (the LLM alone) and ``fused`` (:func:`fused_specs`, ``candidates`` CF
    candidates) need an ``adapter`` directory and are chosen and scored on seeded samples of
    ``sample`` valid and test rows when given; ``all`` includes them only with an adapter.
    Under B and C every ranking model but ``llm`` gets one MMR twin per diversity in ``mmr``
    (:func:`mmr_twin`). ``sample_all`` scores every model on those samples (the same rows:
    comparable with the LLM's numbers).
    """
    items = parse_model_selection(selection if isinstance(selection, str) else ",".join(selection))
    missing = [name for name in ADAPTER_MODELS if name in items]
    if missing and adapter is None:
        raise ValueError(f"{' and '.join(missing)} need(s) --adapter DIR (from convrec train)")
    from convrec.evaluation.peers import IMPLICIT_ALS, peers_installed

    if IMPLICIT_ALS in items and not peers_installed():
        raise ValueError(
            f"{IMPLICIT_ALS} needs the implicit package: pip install implicit "
            '(or pip install "convrec[peers]")'
        )
    if any(not 0.0 < d <= 1.0 for d in mmr):
        raise ValueError(f"MMR diversities must be in (0, 1], got {list(mmr)}")
    ranking = protocol.upper() in ("B", "C")
    chosen = []
    for spec in default_models(protocol):
        group = spec.name.split("_")[0] if spec.name.startswith(("cf_", "cbf")) else "references"
        if "all" in items or group in items or spec.name in items:
            chosen.append(spec)
            if ranking and ranks(spec.factory(**dict(spec.grid[0]))):
                chosen += [mmr_twin(spec, d) for d in mmr]
    if sample_all and sample is not None:
        chosen = [replace(spec, sample=sample) for spec in chosen]
    if adapter is not None:
        from convrec.evaluation.fused import AdapterLoader

        loader = AdapterLoader(adapter)
        if protocol.upper() == "S":
            want_llm = "all" in items or LLM_NAME in items
            want_fused = "all" in items or FUSED_NAME in items
            return chosen + session_adapter_specs(loader, candidates, want_llm, want_fused)
        if "all" in items or LLM_NAME in items:
            chosen.append(llm_spec(adapter, sample, loader))
        if "all" in items or FUSED_NAME in items:
            chosen += fused_specs(
                adapter, protocol, sample, loader, candidates, mmr if ranking else ()
            )
    return chosen
