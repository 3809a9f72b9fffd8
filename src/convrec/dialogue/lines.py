"""The reply lines a later turn reads back from the chat history: ranked item lines and the
domain-switch line, each written and read in this module only.

A chat turn sees earlier replies as text (Gradio keeps only a fixed set of display keys in a
message's ``metadata``, and a Python caller's history is plain text), so the state learns
which items were listed from these lines. Each reader is the exact inverse of its writer:
a bold name is escaped only when it holds ``**`` or a backslash, and unescaped on reading.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"([\\*])")
_UNESCAPE = re.compile(r"\\([\\*])")
# a bold name ends at the first "**" that no further "*" follows (a name may end with "*")
_ITEM_LINE = re.compile(r"^[ \t]*\d+\.[ \t]+\*\*(.+?)\*\*(?!\*)", re.M)
_SWITCH_LINE = re.compile(r"\A\s*Switched to \*\*(.+?)\*\*(?!\*)")


def _bold(name: str) -> str:
    if "**" in name or "\\" in name:
        name = _ESCAPE.sub(r"\\\1", name)
    return f"**{name}**"


def _unbold(inner: str) -> str:
    return _UNESCAPE.sub(r"\1", inner)


def item_line(rank: int, title: str) -> str:
    """The start of a ranked line in a reply, ``"1. **Fargo (1996)**"``; what follows it
    must not start with ``*``. :func:`listed_titles` reads it back."""
    return f"{rank}. {_bold(title)}"


def listed_titles(reply: str) -> list[str]:
    """The titles of the :func:`item_line` lines in ``reply``, in order."""
    return [_unbold(inner) for inner in _ITEM_LINE.findall(reply)]


def switch_line(domain: str) -> str:
    """The start of a reply whose turn moved to ``domain``, ``"Switched to **music**"``;
    :func:`switched_to` reads it back (the turn's message is then read in that domain)."""
    return f"Switched to {_bold(domain)}"


def switched_to(reply: str) -> str | None:
    """The domain named by a reply's leading :func:`switch_line`, or ``None``."""
    m = _SWITCH_LINE.match(reply)
    return _unbold(m.group(1)) if m else None
