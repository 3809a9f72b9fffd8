"""Chat turns: history + message -> DialogueState -> Recommender calls -> a ChatReply."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from convrec.dialogue.intent import MAX_MESSAGE_CHARS, Act, Constraints, Intent, IntentParser
from convrec.dialogue.state import DialogueState, item_line
from convrec.explanations import template_explanation
from convrec.schema import ScoredItem

if TYPE_CHECKING:
    from convrec.pipeline import Recommender

log = logging.getLogger(__name__)

DEFAULT_K = 5
MAX_ASKED = 3

HELP_TEXT = (
    "I recommend movies from what you tell me. Try:\n"
    "- *I loved Star Wars and Fargo* (or *I'm user 42* to use a known user's ratings)\n"
    "- *only comedies from the 90s*, *no horror*, *top 3*\n"
    "- *why Return of the Jedi?* / *how would I rate Heat?* / *tell me about Toy Story*\n"
    "- *I hated Toy Story*, *I've already seen Fargo*, *show them again*\n"
    "- *reset* to start over"
)

# names of domains a user may ask for, loaded or not (a domain not loaded gets a clear answer)
DOMAIN_WORDS: dict[str, tuple[str, ...]] = {
    "ml-100k": ("movies", "movie", "films", "film", "movielens"),
    "amazon-mi5": ("musical instruments", "instruments", "music", "amazon"),
}
_NOT_LOADED_WHY = {
    "amazon-mi5": "its items have no titles to talk about, so the chat app does not load it",
}
_SWITCH = r"\b(?:switch|change|go|move|back|let'?s do)\b.*?\b{}\b"
_AGAIN = re.compile(r"\b(?:again|repeat|same (?:list|ones)|include (?:shown|seen))\b", re.I)
_RATING_SUFFIX = re.compile(r"\s*Predicted rating: [\d.]+/5\.\s*$")


@dataclass
class ChatReply:
    """One assistant turn.

    Attributes
    ----------
    text : str
        Markdown reply; ranked lines start with :func:`~convrec.dialogue.item_line`.
    items : list[ScoredItem]
        The items listed in ``text``, in order (empty when none were listed).
    state : DialogueState
        The conversation state after this message.
    """

    text: str
    items: list[ScoredItem]
    state: DialogueState


@dataclass
class Chat:
    """Answers chat messages over one or more loaded domains (no state kept between calls).

    Parameters
    ----------
    recommenders
        Loaded domain name -> :class:`~convrec.pipeline.Recommender`.
    default
        The domain a conversation starts in (default: the first one).
    domain_words
        Words naming each domain, loaded or not ("switch to music").
    """

    recommenders: Mapping[str, Recommender]
    default: str | None = None
    domain_words: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(DOMAIN_WORDS))
    parsers: dict[str, IntentParser] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.recommenders:
            raise ValueError("Chat needs at least one loaded domain")
        if self.default is None:
            self.default = next(iter(self.recommenders))
        if self.default not in self.recommenders:
            raise ValueError(f"default domain {self.default!r} is not loaded")
        loaded = {n: tuple(self.domain_words.get(n, ())) for n in self.recommenders}
        self.parsers = {}
        for name, rec in self.recommenders.items():
            years = rec.data.catalog.year
            known = years[years > 0]
            span = (int(known.min()), int(known.max())) if len(known) else (1900, 2030)
            genres = sorted({g for gs in rec.data.catalog.genres for g in gs if g != "unknown"})
            self.parsers[name] = IntentParser(rec.titles, genres, span, loaded)

    # ------------------------------------------------------------------ entry point

    def respond(self, message: Any, history: Sequence[Any] | None = None) -> ChatReply:
        """The reply to ``message`` after ``history`` (Gradio messages or pairs); never raises."""
        assert self.default is not None
        try:
            state = DialogueState.from_history(history or [], self.parsers, self.default)
        except Exception:  # a malformed history must not end the conversation
            log.exception("could not replay the chat history")
            state = DialogueState(self.default)
        try:
            return self._turn(message if isinstance(message, str) else str(message or ""), state)
        except Exception:
            log.exception("chat turn failed")
            return ChatReply(
                "Sorry, something went wrong on my side with that message. "
                "Could you rephrase it? (type *help* for examples)",
                [],
                state,
            )

    # ------------------------------------------------------------------ one turn

    def _turn(self, message: str, state: DialogueState) -> ChatReply:
        text = message[:MAX_MESSAGE_CHARS]
        notes: list[str] = []
        if len(message) > MAX_MESSAGE_CHARS:
            notes.append(f"(I only read the first {MAX_MESSAGE_CHARS} characters.)")
        elsewhere = self._unloaded_domain(text)
        if elsewhere is not None:
            why = _NOT_LOADED_WHY.get(elsewhere, "it is not loaded in this app")
            return ChatReply(
                f"The **{elsewhere}** domain is not available here: {why}. "
                f"We are still on **{state.domain}** (loaded: {', '.join(self.recommenders)}).",
                [],
                state,
            )
        intent = self.parsers[state.domain].parse(text)
        previous_domain = state.domain
        state.apply(intent)
        rec = self.recommenders[state.domain]
        if intent.has(Act.RESET):
            reset = "Starting over: I've forgotten your likes and dislikes.\n\n"
            return ChatReply(reset + HELP_TEXT, [], state)
        if intent.has(Act.HELP):
            return ChatReply(HELP_TEXT, [], state)
        if state.domain != previous_domain:
            notes.append(f"Switched to **{state.domain}**; tell me what you like there.")
        user = self._user(rec, state, intent, notes)
        notes += self._did_you_mean(rec, intent)
        parts: list[str] = []
        items: list[ScoredItem] = []
        for item in intent.asked[:MAX_ASKED]:
            if intent.has(Act.WHY):
                parts.append(self._why(rec, state, user, item))
            elif intent.has(Act.RATE):
                parts.append(self._rate(rec, state, user, item))
            elif intent.has(Act.ABOUT):
                text_about, similar = self._about(rec, state, user, item, 1 + len(items))
                parts.append(text_about)
                items += similar
        asking = {Act.WHY, Act.RATE, Act.ABOUT} & set(intent.acts)
        if asking and not intent.asked and not intent.unresolved:
            parts.append("Which title do you mean? For example: *why Fargo?*")
        changed = bool(
            intent.liked or intent.disliked or intent.seen or intent.more_like
            or intent.user is not None or intent.k is not None or not intent.constraints.empty
        )  # fmt: skip
        notes += _acknowledge(rec, intent)
        again = bool(_AGAIN.search(text))
        if intent.has(Act.RECOMMEND) or (changed and not asking) or (again and not asking):
            head, listed = self._recommend(rec, state, user, again, start=1 + len(items))
            parts.append(head)
            items += listed
        if not parts and not notes:
            parts.append("I didn't catch that.\n\n" + HELP_TEXT)
        return ChatReply("\n\n".join([*notes, *parts]).strip(), items, state)

    def _unloaded_domain(self, text: str) -> str | None:
        low = text.lower()
        for name, words in self.domain_words.items():
            if name in self.recommenders:
                continue
            for w in sorted({name, *words}, key=len, reverse=True):
                if re.search(_SWITCH.format(re.escape(w.lower())), low):
                    return name
        return None

    @staticmethod
    def _user(
        rec: Recommender, state: DialogueState, intent: Intent, notes: list[str]
    ) -> str | None:
        """The state's user when the domain knows it (a note when it was just set)."""
        if state.user is None:
            return None
        if state.user in rec.data.users:
            if intent.user is not None:
                n = _user_count(rec, state.user)
                notes.append(f"Hello, user {state.user}: I'll use your {n} ratings.")
            return state.user
        if intent.user is not None:
            ids = rec.data.users.external
            notes.append(
                f"I don't know user {state.user} in {state.domain} (ids look like "
                f"{', '.join(ids[:3])} ... {ids[-1]}); I'll go on with this chat's likes only."
            )
        return None

    @staticmethod
    def _did_you_mean(rec: Recommender, intent: Intent) -> list[str]:
        out = []
        for miss in intent.unresolved:
            if miss.suggestions:
                options = " or ".join(f"*{rec.titles.display(s)}*" for s in miss.suggestions[:3])
                out.append(f"I couldn't find “{miss.text}”. Did you mean {options}?")
            else:
                out.append(f"I couldn't find “{miss.text}” in {rec.data.name}.")
        return out

    # ------------------------------------------------------------------ answers

    def _recommend(
        self, rec: Recommender, state: DialogueState, user: str | None, again: bool, start: int
    ) -> tuple[str, list[ScoredItem]]:
        """Top-k for the state; shown items come back only when asked ``again``."""
        k = state.k or DEFAULT_K
        blocked = set(state.liked) | set(state.disliked) | set(state.seen)
        if not again:
            blocked |= set(state.shown)
        blocked_titles = {rec.titles.display(i) for i in blocked}
        history = [rec.data.items.external[i] for i in state.liked]
        constraints = state.constraints
        filters = None if constraints.empty else constraints
        extra = len(blocked_titles) + 10 + 10 * len(state.disliked)
        if user is None and not history:
            listed = _popular(rec, constraints, blocked, k + extra)
            lead = "The most popular picks" + _describe(constraints)
        else:
            exclude = [rec.data.items.external[i] for i in blocked]
            result = rec.recommend(
                user=user, history=history, k=k + extra, filters=filters, exclude=exclude
            )
            listed = list(result.items)
            lead = _lead(rec, state, user) + _describe(constraints)
        listed = _drop_close_to_disliked(rec, listed, state, k)
        shown: list[ScoredItem] = []
        for item in listed:
            if item.title not in blocked_titles and all(item.title != s.title for s in shown):
                shown.append(item)
            if len(shown) == k:
                break
        if not shown:
            return (
                lead + ": nothing left that fits. Try loosening the genres or years, or *reset*.",
                [],
            )
        lines = [_line(start + r, s) for r, s in enumerate(shown)]
        return lead + ":\n" + "\n".join(lines), shown

    def _why(self, rec: Recommender, state: DialogueState, user: str | None, item: int) -> str:
        title = rec.titles.display(item)
        history = [rec.data.items.external[i] for i in state.liked]
        if user is None and not history:
            return (
                f"**{title}** is there because it is popular "
                f"({_popularity(rec, item)}); tell me a few titles you like and I'll explain "
                "picks from your own taste."
            )
        text = rec.explain(user, rec.data.items.external[item], history=history)
        if text.startswith(f"{title} is one of the most popular"):
            basis = f"user {user}'s ratings" if user is not None else "the titles you like"
            text = (
                f"nothing in {basis} points to it: it is not a close neighbour of any of them, "
                f"so it would only come up as a popular pick ({_popularity(rec, item)}, "
                f"predicted {rec.predict_rating(user, rec.data.items.external[item]):.1f}/5)."
            )
        notes = []
        if item in state.disliked:
            notes.append(" (You told me you didn't like it, so I won't list it.)")
        elif item in state.liked:
            notes.append(" (You told me you liked it.)")
        return f"Why **{title}**: {text}{''.join(notes)}"

    def _rate(self, rec: Recommender, state: DialogueState, user: str | None, item: int) -> str:
        title = rec.titles.display(item)
        item_id = rec.data.items.external[item]
        if user is not None:
            own = _own_rating(rec, user, item)
            if own is not None:
                return f"You (user {user}) already rated **{title}** {own:g}/5."
            value = rec.predict_rating(user, item_id)
            basis = f"from user {user}'s ratings and how others rated it"
        else:
            value = rec.predict_rating(None, item_id)
            basis = "from how everyone rated it (tell me *I'm user N* for a personal estimate)"
        return f"I'd predict you'd rate **{title}** about **{value:.1f}/5**, {basis}."

    def _about(
        self, rec: Recommender, state: DialogueState, user: str | None, item: int, start: int
    ) -> tuple[str, list[ScoredItem]]:
        catalog = rec.data.catalog
        title = rec.titles.display(item)
        year = int(catalog.year[item])
        genres = ", ".join(g for g in catalog.genres[item] if g != "unknown") or "unknown genre"
        facts = [f"**{title}**", f"year {year}" if year > 0 else "year unknown", genres,
                 _popularity(rec, item)]  # fmt: skip
        text = " · ".join(facts)
        item_id = rec.data.items.external[item]
        similar = [s for s in rec.similar_items(item_id, k=10) if s.item_id != item_id]
        similar = similar[:DEFAULT_K]
        listed = []
        for s in similar:
            rating = rec.predict_rating(user, s.item_id)
            why = f"Often chosen by the same people as {title} (similarity {s.score:.2f})."
            listed.append(
                ScoredItem(s.item_id, s.title, s.score, dict(s.components), rating, (), why)
            )
        if listed:
            lines = [_line(start + r, s) for r, s in enumerate(listed)]
            text += "\n\nSimilar titles:\n" + "\n".join(lines)
        return text, listed


