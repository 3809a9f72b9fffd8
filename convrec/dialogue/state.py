"""DialogueState: what a conversation has established, rebuilt from the chat history each turn."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from convrec.dialogue.intent import Act, Constraints, Intent, IntentParser

# The reply format's contract: a ranked line is "<rank>. **<display title>** ...".
_SHOWN_LINE = re.compile(r"^\s*\d+\.\s+\*\*(.+?)\*\*", re.M)


def item_line(rank: int, title: str) -> str:
    """The start of a ranked line in a reply; :meth:`DialogueState.from_history` reads it back."""
    return f"{rank}. **{title}**"


@dataclass
class DialogueState:
    """Likes, dislikes, items seen or shown, constraints, user and domain of one conversation.

    Item lists hold internal item indices of the current domain, oldest first.
    """

    domain: str
    user: str | None = None
    liked: list[int] = field(default_factory=list)
    disliked: list[int] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)
    shown: list[int] = field(default_factory=list)
    constraints: Constraints = field(default_factory=Constraints)
    k: int | None = None

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
        self.constraints = self.constraints.merge(intent.constraints)

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
        """Replay a chat history: user messages are parsed, assistant replies give shown items.

        ``history`` is Gradio's messages format (``{"role": ..., "content": ...}``
        dicts) or ``(user, assistant)`` pairs. Unknown roles and non-text content
        are skipped, so a malformed history degrades to a fresh state, never an error.
        """
        state = cls(default_domain)
        for role, text in _messages(history):
            parser = parsers.get(state.domain)
            if parser is None:
                break
            if role == "user":
                state.apply(parser.parse(text))
            elif role == "assistant":
                for title in _SHOWN_LINE.findall(text):
                    item = parser.titles.exact(title)
                    if item is not None:
                        _add(item, state.shown)
        return state


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
