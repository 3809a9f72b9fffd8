"""Short replies that are not lists: small talk that steers back to recommending, titles not
in the catalogue, references that cannot be followed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convrec.dialogue.intent import Intent
from convrec.dialogue.lines import md, quoted

if TYPE_CHECKING:
    from convrec.recommender import Recommender

_STEER = "tell me a title you liked (*I loved {0}*) or ask for a genre or a decade"
_SMALL_TALK = {
    "greeting": "Hi! " + _STEER[0].upper() + _STEER[1:] + ", and I'll recommend.",
    "thanks": "You're welcome! Ask for *more* any time, or " + _STEER + ".",
    "bye": "Bye, enjoy the film! Come back any time.",
    "how": "I'm doing well, thanks! Shall we find you something? " + _STEER[0].upper()
    + _STEER[1:] + ".",
    "who": "I'm a recommender: " + _STEER + ", and I'll suggest what to watch next.",
    "ack": "Good. Ask for *more*, *why the first one?*, or " + _STEER + ".",
    "other": "I'm not sure what you mean; I can only help with recommendations. Try: "
    + _STEER + " (*help* shows more).",
}  # fmt: skip


def small_talk(kind: str, example: str) -> str:
    """One short reply to small talk of ``kind`` (see :class:`~convrec.dialogue.Intent`) with a
    hint naming ``example``, a title of the catalogue."""
    return _SMALL_TALK.get(kind, _SMALL_TALK["other"]).format(md(example))


def not_found(rec: Recommender, intent: Intent, noun: str = "titles") -> list[str]:
    """One line per title-like mention that names no item: suggestions when some title is
    close, else that it is not in the catalogue (with the catalogue's year span)."""
    out: list[str] = []
    for miss in intent.unresolved:
        if miss.suggestions:
            names = " or ".join(f"*{md(rec.titles.display(s))}*" for s in miss.suggestions[:3])
            line = f"I couldn't find {quoted(miss.text)}. Did you mean {names}?"
        else:
            span = rec.year_span()
            years = f" (its {noun} run from {span[0]} to {span[1]})" if span else ""
            line = f"{quoted(miss.text)} isn't in this catalogue{years}."
        if line not in out:
            out.append(line)
    return out


def problem(text: str) -> str:
    """A reference that could not be followed, as a reply line."""
    hint = " Ask me for recommendations first." if "no list" in text else ""
    return f"Sorry, {text}.{hint}"
