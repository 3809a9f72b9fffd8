"""Copy-only numbers: generated digits can only continue a number the prompt contains."""

import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
torch = pytest.importorskip("torch")

from transformers import LogitsProcessor, LogitsProcessorList  # noqa: E402

from convrec.llm.backbone import BackboneConfig, load_backbone  # noqa: E402
from convrec.llm.copying import (  # noqa: E402
    CopyNumbers,
    CopySlots,
    number_runs,
    slot_runs,
    trailing_run,
)
from convrec.llm.scoring import Decoding, Scorer  # noqa: E402

DIGITS = frozenset({10, 11, 12, 13})  # "1" "2" "3" "4"
SEPS = frozenset({20, 21})  # "." "/"


class _Vocab:
    """The one tokenizer method the processor reads."""

    def __init__(self, vocab):
        self.vocab = vocab

    def get_vocab(self):
        return self.vocab


VOCAB = _Vocab(
    {
        "1": 10,
        "2": 11,
        "##3": 12,
        "4": 13,
        ".": 20,
        "/": 21,
        "the": 1,
        "1a": 2,
        "five": 3,
        "##th": 4,
        "5th": 5,
        "1990s": 6,
    }
)


def test_number_runs_span_first_to_last_digit():
    ids = [1, 20, 10, 20, 11, 21, 13, 20, 1, 12, 1, 21, 1]
    assert number_runs(ids, DIGITS, SEPS) == [(10, 20, 11, 21, 13), (12,)]
    assert number_runs([], DIGITS, SEPS) == []


def test_trailing_run_keeps_separators_and_drops_words():
    assert trailing_run([1, 10, 20], DIGITS, SEPS) == (10, 20)
    assert trailing_run([1, 20, 10], DIGITS, SEPS) == (10,)
    assert trailing_run([10, 1], DIGITS, SEPS) == ()
    assert trailing_run([1, 20], DIGITS, SEPS) == ()


def test_only_the_prompts_numbers_can_be_written():
    # prompt 0 says "1.2/4" and "3"; prompt 1 has no number at all
    proc = CopyNumbers(VOCAB, [[1, 10, 20, 11, 21, 13, 1, 12], [1, 1]])
    assert proc.digits == DIGITS and proc.separators == SEPS  # "1a" is not a digit
    assert proc.allowed(0, [1]) == [10, 12]  # a number starts as one of the prompt's
    assert proc.allowed(0, [1, 10]) == []  # "1" goes on with "." only
    assert proc.allowed(0, [1, 10, 20]) == [11]
    assert proc.allowed(0, [1, 10, 20, 11, 21]) == [13]
    assert proc.allowed(0, [1, 10, 20, 13]) == []  # "1.4" is nowhere in the prompt
    assert proc.allowed(1, [1]) == []
    scores = torch.zeros(2, 30)
    scores[:, 13] = 5.0  # both rows want "4"
    out = proc(torch.tensor([[1, 10, 20, 11, 21], [1, 1, 1, 1, 1]]), scores.clone())
    assert out[0].argmax() == 13  # "1.2/" + "4": the prompt's number
    assert torch.isinf(out[1, sorted(DIGITS)]).all()  # no digit at all in row 1
    assert (out[:, [1, 20, 21]] == 0).all()  # other words and separators: never blocked
    assert torch.isinf(out[:, 2]).all()  # "1a" mixes digits and letters: a number too
    assert torch.isinf(out[0, 3]) and out[1, 3] == 0  # a number word: only inside a number
    assert torch.isinf(out[0, 4]) and out[1, 4] == 0  # no "4/5th" either
    assert torch.isinf(out[:, 5]).all()  # nor a "5th" the prompt does not have
    with_mixed = CopyNumbers(VOCAB, [[1, 6, 1]])
    assert with_mixed.allowed(0, [1]) == [6]  # "1990s" is in this prompt


class _PreferDigits(LogitsProcessor):
    """Makes every digit token the model's first wish, so copying is what decides."""

    def __init__(self, digit_ids):
        self.digit_ids = sorted(digit_ids)

    def __call__(self, input_ids, scores):
        scores[:, self.digit_ids] += 1e4
        return scores


