"""The dialogue suite: conversations with behavioural expectations per user turn, and a runner
that drives :class:`convrec.Chat` turn by turn and checks them.

The suite lives in ``tests/dialogues/*.jsonl``, one conversation a line::

    {"id": "likes-03", "category": "likes",
     "turns": [{"user": "i loved the godfather", "expect": {"liked_contains": [...], "k": 5}}]}

Every expectation is checked from the turn's :class:`~convrec.dialogue.ChatReply` (its
``items``, its ``state``, and its text only through the few markers defined below) and the
Recommender's public API (``item_info`` for genres and years, ``titles.display``). Titles in
expectations are the catalogue's display titles ("Toy Story (1995)"); a title is *named* in a
reply when its display title without the year appears in the text, case-insensitively.

This module is imported by ``tests/test_dialogue_suite.py`` and ``benchmarks/bench_dialogue.py``;
it is not part of the ``convrec`` package, which must not depend on its tests.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

SUITE_DIR = Path(__file__).resolve().parents[1] / "tests" / "dialogues"

CATEGORIES = (
    "likes",  # likes by title: typos, articles, missing years, partial and abbreviated titles
    "dislikes",  # dislikes and negation
    "genres",  # genre requests, plain and descriptive
    "eras",  # eras and years
    "references",  # references to the last list ("the second one", "it")
    "length",  # list length
    "rating",  # rating questions, personal estimates
    "about",  # about-questions
    "unknown_titles",  # titles not in the catalogue
    "corrections",  # corrections and changes of mind
    "mixed",  # long mixed messages
    "smalltalk",  # chit-chat, thanks, greetings, nonsense
    "reset",  # starting over
)

# --- the text markers (the only things read from a reply's wording) ---------------------------
ERROR = re.compile(r"something went wrong|traceback|exception", re.I)
"""An internal failure shown to the user."""
NOT_UNDERSTOOD = re.compile(
    r"didn['’]?t (?:catch|understand|get) (?:that|it|you)|not sure what you mean"
    r"|i don['’]?t understand",
    re.I,
)
"""The fallback reply for a message the chat could not read."""
NOT_IN_CATALOGUE = re.compile(
    r"(?:is ?n['’]?t|is not|are ?n['’]?t|are not|not) (?:in|part of) (?:the|this|my|our) "
    r"catalog(?:ue)?",
    re.I,
)
"""Says a title is not in the catalogue ("The Matrix isn't in this catalogue")."""
ESTIMATE = re.compile(r"(?<![\d.])(?:[0-4](?:\.\d+)?|5(?:\.0+)?)\s*/\s*5\b")
"""A rating estimate on the 1-5 scale ("about 4.2/5")."""

# --- expectation keys -------------------------------------------------------------------------
ITEM_KEYS = {
    "lists": "bool: the reply lists items (or lists none)",
    "k": "int: exactly this many items are listed",
    "min_items": "int: at least this many items are listed",
    "genres_all": "[genre]: every listed item has every one of these genres",
    "genres_any": "[genre]: every listed item has at least one of these genres",
    "genres_none": "[genre]: no listed item has any of these genres",
    "years": "[lo|null, hi|null]: every listed item's year lies in this range",
    "never": "[title]: none of these is listed",
    "no_repeat_shown": "bool: no listed item was listed by an earlier reply",
    "excludes_state": "bool: no listed item is liked, disliked or seen in the state",
}
STATE_KEYS = {
    "liked_contains": "[title]: the state's likes hold each",
    "liked_none": "[title]: the state's likes hold none",
    "liked_count": "int: the state holds exactly this many likes",
    "disliked_contains": "[title]: the state's dislikes hold each",
    "disliked_none": "[title]: the state's dislikes hold none",
    "seen_contains": "[title]: the state's seen items hold each",
    "include_genres": "[genre]: the state's constraints include each genre",
    "include_none": "[genre]: the state's constraints include none of these",
    "exclude_genres": "[genre]: the state's constraints exclude each genre",
    "exclude_none": "[genre]: the state's constraints exclude none of these",
    "state_years": "[lo|null, hi|null]: the state's year range is exactly this",
    "state_k": "int|null: the state's list length",
    "user": "str: the state's user id",
    "state_unchanged": "bool: likes, dislikes, seen, constraints, k and user as before",
    "state_empty": "bool: no likes, dislikes, seen items, constraints or k",
}
TEXT_KEYS = {
    "ref": '{"position": n | "positions": [n..], "as": named|liked|disliked|seen}: the item(s) '
    "at that 1-based position (negative: from the end) of the last list; named: the reply names "
    "it before any other item of that list",
    "estimate": '{"title"?: title, "personal": bool}: an ESTIMATE is given (for the title); '
    "personal: it names a liked title or the user, not personal: it names neither",
    "about": "title: the reply names the title and its year",
    "mentions": "[title]: the reply names each",
    "not_in_catalogue": "str: NOT_IN_CATALOGUE is said and the mention is named (fuzzy)",
    "understood": "bool: the NOT_UNDERSTOOD fallback is absent (or present)",
    "max_chars": "int: the reply has at most this many characters",
    "no_error": "bool (default true): no ERROR marker, the turn did not raise",
    "no_repeated_line": "bool (default true): no non-empty line of the reply appears twice",
}
KNOWN_KEYS = {**ITEM_KEYS, **STATE_KEYS, **TEXT_KEYS}
TITLE_KEYS = ("never", "liked_contains", "liked_none", "disliked_contains", "disliked_none",
              "seen_contains", "mentions")  # fmt: skip
GENRE_KEYS = ("genres_all", "genres_any", "genres_none", "include_genres", "include_none",
              "exclude_genres", "exclude_none")  # fmt: skip
DEFAULTS = {"no_error": True, "no_repeated_line": True}


@dataclass(frozen=True)
class Turn:
    """One user message and what its reply must do."""

    user: str
    expect: dict[str, Any]


@dataclass(frozen=True)
class Conversation:
    """A scripted conversation of one category."""

    id: str
    category: str
    turns: tuple[Turn, ...]
    source: str = ""


@dataclass
class TurnResult:
    """The checks of one user turn: ``failures`` holds one reason per failed expectation."""

    conversation: str
    category: str
    index: int
    user: str
    failures: list[str] = field(default_factory=list)
    reply: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class SuiteResult:
    """Every turn's result, in suite order."""

    turns: list[TurnResult]

    @property
    def pass_rate(self) -> float:
        return sum(t.passed for t in self.turns) / max(1, len(self.turns))

    def by_category(self) -> dict[str, dict[str, float]]:
        """category -> ``{"turns", "passed", "pass_rate"}``."""
        groups: dict[str, list[TurnResult]] = defaultdict(list)
        for t in self.turns:
            groups[t.category].append(t)
        return {
            c: {"turns": len(g), "passed": sum(t.passed for t in g),
                "pass_rate": round(sum(t.passed for t in g) / len(g), 3)}
            for c, g in sorted(groups.items(), key=lambda kv: _order(kv[0]))
        }  # fmt: skip

    def failing(self) -> list[dict[str, Any]]:
        return [
            {"conversation": t.conversation, "turn": t.index, "user": t.user,
             "reasons": t.failures, "reply": t.reply[:300]}
            for t in self.turns if not t.passed
        ]  # fmt: skip


