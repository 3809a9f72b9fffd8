"""Copy-only numbers in generated text: a digit may only continue a number the prompt contains.

A small seq2seq model that reads "4.1/5 from 48 viewers" in its prompt tends to write the
numbers it saw most in training ("3.7/5", "you rated 4/5") instead of the prompt's. Every number
an explanation states is checked against the facts, so a wrong one costs the whole text. The
processor here works on token ids, with the prompt's own tokenisation: a *number run* is a
stretch of digit tokens and the separators ``. / ,`` between them, starting with a digit. While
generating, the run that ends the text so far must stay a prefix of a run of the prompt; digit
tokens that would leave every prompt run get ``-inf``. Inside a number, the words a model writes
instead of a blocked digit ("4. one / five") and letter pieces that glue onto it ("4/5th") are
blocked too; tokens mixing digits and letters ("5th") are allowed only where the prompt has them.
Separators and other words are never blocked, so a number can end anywhere a prompt's number
could be cut (the fact check judges the rest). Which of the prompt's numbers goes where is the
model's choice: copying the wrong one (another title's rating) is left to the check.

A model that writes slot names instead of values (``[fm]``, filled in from the facts) has
:class:`CopySlots`: inside brackets, only a slot its prompt names may be written.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor

SEPARATORS = frozenset({".", "/", ","})
"""Tokens that may sit inside a number ("3.7/5", "1,024")."""

NUMBER_WORDS = frozenset(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
)
"""Words a model denied a digit writes instead ("4. one / five"): not allowed inside a number
run, free elsewhere ("one of the titles")."""

_PIECE_MARKS = "#▁Ġ"
"""Word-piece / sentencepiece / byte-BPE prefixes stripped before reading a token's text."""


def marks_words(vocab: dict[str, int]) -> bool:
    """Whether a vocabulary marks word starts (sentencepiece ``▁``, byte-BPE ``Ġ``) rather
    than continuations (WordPiece ``##``)."""
    return any(p[:1] in ("▁", "Ġ") for p in vocab)


def continues_word(piece: str, marked: bool) -> bool:
    """Whether ``piece`` attaches to the token before it (``##th``; in a vocabulary that
    ``marked`` word starts, a piece without the mark)."""
    return piece.startswith("##") or (marked and piece[:1] not in ("▁", "Ġ"))


@lru_cache(maxsize=8)
def _number_tokens(
    tokenizer: Any,
) -> tuple[frozenset[int], frozenset[int], frozenset[int], frozenset[int]]:
    """(digit, separator, blocked-inside-a-number, mixed) token ids of a vocabulary.

    Blocked inside a number: the number words, and letter pieces that attach to the token
    before them (WordPiece ``##th``; a piece without the ``▁`` / ``Ġ`` word mark where the
    vocabulary uses one), which turn "4/5" into "4/5th". Mixed: tokens of digits and letters
    ("5th", "1990s"), written only where the prompt has them.
    """
    vocab = tokenizer.get_vocab()
    marked = marks_words(vocab)
    digits, separators, inside, mixed = set(), set(), set(), set()
    for piece, token_id in vocab.items():
        text = piece.lstrip(_PIECE_MARKS)
        attached = continues_word(piece, marked)
        if text.isdigit() and text.isascii():
            digits.add(int(token_id))
        elif text in SEPARATORS:
            separators.add(int(token_id))
        elif any(c.isdigit() for c in text):
            mixed.add(int(token_id))
        elif (text.lower() in NUMBER_WORDS and not attached) or (attached and text.isalpha()):
            inside.add(int(token_id))
    return frozenset(digits), frozenset(separators), frozenset(inside), frozenset(mixed)


def number_runs(
    ids: Sequence[int], digits: frozenset[int], separators: frozenset[int]
) -> list[tuple[int, ...]]:
    """The number runs of a token id sequence: maximal stretches of digit and separator
    tokens, each from its first digit to its last digit."""
    runs: list[tuple[int, ...]] = []
    current: list[int] = []
    for token in [*ids, -1]:
        if token in digits or (current and token in separators):
            current.append(token)
            continue
        while current and current[-1] not in digits:
            current.pop()
        if current:
            runs.append(tuple(current))
        current = []
    return runs


def trailing_run(
    ids: Sequence[int], digits: frozenset[int], separators: frozenset[int]
) -> tuple[int, ...]:
    """The number run the text ends in (separators included, since the number may go on);
    ``()`` when the text does not end inside a number."""
    start = len(ids)
    while start > 0 and (ids[start - 1] in digits or ids[start - 1] in separators):
        start -= 1
    while start < len(ids) and ids[start] not in digits:
        start += 1
    return tuple(ids[start:])


