"""RecommenderConfig (how candidates, sources and ratings are combined), the model classes its
names refer to, and the title error."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

FUSIONS = ("zscore", "minmax", "rrf")
"""Fusion choices of :meth:`RecommenderConfig.with_fusion`: two per-user normalisations of a
weighted sum, and reciprocal-rank fusion."""

CF_MODELS = ("SequentialKNN", "SequentialLinear", "RecencyItemKNN")
"""Candidate models a :class:`RecommenderConfig` may name in ``cf["model"]`` or
``session_cf["model"]`` (:class:`~convrec.cf.sequential.SequentialKNN`: any catalogue size;
:class:`~convrec.cf.seqlinear.SequentialLinear`: more accurate on long histories, an exact dense
solve up to :data:`convrec.cf.seqlinear.MAX_ITEMS` items, a candidate-restricted sparse one
beyond (see its ``solver``); :class:`~convrec.cf.sequential.RecencyItemKNN`:
cosine neighbours with an optional popularity prior, the best on new sessions)."""

SESSION_CF: dict[str, Any] = {
    "model": "RecencyItemKNN",
    "k": 200,
    "tau": 1.0,
    "popularity": 0.2,
    "activity": 1.0,
}
"""The default session candidate model, chosen on protocol S (sessions of 1, 3 and 5 liked
items of held-out MovieLens-100k users; docs/evaluation.md): ``k`` and ``tau`` by the mean
NDCG@10 of the valid sessions, the popularity prior as the smallest whose paired NDCG@10
difference from the best prior (0.5) is within one paired standard error (-0.0037 +- 0.0052;
0.1: -0.0091 +- 0.0068, none: -0.0175 +- 0.0087), so lists stay as personal as the data
allows; at that weight the prior counts each interaction by its user's number of
interactions (``activity`` 1 against 0: +0.0053 +- 0.0026 on valid, with as many distinct
items in the lists). On the test sessions it leads every CF model and EASE at N = 1 and 3."""

RATING_MODELS = ("BiasBaseline", "KNNBaseline", "Blend")
"""Rating models a :class:`RecommenderConfig` may name (each carries, or for ``Blend`` holds
a member with, the global mean and user / item biases that rate a session's items)."""


def cf_classes() -> dict[str, Any]:
    """The candidate model classes by the names of :data:`CF_MODELS`."""
    from convrec.cf.seqlinear import SequentialLinear
    from convrec.cf.sequential import RecencyItemKNN, SequentialKNN

    return {
        "SequentialKNN": SequentialKNN,
        "SequentialLinear": SequentialLinear,
        "RecencyItemKNN": RecencyItemKNN,
    }


def rating_classes() -> dict[str, Any]:
    """The rating model classes by the names of :data:`RATING_MODELS`."""
    from convrec.cf.baselines import BiasBaseline
    from convrec.cf.rating import Blend, KNNBaseline

    return {"BiasBaseline": BiasBaseline, "KNNBaseline": KNNBaseline, "Blend": Blend}


def named_model(spec: dict[str, Any], classes: dict[str, Any], default: str = "") -> Any:
    """``{"model": name, **parameters}`` -> an unfitted ``classes[name](**parameters)``."""
    params = {k: v for k, v in spec.items() if k != "model"}
    return classes[spec.get("model", default)](**params)


class UnknownTitleError(KeyError):
    """A title that matches no item; ``suggestions`` holds the closest titles."""

    def __init__(self, title: str, suggestions: Sequence[str]) -> None:
        self.title = title
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"no item titled {title!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class RecommenderConfig:
    """How the sources are combined.

    Attributes
    ----------
    n_candidates : int
        C, the CF engine's candidates per user that the other sources re-score.
    weights : dict[str, float]
        Fusion weight per source (``"cf"``, ``"llm"``, ``"cbf"``); the seed's
        ``alpha * CF + (1 - alpha) * LLM`` is ``{"cf": alpha, "llm": 1 - alpha}``
        (see :meth:`with_fusion`).
    method, normalisation : str
        Passed to :func:`convrec.cf.fuse` (``"weighted"`` / ``"rrf"``; ``"zscore"`` / ``"minmax"``).
    tau : float
        Recency scale of a session history, in positions (``exp(-position / tau)``).
    n_evidence : int
        History items kept as evidence per recommended item.
    rating_weighting : bool
        Scale a known user's history weights by how much they liked each item
        (``clip((r - 2) / 3, 0, 1)`` on a 1-5 scale): items rated 1-2 stop pulling
        in their neighbours. (Protocol B counts every rating as a positive, the
        chat does not.)
    cf : dict
        The candidate model of known users: ``{"model": name, **parameters}`` with a name of
        :data:`CF_MODELS` (no name: ``SequentialKNN``).
    session_cf : dict | None
        The candidate model of sessions (liked titles, no user id), in the same form
        (default :data:`SESSION_CF`); its own ``tau`` weighs a session's items and its prior is
        added to their scores. ``None``: sessions use ``cf`` and ``tau`` too.
    rating : dict
        The rating model: ``{"model": name, **parameters}`` with a name of
        :data:`RATING_MODELS`.
    rating_alpha : float
        Predicted rating ``rating_alpha * CF + (1 - rating_alpha) * LLM`` (the LLM's expected
        rating) for known users when an LLM is attached; ``1`` (default) uses CF alone.
    llm_candidates : int
        The LLM re-scores only the CF engine's best ``llm_candidates`` of the C candidates
        (0, the default: all C); the others count as the lowest score it gave, so they keep
        their CF order below the re-scored ones where CF agrees. Interactive use (the chat)
        sets a small value: each candidate costs one LLM prompt.
    cbf_candidates : int
        With a content source, each list's best items by content that the CF engine did not
        propose replace its last CF candidates (items nobody has chosen yet reach the
        fusion this way); 0: CF proposes every candidate.
    llm_explanations : bool
        Let the LLM write the explanations (checked fact by fact; the rendered facts when a
        text fails), or show the rendered facts without generating (``False``).
    session_alpha : float | None
        The CF share of the CF + LLM weight for sessions (liked titles, no user id), chosen
        on protocol S's valid sessions as :attr:`alpha` is on known users
        (:meth:`fusion_weights`); ``None``: sessions fuse as known users do. At 1 the LLM is
        not asked to rank sessions at all.
    session_fusion : str | None
        The fusion of :data:`FUSIONS` for sessions, chosen with ``session_alpha``;
        ``None``: sessions fuse as known users do (:attr:`fusion`).
    """

    n_candidates: int = 100
    weights: dict[str, float] = field(default_factory=lambda: {"cf": 1.0, "llm": 0.5, "cbf": 0.2})
    method: str = "weighted"
    normalisation: str = "zscore"
    tau: float = 2.0
    n_evidence: int = 3
    rating_weighting: bool = True
    cf: dict[str, Any] = field(default_factory=lambda: {"tau": 2.0, "window": 10})
    session_cf: dict[str, Any] | None = field(default_factory=lambda: dict(SESSION_CF))
    rating: dict[str, Any] = field(default_factory=lambda: {"model": "BiasBaseline"})
    rating_alpha: float = 1.0
    llm_candidates: int = 0
    llm_explanations: bool = True
    cbf_candidates: int = 10
    session_alpha: float | None = None
    session_fusion: str | None = None

    def __post_init__(self) -> None:
        if self.session_fusion is not None and self.session_fusion not in FUSIONS:
            raise ValueError(
                f"session_fusion must be one of {FUSIONS}, got {self.session_fusion!r}"
            )
        if self.session_alpha is not None and not 0.0 <= self.session_alpha <= 1.0:
            raise ValueError(f"session_alpha must be in [0, 1], got {self.session_alpha}")
        if self.cbf_candidates < 0:
            raise ValueError(f"cbf_candidates must be >= 0, got {self.cbf_candidates}")
        if self.llm_candidates < 0:
            raise ValueError(f"llm_candidates must be >= 0, got {self.llm_candidates}")
        if self.cf.get("model", CF_MODELS[0]) not in CF_MODELS:
            raise ValueError(f"cf model must be one of {CF_MODELS}, got {self.cf!r}")
        if self.session_cf is not None and self.session_cf.get("model") not in CF_MODELS:
            raise ValueError(
                f"session_cf model must be one of {CF_MODELS}, got {self.session_cf!r}"
            )
        if self.rating.get("model") not in RATING_MODELS:
            raise ValueError(f"rating model must be one of {RATING_MODELS}, got {self.rating!r}")
        if not 0.0 <= self.rating_alpha <= 1.0:
            raise ValueError(f"rating_alpha must be in [0, 1], got {self.rating_alpha}")

    @property
    def alpha(self) -> float:
        """The CF share of the CF + LLM weight, ``w_cf / (w_cf + w_llm)`` (1 when both are 0)."""
        cf, llm = self.weights.get("cf", 0.0), self.weights.get("llm", 0.0)
        return cf / (cf + llm) if cf + llm > 0 else 1.0

    def fusion_weights(self, alpha: float | None = None) -> dict[str, float]:
        """``weights`` with the CF / LLM balance set to ``alpha`` (``None``: as configured).

        The CF + LLM total is kept and split ``alpha : 1 - alpha``; other sources keep
        their weight, so ``fusion_weights(self.alpha) == weights``. With one weight for each
        of CF and LLM summing to 1 this is the seed's ``alpha * CF + (1 - alpha) * LLM``.
        """
        weights = dict(self.weights)
        if alpha is None:
            return weights
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        total = weights.get("cf", 0.0) + weights.get("llm", 0.0)
        total = total if total > 0 else 1.0
        weights["cf"], weights["llm"] = alpha * total, (1.0 - alpha) * total
        return weights

    def session_weights(self) -> dict[str, float]:
        """The fusion weights of sessions: ``fusion_weights(session_alpha)``."""
        return self.fusion_weights(self.session_alpha)

    @property
    def fusion(self) -> str:
        """The fusion choice of :data:`FUSIONS` this config uses."""
        return "rrf" if self.method == "rrf" else self.normalisation

    def fusion_method(self, session: bool = False) -> tuple[str, str]:
        """``(method, normalisation)`` of the native fusion for known users, or for
        sessions (``session_fusion`` when set)."""
        if not session or self.session_fusion is None:
            return self.method, self.normalisation
        if self.session_fusion == "rrf":
            return "rrf", self.normalisation
        return "weighted", self.session_fusion

    def with_fusion(
        self,
        alpha: float | None = None,
        fusion: str | None = None,
        rating_alpha: float | None = None,
    ) -> RecommenderConfig:
        """A copy with ``alpha * CF + (1 - alpha) * LLM`` ranking and/or rating blends.

        A given ``alpha`` or ``fusion`` sets known users and sessions alike (it clears
        ``session_alpha`` or ``session_fusion``).

        Parameters
        ----------
        alpha : float, optional
            CF share of the candidate fusion in [0, 1] (:meth:`fusion_weights`: the CF + LLM
            total is split ``alpha : 1 - alpha``; other sources keep their weights).
        fusion : {"zscore", "minmax", "rrf"}, optional
            Per-user normalisation of the weighted sum, or reciprocal-rank fusion.
        rating_alpha : float, optional
            CF weight of the rating blend (see the class attributes).
        """
        changes: dict[str, Any] = {}
        if alpha is not None:
            changes["weights"] = self.fusion_weights(float(alpha))
            changes["session_alpha"] = None
        if fusion is not None:
            if fusion not in FUSIONS:
                raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
            changes["session_fusion"] = None
            changes["method"] = "rrf" if fusion == "rrf" else "weighted"
            changes["normalisation"] = self.normalisation if fusion == "rrf" else fusion
        if rating_alpha is not None:
            changes["rating_alpha"] = float(rating_alpha)
        return dataclasses.replace(self, **changes)
