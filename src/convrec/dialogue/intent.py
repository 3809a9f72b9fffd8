"""Message -> Intent: what a chat message asks for (items, likes, constraints, questions)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from convrec.data.titles import TitleIndex
from convrec.dialogue import cues
from convrec.dialogue.constraints import (
    GENRE_SYNONYMS,
    NEGATOR,
    OLD,
    ClauseReader,
    Wishes,
    genre_pattern,
    negated_at,
)
from convrec.dialogue.cues import Act
from convrec.dialogue.mentions import Mentions, Unresolved
from convrec.dialogue.references import Context, find_pronoun, find_reference
from convrec.schema import ItemFilter

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000


ASKING = frozenset({Act.WHY, Act.RATE, Act.ABOUT})


@dataclass(frozen=True)
class Intent:
    """Everything one message says; item fields hold internal item indices.

    ``forget`` holds ``"genres"``, ``"years"`` or genre names taken back; ``additive`` says
    newer genres add to the earlier ones; ``small_talk`` names a message that is only chat
    (``"greeting"``, ``"thanks"``, ``"bye"``, ``"how"``, ``"who"``, ``"ack"``, ``"other"``);
    ``problems`` are references that could not be followed; ``retracted`` items were named by
    mistake ("I meant X, not Y": Y) and leave the likes, dislikes and seen items.
    """

    acts: tuple[Act, ...] = ()
    liked: tuple[int, ...] = ()
    disliked: tuple[int, ...] = ()
    seen: tuple[int, ...] = ()
    more_like: tuple[int, ...] = ()
    asked: tuple[int, ...] = ()
    constraints: ItemFilter = field(default_factory=ItemFilter)
    user: str | None = None
    domain: str | None = None
    k: int | None = None
    unresolved: tuple[Unresolved, ...] = ()
    forget: tuple[str, ...] = ()
    additive: bool = False
    small_talk: str | None = None
    problems: tuple[str, ...] = ()
    retracted: tuple[int, ...] = ()

    def has(self, act: Act) -> bool:
        return act in self.acts

    @property
    def wishes(self) -> Wishes:
        """The message's genre and era wishes, as :func:`constraints.revise` takes them."""
        return Wishes(self.constraints, self.forget, self.additive)


@dataclass
class _Clause:
    act: Act | None = None
    items: list[int] = field(default_factory=list)
    missing: list[Unresolved] = field(default_factory=list)
    rest: str = ""
    problem: str | None = None
    retracted: list[int] = field(default_factory=list)
    wishes: Wishes = field(default_factory=lambda: Wishes(ItemFilter()))