# ---------------------------------------------------------------------- helpers


def _acknowledge(rec: Recommender, intent: Intent) -> list[str]:
    """Short notes for the dislikes and already-seen items a message adds."""
    out = []
    if intent.disliked:
        names = ", ".join(rec.titles.display(i) for i in intent.disliked)
        out.append(f"Noted: you didn't like {names}. I'll leave it and its closest titles out.")
    if intent.seen:
        names = ", ".join(rec.titles.display(i) for i in intent.seen)
        out.append(f"Noted: you've already seen {names}.")
    return out


def _line(rank: int, item: ScoredItem) -> str:
    rating = "" if item.predicted_rating is None else f" — predicted {item.predicted_rating:.1f}/5"
    why = _RATING_SUFFIX.sub("", item.explanation or "").strip()
    return f"{item_line(rank, item.title)}{rating}" + (f" — {why}" if why else "")


def _lead(rec: Recommender, state: DialogueState, user: str | None) -> str:
    liked = [rec.titles.display(i) for i in state.liked[-3:]]
    if user is not None and liked:
        return f"For user {user}, who also likes {', '.join(liked)}"
    if user is not None:
        return f"For user {user}"
    more = f" and {len(state.liked) - 3} more" if len(state.liked) > 3 else ""
    return f"Because you like {', '.join(liked)}{more}"


