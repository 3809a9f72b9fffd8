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
    marked = any(p[:1] in ("▁", "Ġ") for p in vocab)
    digits, separators, inside, mixed = set(), set(), set(), set()
    for piece, token_id in vocab.items():
        text = piece.lstrip(_PIECE_MARKS)
        attached = piece.startswith("##") or (marked and piece[:1] not in ("▁", "Ġ"))
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


__all__ = ["NUMBER_WORDS", "SEPARATORS", "CopyNumbers", "number_runs", "trailing_run"]
