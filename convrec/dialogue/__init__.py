"""Dialogue understanding: message -> Intent, and the DialogueState rebuilt from chat history."""

from convrec.dialogue.intent import (
    MAX_MESSAGE_CHARS,
    Act,
    Constraints,
    Intent,
    IntentParser,
    Unresolved,
)
from convrec.dialogue.state import DialogueState, item_line
from convrec.dialogue.titles import TitleIndex, TitleMatch, display_title, normalise_title

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Act",
    "Constraints",
    "DialogueState",
    "Intent",
    "IntentParser",
    "TitleIndex",
    "TitleMatch",
    "Unresolved",
    "display_title",
    "item_line",
    "normalise_title",
]
