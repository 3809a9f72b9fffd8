"""Chat domains: ``NAME=SPEC`` arguments -> one fitted Recommender per named domain."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convrec.data.dataset import Dataset
    from convrec.llm.bank import AdapterBank
    from convrec.recommender.core import Recommender

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def parse_domain(
    text: str,
    flag: str = "--domain",
    example: str = "amazon-mi5=path/to/reviews_Musical_Instruments_5.json.gz",
) -> tuple[str, str]:
    """``"amazon-mi5=path/reviews.json.gz"`` -> ``("amazon-mi5", "path/reviews.json.gz")``.

    The name is letters, digits, ``-``, ``_`` and ``.`` (at most 64); the spec is what
    :func:`convrec.data.load_dataset` takes (or, for ``--domain-adapter``, an adapter).
    Raises ``ValueError`` naming ``flag`` otherwise.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not spec or not _NAME.match(name):
        raise ValueError(f"{flag} {text!r}: expected NAME=PATH, e.g. {example}")
    return name, spec


def load_domain(name: str, spec: str, content: bool = True, **options: Any) -> Recommender:
    """Load ``spec``, name it ``name`` and fit a :class:`~convrec.recommender.Recommender` on it.

    Review data without titles (Amazon reviews without ``meta``) gets names from its
    reviews (:func:`convrec.data.names.with_review_names`) so that its items can be
    talked about. With ``content`` the recommender carries a content source
    (:func:`~convrec.recommender.content.content_source`). ``options`` go to
    :func:`convrec.data.load_dataset`.
    """
    from convrec.data import load_dataset
    from convrec.data.names import with_review_names

    data = with_review_names(load_dataset(spec, **options))
    return fitted(replace(data, name=name), content)


def fitted(data: Dataset, content: bool = True) -> Recommender:
    """:meth:`Recommender.build <convrec.recommender.Recommender.build>` on every row of
    ``data``, with a content source when ``content`` (and the encoder is installed)."""
    from convrec.recommender.content import content_source
    from convrec.recommender.core import Recommender

    return Recommender.build(data, cbf=content_source(data) if content else None)


def with_adapter(
    rec: Recommender,
    adapter: str | Path | None,
    llm_candidates: int | None = None,
    bank: AdapterBank | None = None,
) -> Recommender:
    """``rec`` with the LLM of a trained adapter directory (``convrec train --out DIR``) or a
    shipped adapter's name as its ``llm`` source, fitted on the same rows; ``rec`` itself
    when ``adapter`` is None or ``"none"``.

    The LLM re-scores the CF engine's best ``llm_candidates`` (0: all of them; see
    :attr:`~convrec.recommender.RecommenderConfig.llm_candidates`): each costs one prompt.
    An adapter exported with a fusion (:func:`convrec.llm.shipped.export_adapter`, as the
    shipped ones are) brings its validated ``alpha``, fusion and rating blend, and its
    ``llm_candidates`` unless one is given; otherwise 20 and ``rec``'s own fusion. With a
    ``bank`` the adapter joins its shared backbone, named after ``rec``'s dataset.
    """
    if adapter is not None:  # a shipped adapter's name -> its directory; "none" -> None
        adapter = resolve_adapter(rec.data.name, adapter)
    if adapter is None:
        return rec
    return rec.with_adapter(adapter, llm_candidates, bank)


def resolve_adapter(name: str | None, adapter: str | Path | None) -> str | Path | None:
    """The adapter for a domain named ``name``: none for ``"none"``; a directory as given; a
    shipped adapter's name (``"ml-100k"``) its directory; and when ``adapter`` is None the
    shipped adapter named ``name`` (:mod:`convrec.llm.shipped`), if there is one."""
    from convrec.llm.shipped import shipped_adapter

    if adapter is None:
        return None if name is None else shipped_adapter(name)
    if str(adapter) == "none":
        return None
    shipped = None if Path(adapter).exists() else shipped_adapter(str(adapter))
    return adapter if shipped is None else shipped


def load_domains(
    data: str = "ml-100k",
    extra: Sequence[str] = (),
    adapter: str | Path | None = None,
    llm_candidates: int | None = None,
    domain_adapters: Sequence[str] = (),
    content: bool = True,
) -> dict[str, Recommender]:
    """The main domain ``data`` (named by its dataset) then each ``NAME=SPEC`` of ``extra``.

    The main domain gets the LLM of ``adapter``, an extra domain that of its
    ``NAME=ADAPTER`` in ``domain_adapters``; one without either gets the shipped adapter of
    its name (``ml-100k``, ``amazon-mi5``) if there is one; ``"none"`` means no LLM
    (:func:`resolve_adapter`). When several domains have adapters they share one backbone
    (:class:`~convrec.llm.bank.AdapterBank`), each call selecting its domain's adapter.
    ``content``: each domain carries a content source (:func:`fitted`).
    """
    from convrec.data import load_dataset
    from convrec.data.names import with_review_names

    main = with_review_names(load_dataset(data))
    recs = {main.name: fitted(main, content)}
    for text in extra:
        name, spec = parse_domain(text)
        if name in recs:
            raise ValueError(f"--domain {text!r}: a domain named {name!r} is already loaded")
        recs[name] = load_domain(name, spec, content)
    given: dict[str, str | Path | None] = {main.name: adapter}
    for text in domain_adapters:
        name, spec = parse_domain(text, "--domain-adapter", "amazon-mi5=path/to/adapter")
        if name not in recs or name == main.name:
            raise ValueError(
                f"--domain-adapter {text!r}: no extra domain named {name!r} "
                f"(extra domains: {', '.join(n for n in recs if n != main.name) or 'none'})"
            )
        given[name] = spec
    adapters = {name: resolve_adapter(name, given.get(name)) for name in recs}
    bank = None
    if sum(a is not None for a in adapters.values()) > 1:
        from convrec.llm.bank import AdapterBank  # torch: only when adapters are loaded

        bank = AdapterBank()
    candidates = {name: llm_candidates if name == main.name else None for name in recs}
    return {
        name: with_adapter(rec, adapters[name], candidates[name], bank)
        for name, rec in recs.items()
    }
