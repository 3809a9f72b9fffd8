"""DialogueState: what a conversation has established, rebuilt from the chat history each turn."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from convrec.dialogue.constraints import revise
from convrec.dialogue.intent import Act, Intent, IntentParser
from convrec.dialogue.lines import listed_titles, switched_to
from convrec.dialogue.references import Context
from convrec.schema import ItemFilter


def parse_in_domain(
    parsers: Mapping[str, IntentParser],
    domain: str,
    message: str,
    context: Context | None = None,
) -> Intent:
    """``message`` parsed in ``domain`` (with the conversation's ``context``), or in the
    loaded domain it switches to.

    Titles belong to a domain: in "switch to music, I like the pop filter" the item
    is looked up in the domain switched to, not in the one the message was sent in.
    """
    intent = parsers[domain].parse(message, context)
    if intent.domain is not None and intent.domain != domain and intent.domain in parsers:
        intent = parsers[intent.domain].parse(message)
    return intent


@dataclass
class DialogueState:
    """Likes, dislikes, items seen or shown, constraints, user and domain of one conversation.

    Item lists hold internal item indices of the current domain, oldest first; ``last`` is
    the last list shown, in its order, ``focus`` the item last asked about or named and
    ``act`` what the last message did with the titles it named
    (what "the second one" and "it" refer to).
    """

    domain: str
    user: str | None = None
    liked: list[int] = field(default_factory=list)
    disliked: list[int] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)
    shown: list[int] = field(default_factory=list)
    constraints: ItemFilter = field(default_factory=ItemFilter)
    k: int | None = None
    last: list[int] = field(default_factory=list)
    focus: int | None = None
    act: str | None = None

    @property
    def context(self) -> Context:
        """What the next message may refer to."""
        return Context(tuple(self.last), self.focus, self.act)

    def apply(self, intent: Intent) -> None:
        """Update the state with one parsed user message."""
        if intent.has(Act.RESET):
            self._restart(self.domain)
            return
        if intent.domain is not None and intent.domain != self.domain:
            # item indices and user ids belong to a domain: start that domain afresh
            self._restart(intent.domain)
        if intent.user is not None:
            self.user = intent.user
        if intent.k is not None:
            self.k = intent.k
        for item in (*intent.liked, *intent.more_like):
            _move(item, self.liked, self.disliked)
        for item in intent.disliked:
            _move(item, self.disliked, self.liked)
        for item in intent.seen:
            _add(item, self.seen)
        for item in intent.retracted:  # "I meant X, not Y"
            for bucket in (self.liked, self.disliked, self.seen):
                if item in bucket:
                    bucket.remove(item)
        self.constraints = revise(self.constraints, intent.wishes)
        named = (*intent.liked, *intent.disliked, *intent.seen, *intent.more_like)
        if intent.asked or named:
            self.focus = (intent.asked or named)[-1]
        slots = ((Act.DISLIKE, intent.disliked), (Act.SEEN, intent.seen), (Act.LIKE, intent.liked))
        self.act = next((a.value for a, items in slots if items), None)

    def listed(self, items: Sequence[int]) -> None:
        """A reply listed ``items`` in this order: they are shown and are the last list."""
        for item in items:
            _add(item, self.shown)
        if items:
            self.last = list(items)

    def _restart(self, domain: str) -> None:
        self.__dict__.update(DialogueState(domain).__dict__)

    def excluded(self) -> set[int]:
        """Items not to recommend again: liked, disliked, seen and already shown."""
        return {*self.liked, *self.disliked, *self.seen, *self.shown}

    @classmethod
    def from_history(
        cls,
        history: Sequence[Any],
        parsers: Mapping[str, IntentParser],
        default_domain: str,
    ) -> DialogueState:
        """Replay a chat history: user messages are parsed, assistant replies give shown items
        (their :func:`~convrec.dialogue.lines.item_line` lines) and domain switches.

        ``history`` is Gradio's messages format (``{"role": ..., "content": ...}``
        dicts) or ``(user, assistant)`` pairs. Unknown roles and non-text content
        are skipped, so a malformed history degrades to a fresh state, never an error.
        """
        state = cls(default_domain)
        messages = list(_messages(history))
        for at, (role, text) in enumerate(messages):
            if state.domain not in parsers:
                break
            after = messages[at + 1] if at + 1 < len(messages) else ("", "")
            before = messages[at - 1] if at > 0 else ("", "")
            if role == "user":
                # the reply says this turn moved to another domain: read the message there
                state.switch(switched_to(after[1]) if after[0] == "assistant" else None, parsers)
                state.apply(parse_in_domain(parsers, state.domain, text, state.context))
            elif role == "assistant":
                if before[0] != "user":  # a switch with no message of its own
                    state.switch(switched_to(text), parsers)
                parser = parsers[state.domain]
                found = (parser.titles.exact(title) for title in listed_titles(text))
                state.listed([item for item in found if item is not None])
        return state

    def switch(self, domain: str | None, parsers: Mapping[str, Any]) -> bool:
        """Start ``domain`` afresh when it is loaded and not the current one; ``True`` if so."""
        if domain is None or domain == self.domain or domain not in parsers:
            return False
        self._restart(domain)
        return True


def _messages(history: Sequence[Any]) -> Iterable[tuple[str, str]]:
    for entry in history or ():
        if isinstance(entry, Mapping):
            role, content = entry.get("role"), entry.get("content")
            if isinstance(role, str) and isinstance(content, str):
                yield role, content
            elif isinstance(role, str) and isinstance(content, Sequence):
                texts = [c.get("text", "") for c in content if isinstance(c, Mapping)]
                yield role, " ".join(t for t in texts if isinstance(t, str))
        elif isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 2:
            user, assistant = entry
            if isinstance(user, str):
                yield "user", user
            if isinstance(assistant, str):
                yield "assistant", assistant


def _add(item: int, target: list[int]) -> None:
    if item not in target:
        target.append(item)


def _move(item: int, target: list[int], other: list[int]) -> None:
    if item in other:
        other.remove(item)
    _add(item, target)