class CopyNumbers(LogitsProcessor):
    """Blocks digit tokens that would write a number the row's prompt does not contain.

    Parameters
    ----------
    tokenizer
        The model's tokenizer (its vocabulary tells digit and separator tokens apart).
    prompt_ids
        Token ids of each prompt of the batch (padding and special tokens may stay in: they are
        neither digits nor separators).
    num_beams
        Rows per prompt in the generation batch (beam search expands each prompt).
    """

    def __init__(self, tokenizer: Any, prompt_ids: Sequence[Sequence[int]], num_beams: int = 1):
        self.digits, self.separators, self.words, mixed = _number_tokens(tokenizer)
        self.num_beams = num_beams
        self.next_digits: list[dict[tuple[int, ...], list[int]]] = []
        for ids in prompt_ids:
            table: dict[tuple[int, ...], set[int]] = {(): set(mixed.intersection(ids))}
            for run in number_runs(list(ids), self.digits, self.separators):
                for cut in range(len(run)):
                    if run[cut] in self.digits:
                        table.setdefault(run[:cut], set()).add(run[cut])
            self.next_digits.append({key: sorted(v) for key, v in table.items()})
        self._digit_ids = torch.tensor(sorted(self.digits | mixed), dtype=torch.long)
        self._word_ids = torch.tensor(sorted(self.words), dtype=torch.long)

    def allowed(self, row: int, generated: Sequence[int]) -> list[int]:
        """Digit (and mixed, "5th") tokens that may follow ``generated`` in prompt ``row``."""
        run = trailing_run(generated, self.digits, self.separators)
        return self.next_digits[row].get(run, [])

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        digit_ids = self._digit_ids.to(scores.device)
        digit_ids = digit_ids[digit_ids < scores.shape[-1]]
        word_ids = self._word_ids.to(scores.device)
        word_ids = word_ids[word_ids < scores.shape[-1]]
        for r, generated in enumerate(input_ids.tolist()):
            run = trailing_run(generated, self.digits, self.separators)
            keep = self.next_digits[r // self.num_beams].get(run, [])
            kept = scores[r, keep].clone() if keep else None
            scores[r, digit_ids] = -float("inf")
            if run:
                scores[r, word_ids] = -float("inf")  # no "4. one", no "4/5th"
            if kept is not None:
                scores[r, keep] = kept
        return scores


@lru_cache(maxsize=8)
def _bracket_tokens(tokenizer: Any) -> tuple[frozenset[int], frozenset[int]]:
    """(opening, closing) square bracket token ids of a vocabulary."""
    opening, closing = set(), set()
    for piece, token_id in tokenizer.get_vocab().items():
        text = piece.lstrip(_PIECE_MARKS)
        if text == "[":
            opening.add(int(token_id))
        elif text == "]":
            closing.add(int(token_id))
    return frozenset(opening), frozenset(closing)


def slot_runs(
    ids: Sequence[int], opening: frozenset[int], closing: frozenset[int]
) -> list[tuple[int, ...]]:
    """The bracketed runs of a token id sequence, brackets included (``[ ta ]``)."""
    runs, start = [], None
    for k, token in enumerate(ids):
        if token in opening:
            start = k
        elif token in closing and start is not None:
            runs.append(tuple(ids[start : k + 1]))
            start = None
    return runs


class CopySlots(LogitsProcessor):
    """Inside a ``[`` ... ``]`` slot name, only a continuation of a slot the row's prompt
    names may follow: a delexicalised explanation (:attr:`PromptConfig.fact_slots`) can
    name no slot its item's facts lack. Outside a slot nothing is blocked.

    A row whose own likeliest token was blocked (it wanted a slot the prompt lacks, or to
    open one where the prompt has none) is recorded in :attr:`overridden`: whatever it
    wrote there instead is a value in a role it was not written for ("people who liked
    [genres]"), so its text should not be used. Rows are tracked as given, so this holds
    for greedy decoding (beam search reorders its rows).

    Parameters are those of :class:`CopyNumbers`.
    """

    def __init__(self, tokenizer: Any, prompt_ids: Sequence[Sequence[int]], num_beams: int = 1):
        self.opening, self.closing = _bracket_tokens(tokenizer)
        self.num_beams = num_beams
        self.next_tokens: list[dict[tuple[int, ...], list[int]]] = []
        for ids in prompt_ids:
            table: dict[tuple[int, ...], set[int]] = {}
            for run in slot_runs(list(ids), self.opening, self.closing):
                for cut in range(1, len(run)):
                    table.setdefault(run[:cut], set()).add(run[cut])
            self.next_tokens.append({key: sorted(v) for key, v in table.items()})
        self.overridden: set[int] = set()

    def open_slot(self, generated: Sequence[int]) -> tuple[int, ...]:
        """The slot the text ends inside of, from its ``[``; ``()`` outside a slot."""
        for k in range(len(generated) - 1, -1, -1):
            if generated[k] in self.closing:
                return ()
            if generated[k] in self.opening:
                return tuple(generated[k:])
        return ()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        opening = [t for t in sorted(self.opening) if t < scores.shape[-1]]
        for r, generated in enumerate(input_ids.tolist()):
            table = self.next_tokens[r // self.num_beams]
            run = self.open_slot(generated)
            if not run:
                if not table:  # a prompt without slots: no slot to open
                    if int(scores[r].argmax()) in self.opening:
                        self.overridden.add(r)
                    scores[r, opening] = -float("inf")
                continue
            keep = table.get(run) or sorted(self.closing)
            if int(scores[r].argmax()) not in keep:
                self.overridden.add(r)
            kept = scores[r, keep].clone()
            scores[r, :] = -float("inf")
            scores[r, keep] = kept
        return scores


__all__ = [
    "NUMBER_WORDS",
    "SEPARATORS",
    "CopyNumbers",
    "CopySlots",
    "continues_word",
    "marks_words",
    "number_runs",
    "slot_runs",
    "trailing_run",
]
