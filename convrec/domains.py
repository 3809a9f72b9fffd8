"""Chat domains: ``NAME=SPEC`` arguments -> one fitted Recommender per named domain."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convrec.recommender import Recommender

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def parse_domain(text: str) -> tuple[str, str]:
    """``"amazon-mi5=path/reviews.json.gz"`` -> ``("amazon-mi5", "path/reviews.json.gz")``.

    The name is letters, digits, ``-``, ``_`` and ``.`` (at most 64); the spec is what
    :func:`convrec.data.load_dataset` takes. Raises ``ValueError`` otherwise.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not spec or not _NAME.match(name):
        raise ValueError(
            f"--domain {text!r}: expected NAME=PATH, e.g. "
            "amazon-mi5=path/to/reviews_Musical_Instruments_5.json.gz"
        )
    return name, spec


def load_domain(name: str, spec: str, **options: Any) -> Recommender:
    """Load ``spec``, name it ``name`` and fit a :class:`~convrec.recommender.Recommender` on it.

    Review data without titles (Amazon reviews without ``meta``) gets names from its
    reviews (:func:`convrec.data.names.with_review_names`) so that its items can be
    talked about. ``options`` go to :func:`convrec.data.load_dataset`.
    """
    from convrec.data import load_dataset
    from convrec.data.names import with_review_names
    from convrec.recommender import Recommender

    data = with_review_names(load_dataset(spec, **options))
    return Recommender.build(replace(data, name=name))


def with_adapter(
    rec: Recommender, adapter: str | Path | None, llm_candidates: int = 20
) -> Recommender:
    """``rec`` with the LLM of a trained adapter directory (``convrec train --out DIR``) as
    its ``llm`` source, fitted on the same rows; ``rec`` itself when ``adapter`` is None.

    The LLM re-scores the CF engine's best ``llm_candidates`` (0: all of them; see
    :attr:`~convrec.recommender.RecommenderConfig.llm_candidates`): each costs one prompt.
    """
    if adapter is None:
        return rec
    from convrec.llm.model import LLMModel
    from convrec.recommender import Recommender

    if not (Path(adapter) / "convrec_config.json").is_file():
        raise ValueError(f"--adapter {adapter}: not an adapter directory (convrec train --out)")
    llm = LLMModel.from_pretrained(adapter).fit(rec.data, rec.rows)
    return Recommender(rec.data, rec.rows, rec.cf, rec.rating, cbf=rec.cbf, llm=llm,
                       config=replace(rec.config, llm_candidates=llm_candidates),
                       similarity=rec.similarity)  # fmt: skip


def load_domains(
    data: str = "ml-100k",
    extra: Sequence[str] = (),
    adapter: str | Path | None = None,
    llm_candidates: int = 20,
) -> dict[str, Recommender]:
    """The main domain ``data`` (named by its dataset, with the LLM of ``adapter`` when
    given) then each ``NAME=SPEC`` of ``extra``."""
    from convrec.data import load_dataset
    from convrec.data.names import with_review_names
    from convrec.recommender import Recommender

    main = with_review_names(load_dataset(data))
    out = {main.name: with_adapter(Recommender.build(main), adapter, llm_candidates)}
    for text in extra:
        name, spec = parse_domain(text)
        if name in out:
            raise ValueError(f"--domain {text!r}: a domain named {name!r} is already loaded")
        out[name] = load_domain(name, spec)
    return out
