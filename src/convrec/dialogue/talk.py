"""Short replies that are not lists: rating estimates, small talk that steers back to
recommending, titles not in the catalogue, references that cannot be followed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convrec.dialogue import replies
from convrec.dialogue.intent import Intent
from convrec.dialogue.lines import bold, md, quoted
from convrec.dialogue.state import DialogueState

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
    hint = ": ask me for recommendations first" if "no list" in text else ""
    return f"{text[:1].upper()}{text[1:]}{hint}."


def rate(rec: Recommender, state: DialogueState, user: str | None, item: int) -> str:
    """The predicted rating of ``item``: a known user's own rating or estimate, a session's
    estimate from its likes (saying which liked title is closest), or everyone's average."""
    title = bold(rec.titles.display(item))
    item_id = rec.item_id(item)
    liked = [i for i in state.liked if i != item]
    history = [rec.item_id(i) for i in liked]
    if user is not None:
        own = replies.own_rating(rec, user, item)
        if own is not None:
            return f"You (user {md(user)}) already rated {title} {own:g}/5."
    value = rec.predict_rating(user, item_id, history=history)
    if item in state.liked:
        note = " (You told me you liked it.)"
    elif item in state.disliked:
        note = " (You told me you didn't like it.)"
    else:
        note = ""
    if user is not None:
        n = len(liked)
        also = f" and the {n} title{'s' * (n != 1)} you liked here" if liked else ""
        basis = f"from user {md(user)}'s ratings{also} and how others rated it"
    elif liked:
        basis = replies.fold_in_basis(rec, liked, item)
    else:
        basis = (
            "which is everyone's average for it: tell me a few titles you liked "
            "(or *I'm user N*) for a personal estimate"
        )
    return f"I'd predict you'd rate {title} about **{value:.1f}/5**, {basis}.{note}"