def _order(category: str) -> int:
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def load_suite(folder: Path = SUITE_DIR) -> list[Conversation]:
    """Every conversation of ``folder/*.jsonl``, files in name order."""
    out = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                turns = tuple(Turn(t["user"], dict(t.get("expect", {}))) for t in raw["turns"])
                out.append(Conversation(raw["id"], raw["category"], turns, f"{path.name}:{number}"))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path.name}:{number}: not a conversation ({error})") from None
    return out


def validate(
    conversations: Sequence[Conversation], titles: set[str], genres: set[str]
) -> list[str]:
    """Problems with the suite itself: unknown categories, keys, titles or genres, duplicates."""
    problems = []
    ids = [c.id for c in conversations]
    problems += [f"duplicate id {i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for c in conversations:
        if c.category not in CATEGORIES:
            problems.append(f"{c.id}: unknown category {c.category!r}")
        for n, turn in enumerate(c.turns, 1):
            where = f"{c.id} turn {n}"
            if not turn.user.strip():
                problems.append(f"{where}: empty message")
            for key, value in turn.expect.items():
                if key not in KNOWN_KEYS:
                    problems.append(f"{where}: unknown expectation {key!r}")
                named = list(value) if key in TITLE_KEYS else []
                if key in ("about",):
                    named = [value]
                if key == "estimate" and "title" in value:
                    named = [value["title"]]
                problems += [f"{where}: {t!r} is not a catalogue title" for t in named
                             if t not in titles]  # fmt: skip
                if key in GENRE_KEYS:
                    problems += [f"{where}: unknown genre {g!r}" for g in value if g not in genres]
    return problems


# --- running ----------------------------------------------------------------------------------


def run_suite(
    chat: Any,
    rec: Any,
    conversations: Iterable[Conversation],
    on_turn: Callable[[TurnResult], None] | None = None,
) -> SuiteResult:
    """Drive ``chat`` through each conversation (history in Gradio messages format) and check
    every turn's expectations against its reply and ``rec``'s public API."""
    results = []
    for conversation in conversations:
        history: list[dict[str, str]] = []
        lists: list[list[str]] = []  # item ids of each earlier reply that listed items
        previous_state = None
        for index, turn in enumerate(conversation.turns, 1):
            result = TurnResult(conversation.id, conversation.category, index, turn.user)
            try:
                reply = chat.respond(turn.user, history)
            except Exception as error:  # a turn that raises fails its checks, the suite goes on
                result.failures.append(f"raised {type(error).__name__}: {error}")
                results.append(result)
                history += [{"role": "user", "content": turn.user},
                            {"role": "assistant", "content": ""}]  # fmt: skip
                continue
            result.reply = reply.text
            expect = {**DEFAULTS, **turn.expect}
            result.failures = _check(expect, reply, rec, lists, previous_state)
            results.append(result)
            if on_turn is not None:
                on_turn(result)
            history += [{"role": "user", "content": turn.user},
                        {"role": "assistant", "content": reply.text}]  # fmt: skip
            if reply.items:
                lists.append([i.item_id for i in reply.items])
            previous_state = reply.state
    return SuiteResult(results)


def _name(title: str) -> str:
    """A display title without its trailing year, lower-cased."""
    return re.sub(r"\s*\(\d{4}\)\s*$", "", title).strip().lower()


def _names(text: str, title: str) -> int:
    """Where ``text`` names ``title`` as whole words (-1: nowhere; "Alien" is not in "Aliens")."""
    m = re.search(rf"(?<!\w){re.escape(_name(title))}(?!\w)", _flat(text))
    return -1 if m is None else m.start()


def _flat(text: str) -> str:
    return re.sub(r"[*_`]", "", text).lower()


def _titles(rec: Any, items: Iterable[int]) -> list[str]:
    return [rec.titles.display(i) for i in items]


def _check(
    expect: dict[str, Any], reply: Any, rec: Any, lists: list[list[str]], before: Any
) -> list[str]:
    fail: list[str] = []
    text, items, state = reply.text, list(reply.items), reply.state
    infos = [rec.item_info(i.item_id) for i in items]
    listed = [i.title for i in items]
    for key, want in expect.items():
        if key == "lists" and bool(items) != want:
            fail.append(
                f"lists: expected {'a list' if want else 'no list'}, got {len(items)} items"
            )
        elif key == "k" and len(items) != want:
            fail.append(f"k: expected {want} items, got {len(items)}")
        elif key == "min_items" and len(items) < want:
            fail.append(f"min_items: expected >= {want} items, got {len(items)}")
        elif key == "genres_all":
            bad = [i.title for i in infos if not set(want) <= set(i.genres)]
            if bad:
                fail.append(f"genres_all {want}: {bad[:3]} lack it")
        elif key == "genres_any":
            bad = [i.title for i in infos if not set(want) & set(i.genres)]
            if bad:
                fail.append(f"genres_any {want}: {bad[:3]} have none")
        elif key == "genres_none":
            bad = [i.title for i in infos if set(want) & set(i.genres)]
            if bad:
                fail.append(f"genres_none {want}: {bad[:3]} have one")
        elif key == "years":
            lo, hi = want
            bad = [i.title for i in infos if not _within(i.year, lo, hi)]
            if bad:
                fail.append(f"years {want}: {bad[:3]} outside")
        elif key == "never":
            bad = [t for t in want if t in listed]
            if bad:
                fail.append(f"never: {bad} listed")
        elif key == "no_repeat_shown" and want:
            earlier = {i for shown in lists for i in shown}
            bad = [i.title for i in items if i.item_id in earlier]
            if bad:
                fail.append(f"no_repeat_shown: {bad[:3]} listed before")
        elif key == "excludes_state" and want:
            held = set(_titles(rec, [*state.liked, *state.disliked, *state.seen]))
            bad = [t for t in listed if t in held]
            if bad:
                fail.append(f"excludes_state: {bad[:3]} are liked, disliked or seen")
        elif key in STATE_KEYS:
            fail += _check_state(key, want, state, before, rec)
        else:
            fail += _check_text(key, want, text, state, rec, lists)
    return fail


def _within(year: int | None, lo: int | None, hi: int | None) -> bool:
    return year is not None and (lo is None or year >= lo) and (hi is None or year <= hi)


def _check_state(key: str, want: Any, state: Any, before: Any, rec: Any) -> list[str]:
    liked, disliked = _titles(rec, state.liked), _titles(rec, state.disliked)
    c = state.constraints
    if key == "liked_contains" and not set(want) <= set(liked):
        return [f"liked_contains: {sorted(set(want) - set(liked))} missing from {liked}"]
    if key == "liked_none" and set(want) & set(liked):
        return [f"liked_none: {sorted(set(want) & set(liked))} liked"]
    if key == "liked_count" and len(liked) != want:
        return [f"liked_count: expected {want}, got {liked}"]
    if key == "disliked_contains" and not set(want) <= set(disliked):
        return [f"disliked_contains: {sorted(set(want) - set(disliked))} missing from {disliked}"]
    if key == "disliked_none" and set(want) & set(disliked):
        return [f"disliked_none: {sorted(set(want) & set(disliked))} disliked"]
    if key == "seen_contains" and not set(want) <= set(_titles(rec, state.seen)):
        return [f"seen_contains: {want} not all in {_titles(rec, state.seen)}"]
    if key == "include_genres" and not set(want) <= set(c.include_genres):
        return [f"include_genres: {want} not all in {list(c.include_genres)}"]
    if key == "include_none" and set(want) & set(c.include_genres):
        return [f"include_none: {want} in {list(c.include_genres)}"]
    if key == "exclude_genres" and not set(want) <= set(c.exclude_genres):
        return [f"exclude_genres: {want} not all in {list(c.exclude_genres)}"]
    if key == "exclude_none" and set(want) & set(c.exclude_genres):
        return [f"exclude_none: {want} in {list(c.exclude_genres)}"]
    if key == "state_years" and [c.year_min, c.year_max] != list(want):
        return [f"state_years: expected {want}, got {[c.year_min, c.year_max]}"]
    if key == "state_k" and state.k != want:
        return [f"state_k: expected {want}, got {state.k}"]
    if key == "user" and state.user != want:
        return [f"user: expected {want}, got {state.user}"]
    if key == "state_unchanged" and want and before is not None and _core(state) != _core(before):
        return [f"state_unchanged: {_core(before)} -> {_core(state)}"]
    if key == "state_empty" and want and _core(state)[:5] != ((), (), (), _core_empty(), None):
        return [f"state_empty: {_core(state)}"]
    return []


def _core(state: Any) -> tuple[Any, ...]:
    c = state.constraints
    filters = (tuple(c.include_genres), tuple(c.exclude_genres), c.year_min, c.year_max)
    return (tuple(state.liked), tuple(state.disliked), tuple(state.seen), filters, state.k,
            state.user)  # fmt: skip


def _core_empty() -> tuple[Any, ...]:
    return ((), (), None, None)


def _check_text(
    key: str, want: Any, text: str, state: Any, rec: Any, lists: list[list[str]]
) -> list[str]:
    if key == "no_error" and want and ERROR.search(text):
        return ["no_error: the reply reports an error"]
    if key == "no_repeated_line" and want:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        repeated = sorted({ln for ln in lines if lines.count(ln) > 1})
        if repeated:
            return [f"no_repeated_line: {repeated[0][:80]!r} repeats"]
    if key == "understood" and bool(NOT_UNDERSTOOD.search(text)) == bool(want):
        return [f"understood: expected {'no ' if want else ''}fallback reply"]
    if key == "max_chars" and len(text) > want:
        return [f"max_chars: {len(text)} > {want}"]
    if key == "mentions":
        missing = [t for t in want if _names(text, t) < 0]
        if missing:
            return [f"mentions: {missing} not named"]
    if key == "about":
        year = re.search(r"\((\d{4})\)\s*$", want)
        if _names(text, want) < 0 or (year and year.group(1) not in text):
            return [f"about: {want} and its year not named"]
    if key == "not_in_catalogue":
        mention = want.lower()
        if not NOT_IN_CATALOGUE.search(text):
            return [f"not_in_catalogue: no 'not in the catalogue' line for {want!r}"]
        if mention not in _flat(text) and fuzz.partial_ratio(mention, _flat(text)) < 80:
            return [f"not_in_catalogue: {want!r} not named"]
    if key == "estimate":
        return _check_estimate(want, text, state, rec)
    if key == "ref":
        return _check_ref(want, text, state, rec, lists)
    return []


def _check_estimate(want: dict[str, Any], text: str, state: Any, rec: Any) -> list[str]:
    fail = []
    if not ESTIMATE.search(text):
        fail.append("estimate: no N/5 estimate given")
    if "title" in want and _names(text, want["title"]) < 0:
        fail.append(f"estimate: {want['title']} not named")
    if "personal" in want:
        basis = [t for t in _titles(rec, state.liked) if t != want.get("title")]
        personal = any(_names(text, t) >= 0 for t in basis) or (
            state.user is not None and f"user {state.user}".lower() in _flat(text)
        )
        if personal != want["personal"]:
            fail.append(f"estimate: expected {'a' if want['personal'] else 'no'} personal basis")
    return fail


def _check_ref(
    want: dict[str, Any], text: str, state: Any, rec: Any, lists: list[list[str]]
) -> list[str]:
    if not lists:
        return ["ref: no earlier list to refer to"]
    last = lists[-1]
    positions = want.get("positions") or [want["position"]]
    try:
        targets = [last[p - 1] if p > 0 else last[p] for p in positions]
    except IndexError:
        return [f"ref: the last list has only {len(last)} items"]
    titles = [rec.item_info(i).title for i in targets]
    how = want.get("as", "named")
    if how == "named":
        found = {t: _names(text, t) for t in (rec.item_info(i).title for i in last)}
        for title in titles:
            if found[title] < 0:
                return [f"ref: {title} not named"]
        first = min((at, t) for t, at in found.items() if at >= 0)[1]
        if first not in titles:
            return [f"ref: {first} named before {titles}"]
        return []
    held = {"liked": state.liked, "disliked": state.disliked, "seen": state.seen}.get(how)
    if held is None:
        return [f"ref: unknown 'as' {how!r}"]
    missing = [t for t in titles if t not in _titles(rec, held)]
    return [f"ref: {missing} not {how}"] if missing else []
