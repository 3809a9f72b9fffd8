"""Dialogue: message -> Intent, the state rebuilt from chat history, replies; ``Chat`` is the
chat entry point over one or several Recommenders."""

from convrec.dialogue.chat import Chat, ChatReply
from convrec.dialogue.intent import MAX_MESSAGE_CHARS, Act, Intent, IntentParser, Unresolved
from convrec.dialogue.lines import item_line, listed_titles, md, switch_line, switched_to
from convrec.dialogue.references import Context
from convrec.dialogue.state import DialogueState

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Act",
    "Chat",
    "ChatReply",
    "Context",
    "DialogueState",
    "Intent",
    "IntentParser",
    "Unresolved",
    "item_line",
    "listed_titles",
    "md",
    "switch_line",
    "switched_to",
]
