"""References to the conversation: positions in the last list ("the second one", "#3", "the
first two", "the last one", "all of them") and "it" / "that one" for the item last discussed."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "a couple": 2, "both": 2,
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "top": 1, "last": -1, "final": -1, "bottom": -1,
    "penultimate": -2, "second to last": -2, "second last": -2, "next to last": -2,
}  # fmt: skip
_ORD = (
    r"(second[- ]to[- ]last|second[- ]last|next[- ]to[- ]last|penultimate|first|second|third"
    r"|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final|top|bottom|\d{1,2}(?:st|nd|rd|th))"
)
_NOUN = r"(?:one|ones|movie|film|title|pick|suggestion|item|entry|option|recommendation)s?"
_COUNT = r"(two|three|four|five|six|seven|eight|nine|ten|\d{1,2})"
_RANGE = re.compile(rf"\b(?:the\s+)?(first|top|last|bottom)\s+{_COUNT}\b(?:\s+{_NOUN}|\s+of them)?")
_NUMBERED = re.compile(
    r"(?:#|\b(?:numbers?|nos?\.?|num|nr|items?|picks?|options?|entries|entry|titles?)\s*#?)"
    r"\s*(\d{1,2}(?:\s*(?:,|and|&|or|\+)\s*#?\s*\d{1,2})*)\b"
)
# what may follow "the second" when it is a reference ("the second was boring"); any other
# word makes it part of a title ("the sixth sense", "the fifth element")
_AFTER_ORDINAL = (
    rf"(?:{_NOUN}|is|was|looks?|looked|sounds?|seems?|please|pls|and|or|too|then|again|on|in"
    r"|from|you|u|there|i|with|because|though|but|would|will|could|might|should|has|had|did"
    r"|does|gets?|got|it|one's|isn't|wasn't|sucked|rocks?|so|as|also|seen|already|plz|thanks?)"
)
_ORDINAL = re.compile(
    rf"\b(?:the\s+|that\s+|your\s+)?{_ORD}(?:\s+{_NOUN}|\s+(?:on|in) the list)\b"
    rf"|\bthe\s+{_ORD}\b(?!\s+(?:time|place|thing|of\b))(?!\s+(?!{_AFTER_ORDINAL}\b)[a-z])"
)
_ALL = re.compile(
    r"\b(?:all (?:of )?(?:them|those|these|the above|five|three|ten|\d+)|them all|those all"
    r"|every (?:one|single one) of them|(?:all )?the (?:whole|entire) list|each of them"
    r"|both(?: of them)?)\b|\b(?:them|those|these)\b(?!\s+(?:who|that|which|are|with)\b)"
)
_PRONOUN = re.compile(
    r"\b(?:(?:that|this|the) (?:one|movie|film|title|pick)|that|this|it)\b(?!\s*'?s\b)"
    r"(?!\s+(?:is|was|one is|kind|type|sort|genre|era)\b)"
)


@dataclass(frozen=True)
class Context:
    """What earlier turns make referable: the last list shown, in order, the item last
    discussed (asked about or named), as internal item indices, and what the last message
    did with the titles it named (``"like"``, ``"dislike"``, ``"seen"``; "and the last two"
    does the same)."""

    last: tuple[int, ...] = ()
    focus: int | None = None
    act: str | None = None


@dataclass(frozen=True)
class Reference:
    """Items a clause refers to, the span of text that referred to them, and a problem to
    report instead when the reference cannot be followed ("there is no list yet")."""

    items: tuple[int, ...]
    span: tuple[int, int]
    problem: str | None = None
    vague: bool = False  # "them", "those": may mean something other than the list


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def _ordinal(word: str) -> int:
    word = word.replace("-", " ")
    return int(word[:-2]) if word[:1].isdigit() else _ORDINALS[word]


def _positions(low: str, whole: bool) -> tuple[list[int], tuple[int, int]] | None:
    """1-based positions (negative: from the end; 0: the whole list) a clause names, and where."""
    m = _RANGE.search(low)
    bare = m is not None and m.group(1) in ("top", "bottom") and not m.group().startswith("the")
    if m is not None and bare and m.end() == m.end(2):  # a bare "top 10" asks for a length
        m = None
    if m is not None:
        n = _count(m.group(2))
        if m.group(1) in ("first", "top"):
            return list(range(1, n + 1)), m.span()
        return list(range(-n, 0)), m.span()
    m = _NUMBERED.search(low)
    if m is not None:
        return [int(d) for d in re.findall(r"\d+", m.group(1))], m.span()
    found = list(_ORDINAL.finditer(low))
    if found:
        positions = [_ordinal(next(g for g in f.groups() if g)) for f in found]
        return positions, (found[0].start(), found[-1].end())
    if whole:
        m = _ALL.search(low)
        if m is not None:
            both = m.group().startswith("both")
            return ([1, 2] if both else [0]), m.span()
    return None


_BARE = re.compile(r"\W*(?:the\s+)?(\d{1,2}(?:\s*(?:,|and|&|or)\s*\d{1,2})*)\W*$")


def find_reference(
    low: str, context: Context, whole: bool = True, tail_at: int | None = None
) -> Reference | None:
    """The reference to the last list in a lower-cased clause, if any.

    ``whole``: "them", "all of them" may name the whole list (clauses with a like, dislike,
    seen or question cue). ``tail_at``: where the words after the clause's cue start; when
    they are only numbers ("I've seen 1 and 3", "why 2?") those are positions.
    """
    found = _positions(low, whole)
    if found is None and tail_at is not None and context.last:
        m = _BARE.match(low, tail_at)
        if m is not None:
            found = [int(d) for d in re.findall(r"\d+", m.group(1))], (tail_at, len(low))
    if found is None:
        return None
    positions, span = found
    last = context.last
    said = low[span[0] : span[1]]
    if re.match(r"(?:the\s+)?(?:top|bottom)\b", said) and len(positions) > len(last):
        return None  # "the top 10" with no list that long: a list length, not a reference
    vague = positions == [0] and low[span[0] : span[1]] in ("them", "those", "these")
    if not last:
        return Reference((), span, "there is no list yet to pick from", vague)
    if positions == [0]:
        return Reference(last, span)
    items: list[int] = []
    for p in positions:
        if p == 0 or abs(p) > len(last) or (p > 0 and p > len(last)):
            n = len(last)
            return Reference((), span, f"the last list has only {n} title{'s' * (n != 1)}")
        items.append(last[p - 1] if p > 0 else last[p])
    return Reference(tuple(dict.fromkeys(items)), span)


def find_pronoun(low: str, context: Context) -> Reference | None:
    """ "it" / "that one" / "this": the item last discussed, else the top of the last list."""
    m = _PRONOUN.search(low)
    if m is None:
        return None
    item = context.focus if context.focus is not None else (context.last or (None,))[0]
    if item is None:
        return Reference((), m.span(), "I'm not sure which title you mean")
    return Reference((item,), m.span())
