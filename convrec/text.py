"""Text clean-up shared by generation and display: the spacing a word-piece detokeniser leaves."""

from __future__ import annotations

import re

_CONTRACTION = re.compile(r"\s*'\s*(s|t|re|ve|ll|d|m)\b")
_BEFORE_PUNCT = re.compile(r"\s+([.,:;!?)])")
_AFTER_PAREN = re.compile(r"\(\s+")


def tidy_text(text: str) -> str:
    """Undo a word-piece detokeniser's spacing.

    ``"it ' s great ."`` -> ``"it's great."``; ``"alien ( 1979 )"`` -> ``"alien (1979)"``.
    """
    text = _CONTRACTION.sub(r"'\1", text)
    return _AFTER_PAREN.sub("(", _BEFORE_PUNCT.sub(r"\1", text)).strip()
