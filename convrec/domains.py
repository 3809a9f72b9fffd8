"""Chat domains: ``NAME=SPEC`` arguments -> one fitted Recommender per named domain."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
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


def load_domains(data: str = "ml-100k", extra: Sequence[str] = ()) -> dict[str, Recommender]:
    """The main domain ``data`` (named by its dataset) then each ``NAME=SPEC`` of ``extra``."""
    from convrec.data import load_dataset
    from convrec.data.names import with_review_names
    from convrec.recommender import Recommender

    main = with_review_names(load_dataset(data))
    out = {main.name: Recommender.build(main)}
    for text in extra:
        name, spec = parse_domain(text)
        if name in out:
            raise ValueError(f"--domain {text!r}: a domain named {name!r} is already loaded")
        out[name] = load_domain(name, spec)
    return out
