"""Text-only markdown and the reply lines a later turn reads back from the chat history:
:func:`md` (the one escaper of every title, id or echoed text in a reply), ranked item lines
and the domain-switch line, each written and read in this module only.

A chat turn sees earlier replies as text (Gradio keeps only a fixed set of display keys in a
message's ``metadata``, and a Python caller's history is plain text), so the state learns
which items were listed from these lines. Each reader is the exact inverse of its writer.
"""

from __future__ import annotations

import re

# "&", "<", ">" become entities (no HTML gets through); markdown's specials are backslashed
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML = re.compile(r"[&<>]")
_BREAK = re.compile(r"[\r\n]+")
_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")
# what GFM turns into a link by itself: "scheme://..." and "www."
_AUTOLINK = re.compile(r"(?<=\w)(:)(?=//)|(?<=\bwww)(\.)", re.I)
_UNESCAPE = re.compile(r"\\([\\`*_\[\]#|~$:.])|&(amp|lt|gt);")
_UNENTITY = {"amp": "&", "lt": "<", "gt": ">"}
# a bold name: escaped characters or anything but "*", "\" and a line break
_ITEM_LINE = re.compile(r"^[ \t]*\d+\.[ \t]+\*\*((?:\\.|[^\\*\n])+)\*\*", re.M)
_SWITCH_LINE = re.compile(r"\A\s*Switched to \*\*((?:\\.|[^\\*\n])+)\*\*")


def md(text: object) -> str:
    """``text`` as literal markdown: shown exactly as written, never as markup or HTML.

    ``&``, ``<`` and ``>`` become HTML entities, markdown's special characters
    (``\\ ` * _ [ ] # | ~ $``) are backslash-escaped, and so are the ``:`` of ``://`` and
    the ``.`` of ``www.`` (GFM would make a link of a bare address); :func:`unmd` is its
    inverse.
    Line breaks become spaces (an echoed message cannot start a line of its own).
    """
    flat = _BREAK.sub(" ", str(text))
    html = _HTML.sub(lambda m: _ENTITIES[m.group()], flat)
    escaped = _SPECIAL.sub(r"\\\1", html)
    return _AUTOLINK.sub(lambda m: "\\" + m.group(), escaped)


def unmd(text: str) -> str:
    """The text :func:`md` escaped (for a line without line breaks)."""
    return _UNESCAPE.sub(lambda m: m.group(1) or _UNENTITY[m.group(2)], text)


def bold(text: object) -> str:
    """``**text**``, escaped by :func:`md`."""
    return f"**{md(text)}**"


def quoted(text: object) -> str:
    """``“text”``, escaped by :func:`md` (a user's words echoed in a reply)."""
    return f"“{md(text)}”"


def item_line(rank: int, title: str) -> str:
    """The start of a ranked line in a reply, ``"1. **Fargo (1996)**"``;
    :func:`listed_titles` reads it back."""
    return f"{rank}. {bold(title)}"


def listed_titles(reply: str) -> list[str]:
    """The titles of the :func:`item_line` lines in ``reply``, in order."""
    return [unmd(inner) for inner in _ITEM_LINE.findall(reply)]


def switch_line(domain: str) -> str:
    """The start of a reply whose turn moved to ``domain``, ``"Switched to **music**"``;
    :func:`switched_to` reads it back (the turn's message is then read in that domain)."""
    return f"Switched to {bold(domain)}"


def switched_to(reply: str) -> str | None:
    """The domain named by a reply's leading :func:`switch_line`, or ``None``."""
    m = _SWITCH_LINE.match(reply)
    return unmd(m.group(1)) if m else None