def _describe(c: Constraints) -> str:
    bits = []
    if c.include_genres:
        bits.append(" or ".join(c.include_genres))
    if c.exclude_genres:
        bits.append("no " + ", no ".join(c.exclude_genres))
    if c.year_min is not None and c.year_max is not None:
        bits.append(f"{c.year_min}–{c.year_max}")
    elif c.year_min is not None:
        bits.append(f"from {c.year_min}")
    elif c.year_max is not None:
        bits.append(f"up to {c.year_max}")
    return f" ({'; '.join(bits)})" if bits else ""


def _user_count(rec: Recommender, user: str) -> int:
    u = rec.data.users.index(user)
    return int(np.count_nonzero(rec.data.user[rec.rows] == u))


def _own_rating(rec: Recommender, user: str, item: int) -> float | None:
    u = rec.data.users.index(user)
    rows = rec.rows[(rec.data.user[rec.rows] == u) & (rec.data.item[rec.rows] == item)]
    return float(rec.data.rating[rows[-1]]) if len(rows) else None


def _popularity(rec: Recommender, item: int) -> str:
    count = int(rec.popularity[item])
    rank = int(np.count_nonzero(rec.popularity > count)) + 1
    rows = rec.rows[rec.data.item[rec.rows] == item]
    mean = f", mean rating {float(rec.data.rating[rows].mean()):.1f}/5" if len(rows) else ""
    return f"{count} ratings (#{rank} most rated{mean})"