@dataclass
class IntentParser:
    """Parses messages against one domain's catalog.

    Parameters
    ----------
    titles
        The domain's :class:`TitleIndex`.
    genres
        The catalog's genre names (``"Sci-Fi"``, ``"Children's"``, ...).
    year_range
        ``(oldest, newest)`` release year in the catalog ("recent", "old" are relative to it).
    domains
        Domain names a user may switch to, each with the words that name it.
    describer
        Optional model of descriptive requests: clause text (titles removed) -> the
        :class:`ItemFilter` it describes ("something scary" -> Horror). It is asked when a
        clause requests something and the rules found no genre or era in it; its genres
        are excluded when the clause is negated ("nothing scary"). Parses are cached per
        parser (a chat replays its history every turn): set it when the parser is made.
    """

    titles: TitleIndex
    genres: Sequence[str]
    year_range: tuple[int, int] = (1900, 2030)
    domains: Mapping[str, Sequence[str]] = field(default_factory=dict)
    describer: Callable[[str], ItemFilter] | None = None
    _reader: ClauseReader = field(init=False, repr=False)
    _mentions: Mentions = field(init=False, repr=False)
    _cached: Callable[[str, Context], Intent] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words: list[tuple[re.Pattern[str], str]] = []
        for genre in self.genres:
            names = {genre.lower(), *GENRE_SYNONYMS.get(genre.lower(), ())}
            words += [(genre_pattern(w), genre) for w in names]
        words.sort(key=lambda pw: len(pw[0].pattern), reverse=True)
        years = getattr(self.titles, "years", np.zeros(0, np.int32))
        self._reader = ClauseReader(words, self.year_range, np.asarray(years))
        self._mentions = Mentions(self.titles, self._reader)
        self._cached = lru_cache(maxsize=512)(self._parse)

    def parse(self, message: str, context: Context | None = None) -> Intent:
        """The :class:`Intent` of one message (never raises on any string).

        ``context`` (the last list and the item last discussed) lets "the second one",
        "#3" or "it" name items.
        """
        return self._cached(
            " ".join(str(message)[:MAX_MESSAGE_CHARS].split()), context or Context()
        )

    def _parse(self, text: str, context: Context) -> Intent:
        low = text.lower()
        if not low or cues.HELP.match(low):
            return Intent(acts=(Act.HELP,))
        if cues.RESET.search(low):
            return Intent(acts=(Act.RESET,))
        greeting = cues.GREETING.match(text)
        if greeting is not None:  # "good morning :)" is a greeting, not the film
            if greeting.end() == len(text):
                return Intent(acts=(Act.CHAT,), small_talk=cues.small_talk(low))
            text = text[greeting.end() :]
        intent = Intent()
        acts: list[Act] = []
        user = cues.USER.search(text)
        if user is not None:
            intent = replace(intent, user=user.group(1))
            acts.append(Act.SET_USER)
            text = (text[: user.start()] + " " + text[user.end() :]).strip()
        domain = self._domain(text.lower())
        if domain is not None:
            name, span = domain
            intent = replace(intent, domain=name)
            acts.append(Act.DOMAIN)
            text = (text[: span[0]] + " " + text[span[1] :]).strip()
        text = cues.rewrite(text)
        low = text.lower()
        k = cues.list_length(low)
        if k is not None:
            intent = replace(intent, k=k)
        slots: dict[Act, list[int]] = {a: [] for a in Act}
        retracted: list[int] = []
        unresolved: dict[str, Unresolved] = {}
        problems: list[str] = []
        wishes = Wishes(ItemFilter())
        keep = [(m.start, m.end) for m in self.titles.spot(text, short=True)]
        for piece in cues.clauses(text, keep):
            clause = self._clause(piece, context)
            if clause.items:  # "I own the 2nd, skip it": "it" is the one just named
                context = replace(context, focus=clause.items[-1])
            if clause.act is not None:
                acts.append(clause.act)
                slots[clause.act] += clause.items
            retracted += clause.retracted
            for miss in clause.missing:
                unresolved.setdefault(" ".join(miss.text.lower().split()), miss)
            if clause.problem is not None and clause.problem not in problems:
                problems.append(clause.problem)
            wishes = _combine(wishes, clause.wishes)
        asking = ASKING & set(acts)
        if (cues.RECOMMEND.search(low) and not asking) or not wishes.constraints.empty:
            acts.append(Act.RECOMMEND)
        if slots[Act.MORE_LIKE] or (slots[Act.LIKE] and Act.WHY not in acts):
            acts.append(Act.RECOMMEND)
        if intent.k is not None and not asking:  # "make that 6"
            acts.append(Act.RECOMMEND)
        intent = replace(
            intent,
            acts=tuple(dict.fromkeys(acts)),
            liked=_unique(slots[Act.LIKE]),
            disliked=_unique(slots[Act.DISLIKE]),
            seen=_unique(slots[Act.SEEN]),
            more_like=_unique(slots[Act.MORE_LIKE]),
            asked=_unique(slots[Act.WHY] + slots[Act.RATE] + slots[Act.ABOUT]),
            constraints=wishes.constraints,
            forget=wishes.forget,
            additive=wishes.additive,
            unresolved=tuple(unresolved.values()),
            problems=tuple(problems),
            retracted=_unique(retracted),
        )
        if not _understood(intent):
            kind = cues.small_talk(low)
            intent = replace(intent, acts=(*intent.acts, Act.CHAT), small_talk=kind)
        return intent

    def _domain(self, low: str) -> tuple[str, tuple[int, int]] | None:
        """``(domain, span of the words naming it)`` for "switch to music" and the like."""
        for name, words in self.domains.items():
            for w in sorted({name, *words}, key=len, reverse=True):
                m = re.search(
                    rf"\b(?:switch|change|go|move|back|let'?s do)\b.*?\b{re.escape(w.lower())}\b",
                    low,
                )
                if m is not None:
                    return name, m.span()
        return None

    def _clause(self, clause: str, context: Context) -> _Clause:
        """One clause: its act, the items it names or refers to, mentions not found, wishes."""
        out = _Clause(rest=clause)
        placed: list[int] = []  # where each item was named, to keep the message's order
        for q in cues.QUOTED.finditer(clause):
            item, _ = self.titles.resolve(q.group(1) or q.group(2))
            if item is not None:
                out.items.append(item)
                placed.append(q.start())
                out.rest = out.rest[: q.start()] + " " * (q.end() - q.start()) + out.rest[q.end() :]
        first_at = len(clause)
        for match in self.titles.spot(out.rest, short=True):
            sequel = cues.SEQUEL.match(out.rest, match.end)
            if sequel is not None:  # "star wars episode 1" is another film than "Star Wars"
                other = out.rest[match.start : sequel.end()]
                found = self._mentions.sequel(other)  # "the godfather part 3": Part III
                out.rest = out.rest[: match.start] + " " * len(other) + out.rest[sequel.end() :]
                if found is None or found == match.item:
                    out.missing.append(Unresolved(" ".join(other.split()), ()))
                    continue
                match = replace(match, item=found, text=other, end=sequel.end())
            out.items.append(match.item)
            placed.append(match.start)
            first_at = min(first_at, match.start)
            out.rest = out.rest[: match.start] + " " * len(match.text) + out.rest[match.end :]
        act, cue, weak = cues.act_of(out.rest.lower())  # "I loved Hate": no cue in a title
        correction = cues.CORRECTION.search(out.rest.lower())
        if correction is not None and (act is None or weak):  # "sorry, I meant X, not Y"
            act, cue, weak = Act(context.act or Act.LIKE.value), correction, False
        if (
            (act is None or weak)
            and not out.items
            and not out.missing
            and find_reference(out.rest.lower(), context) is None
        ):
            # "also braveheart", "Monty Python Holy Grail!!!", "interstellar?": one title
            lone = self._mentions.lone(clause)
            if lone is not None:
                out.items, out.missing, out.rest = lone[0], lone[1], ""
                placed += [0] * len(out.items)
                act, cue, weak, first_at = None, None, False, 0
        low = out.rest.lower()
        if act is None and not out.items:  # "the fifth one?": a bare reference asks about it
            ref = find_reference(low, context, whole=False)
            if ref is not None and context.act is not None and cues.GO_ON.match(low):
                act = Act(context.act)  # "... was boring" then "and the last two"
            elif (
                ref is not None
                and len(ref.items) == 1
                and cues.lone_mention(low[: ref.span[0]] + low[ref.span[1] :]) == ""
            ):
                act = Act.ABOUT
        if act in (Act.LIKE, Act.DISLIKE, Act.SEEN) and cue is not None:
            # "fargo was great", "terminator 2 and aliens are my favourites", "gladiator was
            # epic": the titles before the cue, the sentence's subject
            subject = not cues.lone_mention(clause[:first_at]).strip() if out.items else True
            head_low = out.rest[: cue.start()].lower()
            if find_reference(head_low, context) is not None or NEGATOR.search(head_low):
                subject = False  # "the last two were great", "not a huge fan of"
            head, head_missing, head_used = self._mentions.find(
                out.rest[: cue.start()], False, report=False, subject=subject
            )
            for part, named in head_used:
                if named:
                    placed.append(out.rest.find(part))
                out.rest = out.rest.replace(part, " " * len(part), 1)
            out.items += head
            if cues.FILM_TALK.search(clause.lower()):
                out.missing += head_missing
            else:  # "the weather is great": the unknown subject is no title
                for part, named in head_used:
                    if not named:
                        out.rest = out.rest.replace(" " * len(part), part, 1)
            low = out.rest.lower()
        elif act is None and out.items and cue is None:
            # "e.t. and jurassic park, i grew up on those": titles listed with a named one
            more, _, used = self._mentions.find(out.rest, False, report=False, subject=True)
            for part, _named in used:
                placed.append(out.rest.find(part))
                out.rest = out.rest.replace(part, " " * len(part), 1)
            out.items += more
            low = out.rest.lower()
        if act is not None:
            tail_at = cue.end() if cue is not None else None
            ref = find_reference(low, context, tail_at=tail_at)
            if ref is not None and ref.problem is not None and ref.vague:
                ref = None  # "my kids loved them too" with no list: no reference meant
            if ref is None and not out.items:
                at = cue.start() if cue is not None else 0
                ref = find_pronoun(low[at:], context)
                if ref is not None:
                    ref = replace(ref, span=(ref.span[0] + at, ref.span[1] + at))
            if ref is not None:
                out.items += ref.items
                placed += [ref.span[0]] * len(ref.items)
                out.problem = ref.problem
                first_at = min(first_at, ref.span[0])
                a, b = ref.span
                out.rest = out.rest[:a] + " " * (b - a) + out.rest[b:]
                low = out.rest.lower()
        if cue is not None and act is not None:
            expects_item = act in ASKING and not out.items and out.problem is None
            tail = out.rest[cue.end() :]
            referred = ref is not None
            more, missing, used = self._mentions.find(tail, expects_item, report=not referred)
            out.items += more
            out.missing += [] if weak else missing
            for part, named in used:
                if named:
                    placed.append(cue.end() + tail.find(part))
                tail = tail.replace(part, " " * len(part), 1)
            out.rest = out.rest[: cue.end()] + tail
        if weak and not out.items:
            act = None  # "what's the weather", "what about comedies?"
        if act in ASKING and not out.items and not out.missing and out.problem is None:
            # a bare "why?" is about the top of the last list; "rate it?" the title discussed
            first = (context.last or (None,))[0]
            fallback = first if act == Act.WHY else context.focus
            fallback = first if fallback is None else fallback
            if fallback is not None:
                out.items.append(fallback)
                placed.append(0)
        if act is None and out.items and NEGATOR.search(low[:first_at]):
            act = Act.DISLIKE  # "not Alien", "no Scream please"
        if act is None and out.items and not cues.RECOMMEND.search(low[:first_at]):
            act = Act.LIKE  # "fargo, aladdin: my kids watch them every week", not "watch fargo?"
        out.act = act
        order = sorted(range(len(out.items)), key=lambda n: placed[n] if n < len(placed) else n)
        if correction is not None:  # "I meant X, not Y": Y was named by mistake
            wrong = {n for n in order if n < len(placed) and negated_at(low, placed[n])}
            out.retracted = [out.items[n] for n in order if n in wrong]
            order = [n for n in order if n not in wrong]
        out.items = [out.items[n] for n in order]
        low = out.rest.lower()
        if out.items and act in (Act.LIKE, Act.DISLIKE) and not cues.ASKS.search(low):
            low = OLD.sub(lambda m: " " * len(m.group()), low)  # "X and Y are classics"
        dislike_at = cue.start() if act == Act.DISLIKE and cue is not None else None
        out.wishes = self._reader.read(low, dislike_at)
        out.wishes = self._described(low, out, out.wishes, clause)
        return out

    def _described(self, low: str, clause: _Clause, wishes: Wishes, whole: str) -> Wishes:
        """The describer's genres and years for a request the rules found nothing in; a
        title in a request that uses none ("on the edge of my seat") is read as words."""
        c = wishes.constraints
        if (
            self.describer is None
            or not c.empty
            or wishes.forget
            or clause.act not in (None, Act.LIKE, Act.MORE_LIKE)
            or not cues.ASKS.search(low)
        ):
            return wishes
        text = " ".join((whole if clause.act is None else clause.rest).split())
        if not cues.content(text):
            return wishes
        try:
            found = self.describer(text)
        except Exception:  # a broken model must not cost the message
            log.exception("the describer failed on %r", text[:80])
            return wishes
        if not isinstance(found, ItemFilter):
            return wishes
        if NEGATOR.search(low):
            found = ItemFilter((), tuple(found.include_genres))
        return Wishes(found, wishes.forget, wishes.additive)


def _combine(a: Wishes, b: Wishes) -> Wishes:
    return Wishes(
        a.constraints.merge(b.constraints),
        tuple(dict.fromkeys((*a.forget, *b.forget))),
        a.additive or b.additive,
    )


def _understood(intent: Intent) -> bool:
    """Whether a message says anything the recommender can act on."""
    return bool(
        intent.liked or intent.disliked or intent.seen or intent.more_like or intent.asked
        or intent.retracted
        or intent.user is not None or intent.domain is not None or intent.k is not None
        or not intent.constraints.empty or intent.forget or intent.unresolved or intent.problems
        or ({Act.RECOMMEND, Act.HELP, Act.RESET} | ASKING) & set(intent.acts)
    )  # fmt: skip


def _unique(items: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(items))