@pytest.mark.parametrize("beams", [1, 3])
def test_generation_copies_numbers_from_its_prompt(tiny_t5_dir, beams):
    backbone = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir)), lora=False)
    tok = backbone.tokenizer
    prompts = ["item 12 is rated 3.4/5 by 27 users", "no number here", "year 1995 and 7"]
    batch = tok(prompts, return_tensors="pt", padding=True)
    copy = CopyNumbers(tok, batch["input_ids"].tolist(), beams)
    assert copy.digits, "the tiny vocabulary has digit tokens"
    config = Scorer(backbone)._generation_config(12, Decoding(num_beams=beams))
    processors = LogitsProcessorList([_PreferDigits(copy.digits), copy])
    out = backbone.model.generate(**batch, generation_config=config, logits_processor=processors)
    prompt_ids = batch["input_ids"].tolist()
    prompt_runs = [number_runs(ids, copy.digits, copy.separators) for ids in prompt_ids]
    wrote_digits = False
    for row, ids in enumerate(out.tolist()):
        for run in number_runs(ids, copy.digits, copy.separators):
            wrote_digits = True
            assert any(p[: len(run)] == run for p in prompt_runs[row]), (row, run)
    assert wrote_digits  # the digits the model wanted were written where the prompt allowed


def test_scorer_generation_applies_the_copy_rule(tiny_t5_dir):
    backbone = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir)), lora=False)
    prompts = ["item 12 is rated 3.4/5 by 27 users", "no number here"]
    scorer = Scorer(backbone, batch_size=2)
    copied, _ = scorer.generate(prompts, 16)  # copying is the default
    plain, _ = scorer.generate(prompts, 16, Decoding(copy_numbers=False))
    assert len(copied) == len(plain) == 2
    assert not any(ch.isdigit() for ch in copied[1])  # nothing to copy from prompt 1


def test_attached_letters_follow_the_vocabularys_word_marks():
    from convrec.llm.copying import _number_tokens

    vocab = _Vocab({"▁4": 1, "th": 2, "▁the": 3, "▁five": 4, "▁5th": 5})
    digits, seps, inside, mixed = _number_tokens(vocab)
    assert digits == {1} and not seps and inside == {2, 4}  # "th" attaches, "▁the" does not
    assert mixed == {5}


SLOT_VOCAB = _Vocab({"the": 1, "[": 7, "]": 8, "ta": 30, "f": 31, "##n": 32, "fm": 33, "ra": 34})


def test_only_the_prompts_slot_names_can_be_written():
    # prompts 0 and 1 name [ta] and [f ##n]; prompt 2 names no slot
    named = [1, 7, 30, 8, 1, 7, 31, 32, 8]
    proc = CopySlots(SLOT_VOCAB, [named, named, [1, 1]])
    assert slot_runs([1, 7, 30, 8, 7, 31], proc.opening, proc.closing) == [(7, 30, 8)]
    assert proc.open_slot([1, 7, 31]) == (7, 31) and proc.open_slot([7, 30, 8, 1]) == ()
    scores = torch.zeros(3, 40)
    scores[:, 34] = 5.0  # every row wants "ra"
    out = proc(torch.tensor([[1, 1, 7], [1, 7, 31], [1, 1, 1]]), scores.clone())
    assert sorted(torch.isfinite(out[0]).nonzero().ravel().tolist()) == [30, 31]  # after "["
    assert torch.isfinite(out[1]).nonzero().ravel().tolist() == [32]  # "[ f" goes on "##n"
    assert proc.overridden == {0, 1}  # both wanted "ra", which their prompts do not name
    free = proc(torch.tensor([[1, 1, 1], [7, 30, 8], [1, 1, 1]]), torch.zeros(3, 40))
    assert torch.isfinite(free[:2]).all()  # outside a slot nothing is blocked
    assert torch.isinf(free[2, 7]) and torch.isfinite(free[2, 30])  # no slot: no "[" either
    assert proc.overridden == {0, 1}  # those rows' own choices were free
    wants_slot = torch.zeros(3, 40)
    wants_slot[2, 7] = 1.0
    proc(torch.tensor([[1], [1], [1]]), wants_slot)
    assert proc.overridden == {0, 1, 2}  # row 2 wanted a "[" its prompt has no slot for
    beams = CopySlots(SLOT_VOCAB, [[1, 7, 30, 8], [1, 1]], num_beams=2)
    out = beams(torch.tensor([[1]] * 4), torch.zeros(4, 40))
    assert torch.isfinite(out[:2, 7]).all() and torch.isinf(out[2:, 7]).all()  # no slot: no "["
