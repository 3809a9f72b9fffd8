"""Title mentions in a clause: the parts of a list of titles after (or before) a cue, a clause
that is one title, and the title-like mentions that name no item."""

from __future__ import annotations

import re
from dataclasses import dataclass

from convrec.data.titles import TitleIndex
from convrec.dialogue import cues
from convrec.dialogue.constraints import ClauseReader


@dataclass(frozen=True)
class Unresolved:
    """A title-like mention that matched no item, with the closest items as suggestions."""

    text: str
    suggestions: tuple[int, ...]


@dataclass
class Mentions:
    """Finds the titles a clause names in one catalogue.

    Parameters
    ----------
    titles
        The domain's :class:`TitleIndex`.
    reader
        The domain's genre and era reader (a genre or a decade is never a title).
    """

    titles: TitleIndex
    reader: ClauseReader

    def lone(self, clause: str) -> tuple[list[int], list[Unresolved]] | None:
        """A clause that is one title ("also braveheart", "Monty Python Holy Grail!!!"):
        ``([item], [])``; one that asks after an unknown title ("interstellar?", "titanic
        2?"): ``([], [mention])``; else ``None``."""
        lone = cues.lone_mention(clause)
        low = lone.lower()
        if len(lone) < 3 or self.reader.names_genre_or_year(low):
            return None
        if cues.small_talk(low) != "other" or cues.RECOMMEND.search(low):
            return None
        item = self.titles.exact(lone)
        suggestions: list[int] = []
        if item is None and cues.NOT_ASKED_TITLE.search(lone):  # "can you do 7?"
            return None
        if item is None and cues.SEQUEL_END.search(lone):  # "titanic 2?": not Titanic
            return [], [Unresolved(lone, ())]
        if item is None and cues.title_like(lone, strict=True):
            item, suggestions = self.titles.resolve(lone)
            if item is None and not cues.TITLE_QUESTION.search(clause):
                return None
        if item is not None:
            return [item], []
        if suggestions or cues.title_like(lone, strict=True):
            return [], [Unresolved(lone, tuple(suggestions))]
        return None

    def find(
        self, tail: str, expects_item: bool, report: bool = True, subject: bool = False
    ) -> tuple[list[int], list[Unresolved], list[tuple[str, bool]]]:
        """Items named in the comma / "and" separated text after a cue; the title-like
        mentions that name no item, with suggestions when some title is truly close; the
        parts of ``tail`` used (and whether each named an item). Without ``report`` (text
        before a cue) only titles named in full count and nothing is reported, unless
        ``subject``: the text is a sentence's subject ("gladiator was epic"), each part cut
        at its verb and looked up like a mention after a cue."""
        items: list[int] = []
        missing: list[Unresolved] = []
        used: list[tuple[str, bool]] = []
        parts = cues.SPLIT_MENTIONS.split(tail)
        for part in parts:
            if re.match(r"\s{3,}\S", part):
                continue  # the words right after a title ("star wars a million times")
            if subject:
                part = cues.PREDICATE.sub("", part)
            raw = part.strip(" ?!.,:;\"'“”")
            mention = cues.strip_filler(raw)
            if len(mention) < 2 or mention.isdigit() or cues.only_common(mention):
                continue
            if cues.only_list_length(mention):  # "I loved Fargo, top 10"
                continue
            if self.reader.names_genre_or_year(mention.lower()):
                continue
            if not (expects_item or cues.title_like(mention)):
                continue
            if cues.small_talk(mention.lower()) != "other":  # "thanks, that's great"
                continue
            lookup = report or (
                subject and cues.title_like(mention, strict=True) and cues.title_like(raw)
            )
            if lookup:
                item, suggestions = self.titles.resolve(mention)
            else:  # before a cue: only a title named in full ("fargo was great")
                item, suggestions = self.titles.exact(mention), []
            if item is None:  # "fargo as much as everyone says": the title, then words
                item, part = self._leading_title(mention, part)
            if item is not None:
                items.append(item)
                used.append((part, True))
            elif cues.small_talk(mention.lower()) != "other":  # "..., thanks!"
                continue
            elif lookup and (expects_item or cues.title_like(mention, strict=True)):
                missing.append(Unresolved(mention, tuple(suggestions)))
                used.append((part, False))
        return items, missing, used

    def _leading_title(self, mention: str, part: str) -> tuple[int | None, str]:
        """The longest run of the mention's first words that names a title in full, and the
        part of ``part`` up to its end (``(None, part)`` when no run does)."""
        words = mention.split()
        for n in range(len(words) - 1, 0, -1):
            head = " ".join(words[:n])
            item = self.titles.exact(head)
            if item is not None and len(head) >= 3:
                at = part.lower().find(words[n - 1].lower(), part.lower().find(words[0].lower()))
                return item, part[: at + len(words[n - 1])] if at >= 0 else part
        return None, part

    def sequel(self, text: str) -> int | None:
        """The item a title with a sequel's number names in full ("the godfather part 3",
        "the godfather part iii"), or ``None``."""
        item = self.titles.exact(text)
        if item is None:
            roman = re.sub(r"\b[1-9]\b", lambda m: _ROMAN[int(m.group())], text)
            item = self.titles.exact(roman)
        return item


_ROMAN = ("", "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix")