def _popular(
    rec: Recommender, constraints: Constraints, blocked: set[int], n: int
) -> list[ScoredItem]:
    """The most rated items that fit the constraints (a chat with no likes yet)."""
    allowed = rec._allowed(None if constraints.empty else constraints)
    order = np.argsort(-rec.popularity, kind="stable")
    out = []
    for item in order.tolist():
        if item in blocked or (allowed is not None and not allowed[item]):
            continue
        title = rec.titles.display(item)
        rating = rec.predict_rating(None, rec.data.items.external[item])
        out.append(
            ScoredItem(
                rec.data.items.external[item],
                title,
                float(rec.popularity[item]),
                {"popularity": float(rec.popularity[item])},
                rating,
                (),
                template_explanation(title, rating, ()),
            )
        )
        if len(out) == n:
            break
    return out


def _drop_close_to_disliked(
    rec: Recommender, items: list[ScoredItem], state: DialogueState, k: int
) -> list[ScoredItem]:
    """Items minus those closer to a disliked item than to every liked one, while ``k`` remain.

    Closeness is the recommender's item-item cosine (``rec.similarity``, top neighbours).
    """
    if not state.disliked:
        return items
    sim = rec.similarity
    index = [rec.data.items.index(i.item_id) for i in items]
    dis = np.asarray(sim[state.disliked][:, index].max(axis=0).todense()).ravel()
    if state.liked:
        like = np.asarray(sim[state.liked][:, index].max(axis=0).todense()).ravel()
    else:
        like = np.zeros(len(index))
    kept = [it for it, d, li in zip(items, dis, like, strict=True) if not d > li]
    return kept if len(kept) >= k else items


__all__ = ["DEFAULT_K", "DOMAIN_WORDS", "HELP_TEXT", "Chat", "ChatReply"]
