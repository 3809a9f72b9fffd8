"""Chat turns: history + message -> DialogueState -> Recommender calls -> a ChatReply."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from convrec.dialogue import replies, talk
from convrec.dialogue.describe import build_describers
from convrec.dialogue.intent import ASKING, MAX_MESSAGE_CHARS, Act, Intent, IntentParser
from convrec.dialogue.lines import bold, md, switch_line
from convrec.dialogue.state import DialogueState, parse_in_domain
from convrec.schema import Evidence, Explanation, ScoredItem

if TYPE_CHECKING:
    from convrec.recommender import Recommender

log = logging.getLogger(__name__)

DEFAULT_K = 5
MAX_K = 50
MAX_ASKED = 3

HELP_TEXT = (
    "I recommend movies from what you tell me. Try:\n"
    "- *I loved Star Wars and Fargo* (or *I'm user 42* to use a known user's ratings)\n"
    "- *only comedies from the 90s*, *no horror*, *top 3*\n"
    "- *why Return of the Jedi?* / *how would I rate Heat?* / *tell me about Toy Story*\n"
    "- *I hated Toy Story*, *I've already seen Fargo*, *show them again*\n"
    "- after a list: *why the second one?*, *more like #3*, *I've seen the last one*\n"
    "- *not in the mood for horror*, *forget the 90s*, *any genre is fine*\n"
    "- *reset* to start over"
)

# names of domains a user may ask for, loaded or not (a domain not loaded gets a clear answer)
DOMAIN_WORDS: dict[str, tuple[str, ...]] = {
    "ml-100k": ("movies", "movie", "films", "film", "movielens"),
    "amazon-mi5": ("musical instruments", "instruments", "music", "amazon"),
}
_NOT_LOADED_WHY = {
    "amazon-mi5": "start the app with "
    "--domain amazon-mi5=PATH/reviews_Musical_Instruments_5.json.gz to load it",
}
_SWITCH = r"\b(?:switch|change|go|move|back|let'?s do)\b.*?\b{}\b"
_AGAIN = re.compile(r"\b(?:again|repeat|same (?:list|ones)|include (?:shown|seen))\b", re.I)


@dataclass
class ChatReply:
    """One assistant turn.

    Attributes
    ----------
    text : str
        Markdown reply; ranked lines start with :func:`~convrec.dialogue.lines.item_line`.
    items : list[ScoredItem]
        The items listed in ``text``, in order (empty when none were listed).
    state : DialogueState
        The conversation state after this message.
    """

    text: str
    items: list[ScoredItem]
    state: DialogueState


class Chat:
    """Answers chat messages over one or more loaded domains (no state kept between calls).

    ``Chat(rec)`` chats over one Recommender (its domain named by its dataset);
    ``Chat({"movies": rec1, "music": rec2})`` over several.

    Parameters
    ----------
    recommenders
        A :class:`~convrec.recommender.Recommender`, or loaded domain name -> Recommender.
    default
        The domain a conversation starts in (default: the first one).
    domain_words
        Words naming each domain, loaded or not ("switch to music").
    describer
        The reader of descriptive requests ("something scary") the parser calls on clauses its
        rules leave without genre or era: ``True`` (default) builds one per domain when the
        sentence encoder is installed, ``False`` reads with rules alone; or a callable, or
        domain -> callable (see :func:`~convrec.dialogue.describe.build_describers`).
    """

    def __init__(
        self,
        recommenders: Mapping[str, Recommender] | Recommender,
        default: str | None = None,
        domain_words: Mapping[str, Sequence[str]] | None = None,
        describer: Any = True,
    ) -> None:
        if not isinstance(recommenders, Mapping):
            recommenders = {recommenders.name: recommenders}
        self.recommenders: dict[str, Recommender] = dict(recommenders)
        self.domain_words = dict(DOMAIN_WORDS if domain_words is None else domain_words)
        if not self.recommenders:
            raise ValueError("Chat needs at least one loaded domain")
        self.default: str = next(iter(self.recommenders)) if default is None else default
        if self.default not in self.recommenders:
            raise ValueError(f"default domain {self.default!r} is not loaded")
        loaded = {n: tuple(self.domain_words.get(n, ())) for n in self.recommenders}
        self.parsers: dict[str, IntentParser] = {}
        self.describers = build_describers(self.recommenders, describer)
        for name, rec in self.recommenders.items():
            span = rec.year_span() or (1900, 2030)
            genres = [g for g in rec.genres() if g != "unknown"]
            self.parsers[name] = IntentParser(
                rec.titles, genres, span, loaded, self.describers[name]
            )

    # ------------------------------------------------------------------ entry point

    def respond(
        self,
        message: Any,
        history: Sequence[Any] | None = None,
        *,
        domain: str | None = None,
        k: int | None = None,
        alpha: float | None = None,
    ) -> ChatReply:
        """The reply to ``message`` after ``history`` (Gradio messages or pairs).

        Any message or history gets a reply; only ``k`` or ``alpha`` out of range raise
        ``ValueError``.

        Parameters
        ----------
        domain
            The loaded domain this message is about; when the conversation is elsewhere
            it moves there first and the reply starts with
            :func:`~convrec.dialogue.lines.switch_line` (``None``, or a domain not loaded:
            stay where the conversation is).
        k
            List length when the conversation has not asked for one ("top 3" wins);
            default :data:`DEFAULT_K`.
        alpha
            CF vs LLM fusion balance in [0, 1] (see
            :meth:`~convrec.recommender.Recommender.recommend`); ``None``: as configured.
        """
        try:
            state = DialogueState.from_history(history or [], self.parsers, self.default)
        except Exception:  # a malformed history must not end the conversation
            log.exception("could not replay the chat history")
            state = DialogueState(self.default)
        if k is not None and (
            isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= MAX_K
        ):
            raise ValueError(f"k must be a whole number in [1, {MAX_K}], got {k!r:.40}")
        if alpha is not None and (
            isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 <= alpha <= 1.0
        ):
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r:.40}")
        options = _Options(domain if domain in self.recommenders else None, k or DEFAULT_K, alpha)
        try:
            text = message if isinstance(message, str) else str(message or "")
            return self._turn(text, state, options)
        except Exception:
            log.exception("chat turn failed")
            return ChatReply(
                "Sorry, something went wrong on my side with that message. "
                "Could you rephrase it? (type *help* for examples)",
                [],
                state,
            )

    # ------------------------------------------------------------------ one turn

    def _turn(self, message: str, state: DialogueState, options: _Options) -> ChatReply:
        text = message[:MAX_MESSAGE_CHARS]
        notes: list[str] = []
        if len(message) > MAX_MESSAGE_CHARS:
            notes.append(f"(I only read the first {MAX_MESSAGE_CHARS} characters.)")
        elsewhere = self._unloaded_domain(text)
        if elsewhere is not None:
            why = _NOT_LOADED_WHY.get(elsewhere, "it is not loaded in this app")
            return ChatReply(
                f"The {bold(elsewhere)} domain is not available here: {why}. "
                f"We are still on {bold(state.domain)} "
                f"(loaded: {md(', '.join(self.recommenders))}).",
                [],
                state,
            )
        previous_domain = state.domain
        state.switch(options.domain, self.parsers)
        intent = parse_in_domain(self.parsers, state.domain, text, state.context)
        state.apply(intent)
        rec = self.recommenders[state.domain]
        switched = state.domain != previous_domain
        if switched:  # first, so that a replay of the history reads this turn in the new domain
            notes.insert(0, f"{switch_line(state.domain)}{self._describe_domain(state.domain)}.")
        if intent.has(Act.RESET):
            reset = "Starting over: I've forgotten your likes and dislikes."
            return ChatReply("\n\n".join([*notes, reset, self._help(state.domain)]), [], state)
        if intent.has(Act.HELP):
            return ChatReply("\n\n".join([*notes, self._help(state.domain)]), [], state)
        if intent.has(Act.CHAT):
            lines = [*notes, talk.small_talk(intent.small_talk or "other", self._example(rec))]
            return ChatReply("\n\n".join(lines), [], state)
        user = self._user(rec, state, intent, notes)
        notes += talk.not_found(rec, intent, self._noun(state.domain))
        notes += [talk.problem(p) for p in intent.problems]
        parts: list[str] = []
        items: list[ScoredItem] = []
        for item in intent.asked[:MAX_ASKED]:
            if intent.has(Act.WHY):
                parts.append(self._why(rec, state, user, item))
            elif intent.has(Act.RATE):
                parts.append(talk.rate(rec, state, user, item))
            elif intent.has(Act.ABOUT):
                text_about, similar = self._about(rec, user, item, 1 + len(items), options.k)
                parts.append(text_about)
                items += similar
        asking = ASKING & set(intent.acts)
        if asking and not intent.asked and not intent.unresolved and not intent.problems:
            parts.append("Which title do you mean? For example: *why the first one?*")
        changed = bool(
            intent.liked or intent.disliked or intent.seen or intent.more_like
            or intent.user is not None or intent.k is not None or not intent.constraints.empty
            or intent.forget
        )  # fmt: skip
        notes += replies.acknowledge(rec, intent)
        again = bool(_AGAIN.search(text))
        fresh = switched and not parts and not intent.unresolved  # show what the domain has
        if intent.has(Act.RECOMMEND) or ((changed or again or fresh) and not asking):
            head, listed = self._recommend(rec, state, user, again, 1 + len(items), options)
            parts.append(head)
            items += listed
        if not parts and not notes:
            parts.append(talk.small_talk("other", self._example(rec)))
        state.listed([rec.item_index(i.item_id) for i in items])
        return ChatReply("\n\n".join([*notes, *parts]).strip(), items, state)

    def _noun(self, name: str) -> str:
        """What the domain's items are called ("movies"), or "titles"."""
        words = self.domain_words.get(name, ())
        return "movies" if "movies" in words else "titles"

    @staticmethod
    def _example(rec: Recommender) -> str:
        """A title to show in a hint, the most popular one."""
        top = rec.popular_items(1)
        return top[0].title if top else "a title"

    def _help(self, name: str) -> str:
        """:data:`HELP_TEXT` for movies; for another domain, the same hints on its own titles."""
        if "movies" in self.domain_words.get(name, ()):
            return HELP_TEXT
        rec = self.recommenders[name]
        top = [md(item.title) for item in rec.popular_items(3)]
        others = [n for n in self.recommenders if n != name]
        switch = (
            f"\n- *switch to {self.domain_words.get(others[0], [others[0]])[0]}*" if others else ""
        )
        return (
            f"I recommend items of {bold(name)}{self._describe_domain(name)} from what you tell "
            f"me. Try:\n- *I like {top[0]} and {top[1]}*\n- *why {top[2]}?* / "
            f"*how would I rate {top[1]}?* / *tell me about {top[0]}*\n"
            f"- *not {top[2]}*, *top 3*{switch}\n- *reset* to start over"
        )

    def _describe_domain(self, name: str) -> str:
        """The domain's first word in brackets (" (musical instruments)"), or ""."""
        words = list(self.domain_words.get(name, ()))
        return f" ({md(words[0])})" if words else ""

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
        if rec.has_user(state.user):
            if intent.user is not None:
                n = replies.user_count(rec, state.user)
                notes.append(f"Hello, user {md(state.user)}: I'll use your {n} ratings.")
            return state.user
        if intent.user is not None:
            ids = rec.user_ids()
            notes.append(
                f"I don't know user {md(state.user)} in {md(state.domain)} (ids look like "
                f"{md(', '.join(ids[:3]))} ... {md(ids[-1])}); I'll go on with this chat's "
                "likes only."
            )
        return None

    # ------------------------------------------------------------------ answers

    def _recommend(
        self,
        rec: Recommender,
        state: DialogueState,
        user: str | None,
        again: bool,
        start: int,
        options: _Options,
    ) -> tuple[str, list[ScoredItem]]:
        """Top-k for the state; shown items come back only when asked ``again``."""
        k = state.k or options.k
        blocked = set(state.liked) | set(state.disliked) | set(state.seen)
        if not again:
            blocked |= set(state.shown)
        blocked_titles = {rec.titles.display(i) for i in blocked}
        history = [rec.item_id(i) for i in state.liked]
        constraints = state.constraints
        filters = None if constraints.empty else constraints
        extra = len(blocked_titles) + 10 + 10 * len(state.disliked)
        exclude = [rec.item_id(i) for i in blocked]
        if user is None and not history:
            listed = rec.popular_items(k + extra, filters, exclude)
            lead = "The most popular picks" + replies.describe_constraints(constraints)
        else:
            result = rec.recommend(
                user=user, history=history, k=k + extra, filters=filters, exclude=exclude,
                alpha=options.alpha, explain=False,
            )  # fmt: skip
            listed = list(result.items)
            lead = replies.lead(rec, state, user) + replies.describe_constraints(constraints)
        listed = replies.drop_close_to_disliked(rec, listed, state, k)
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
        if user is not None or history:  # explain the shown items only
            shown = rec.explain_items(shown, user=user, history=history, filters=filters)
        lines = [replies.ranked_line(start + r, s) for r, s in enumerate(shown)]
        return lead + ":\n" + "\n".join(lines), shown

    def _why(self, rec: Recommender, state: DialogueState, user: str | None, item: int) -> str:
        title = rec.titles.display(item)
        item_id = rec.item_id(item)
        history = [rec.item_id(i) for i in state.liked]
        if user is None and not history:
            return (
                f"{bold(title)} is there because it is popular "
                f"({replies.popularity(rec.item_info(item_id))}); tell me a few titles you like "
                "and I'll explain picks from your own taste."
            )
        why = rec.why(user, item_id, history=history)
        text = why.text
        if why.source == "template" and not why.facts:  # the popular-pick template
            basis = f"user {md(user)}'s ratings" if user is not None else "the titles you like"
            text = (
                f"nothing in {basis} points to it: it is not a close neighbour of any of them, "
                "so it would only come up as a popular pick "
                f"({replies.popularity(rec.item_info(item_id))}, "
                f"predicted {rec.predict_rating(user, item_id):.1f}/5)."
            )
        notes = []
        if item in state.disliked:
            notes.append(" (You told me you didn't like it, so I won't list it.)")
        elif item in state.liked:
            notes.append(" (You told me you liked it.)")
        return f"Why {bold(title)}: {md(text)}{''.join(notes)}"

    def _about(
        self, rec: Recommender, user: str | None, item: int, start: int, k: int
    ) -> tuple[str, list[ScoredItem]]:
        text = " · ".join(replies.facts(rec, item))
        title = rec.titles.display(item)
        item_id = rec.item_id(item)
        similar = [s for s in rec.similar_items(item_id, k=k + 1) if s.item_id != item_id]
        similar = similar[:k]
        listed = []
        for s in similar:
            rating = rec.predict_rating(user, s.item_id)
            why = Explanation(
                f"Often chosen by the same people as {title} (similarity {s.score:.2f}).",
                (Evidence(item_id, title, s.score),),
            )
            listed.append(
                ScoredItem(s.item_id, s.title, s.score, dict(s.components), rating, (), why)
            )
        if listed:
            lines = [replies.ranked_line(start + r, s) for r, s in enumerate(listed)]
            text += "\n\nSimilar titles:\n" + "\n".join(lines)
        return text, listed


# ---------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Options:
    """Per-call settings of one turn: requested domain, default list length, CF / LLM balance."""

    domain: str | None
    k: int
    alpha: float | None


__all__ = ["DEFAULT_K", "DOMAIN_WORDS", "HELP_TEXT", "MAX_K", "Chat", "ChatReply"]
