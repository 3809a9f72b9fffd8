"""Delexicalised explanations: slot names rendered, read back, and filled from the facts."""

import itertools
import re

import numpy as np
import pytest

from convrec import Recommender
from convrec.facts.render import Support, facts_text, fill_slots, render, slot_values
from convrec.schema import (
    Evidence,
    FanRatings,
    RequestMatch,
    SharedGenres,
    SourceShare,
    Standing,
)

A = Evidence("1", "Star Wars (1977)", 0.5, 5.0, 0.9)
A_SESSION = Evidence("1", "Star Wars (1977)", 0.5, None, 0.9)
B = Evidence("2", "Fargo (1996)", 0.3, 4.0, 0.8)
FANS = FanRatings(("1",), ("Star Wars (1977)",), 4.0, 126, 3.84)
FANS_LOW = FanRatings(("1",), ("Star Wars (1977)",), 4.0, 12, 2.5)
FANS2 = FanRatings(("1", "2"), ("Star Wars (1977)", "Fargo (1996)"), 4.0, 200, 4.02)
NEAR = SharedGenres(("Sci-Fi", "War"), 1, ("1",), ("Star Wars (1977)",))
WIDE = SharedGenres(("Comedy",), 2)
HIGH = Standing(3.91, 452, 9)
LOW = Standing(2.9, 52, 300)
ASKED = RequestMatch(("Comedy",), 1995, 1990, 2000)
SHARE = SourceShare("cf", 0.451)
POOL = (A, A_SESSION, B, FANS, FANS_LOW, FANS2, NEAR, WIDE, HIGH, LOW, ASKED, SHARE)


def _supports():
    """Every consistent combination of up to five facts."""
    for r in range(6):
        for combo in itertools.combinations(POOL, r):
            if (A in combo and A_SESSION in combo) or (HIGH in combo and LOW in combo):
                continue
            yield combo, Support.of(combo, 3.5)


def test_filled_slots_give_back_the_rendered_sentence_and_its_facts():
    n = 0
    for _, support in _supports():
        for key in ("1", "7", "13"):
            plain = render(support, key, set())
            slotted = render(support, key, set(), slots=True)
            if plain is None:
                assert slotted is None
                continue
            assert slotted is not None and slotted[1] == plain[1]  # the same facts
            assert not re.search(r"\d", slotted[0])  # no value is written, only slot names
            assert fill_slots(slotted[0], support) == plain[0]
            n += 1
    assert n > 1000


def test_fill_slots_refuses_what_the_facts_cannot_fill():
    support = Support.of((A_SESSION, B, FANS, HIGH), 3.5)
    text = "close to [ ta ]: [fn] people who liked it rated this one [ fm ] on average."
    assert fill_slots(text, support) == (
        "Close to Star Wars (1977): 126 people who liked it rated this one 3.8/5 on average."
    )
    # a slot where the phrasings never put one of its kind: true values in a false role
    assert fill_slots("people who liked [sm] gave it [fm] on average.", support) is None
    assert fill_slots("of the titles you liked, [ta] and [fn] are closest to it.", support) is None
    assert (
        fill_slots("close to [ta]: [fm] people who liked it have rated this one.", support) is None
    )
    assert fill_slots("close to [ta], which you rated [ra].", support) is None  # a session's
    assert fill_slots("rated [zz] by [sn] people.", support) is None  # no such slot
    assert fill_slots("rated [sm by [sn] people.", support) is None  # a stray bracket
    assert fill_slots("people who liked [tb] rated it [em].", support) is None  # no fans2 fact
    assert set(slot_values(support)) == {"ta", "tb", "rb", "fn", "fm", "cn", "sm", "sn", "kn", "kr"}


def test_facts_text_names_slots_in_place_of_values():
    facts = (A, B, FANS, FANS2, NEAR, WIDE, HIGH)
    plain = facts_text(facts, 3.5)
    assert plain == (
        "liked: Star Wars (1977) 5/5, Fargo (1996) 4/5; 126 who liked Star Wars (1977) rated it "
        "3.8/5; 200 who liked Star Wars (1977) or Fargo (1996) rated it 4.0/5; shares sci-fi "
        "and war with Star Wars (1977); shares comedy with 2 liked titles; 3.9/5 from 452 "
        "ratings; #9 most rated"
    )
    slotted = facts_text(facts, 3.5, slots=True)
    assert slotted == (
        "liked: [ta] [ra], [tb] [rb]; [fn] who liked [ta] rated it [fm]; [en] who liked [ta] or "
        "[tb] rated it [em]; shares [ga] with [ta]; shares [gs] with [gn] liked titles; [sm] "
        "from [sn] ratings; [kr] most rated"
    )
    named = set(re.findall(r"\[(\w+)\]", slotted))
    assert named <= set(slot_values(Support.of(facts, 3.5)))  # each one the facts can fill
    session = facts_text((A_SESSION, FANS_LOW, LOW), 3.5, slots=True)
    assert session == "liked: [ta]; [cn] who liked [ta] rated it; [kn] ratings"


@pytest.fixture(scope="module")
def slot_builder(ml100k):
    from convrec.evaluation.splits import random_split
    from convrec.llm import PromptBuilder
    from convrec.llm.prompts import PromptConfig
    from convrec.recommender.neighbours import item_neighbours

    split = random_split(ml100k)
    neighbours = item_neighbours(ml100k, split.train)
    builder = PromptBuilder(PromptConfig(fact_slots=True)).fit(ml100k, split.train, neighbours)
    return builder, split


def test_slot_training_examples_name_slots_and_show_a_share_as_sessions(slot_builder):
    from convrec.llm import Task

    builder, split = slot_builder
    rows = split.train[:400]
    records = builder.records(Task.EXPLANATION, rows, templates="explanation-5")
    sessions = [builder.session_shaped(int(r)) for r in rows]
    assert 0.2 < np.mean(sessions) < 0.4
    for record, session in zip(records, sessions, strict=True):
        facts = record.source.split("citing these facts: ", 1)[1]
        assert not re.search(r"\d", facts)  # slot names only
        assert "[" in record.target and not re.search(r"\d", record.target)
        assert ("[ra]" in facts or "[ra]" in record.target) is False if session else True
        if not session:
            # the example's prompt is the one inference writes for a known user
            prompt = builder.prompts(
                Task.EXPLANATION, np.array([record.user]), np.array([record.item]), "explanation-5"
            )[0]
            assert prompt == record.source
    known = [r for r, s in zip(records, sessions, strict=True) if not s]
    assert sum("[ra]" in r.source for r in known) > len(known) / 2
    # a session's few titles are often far from the item: no liked title to cite, as in chat
    shaped = [r for r, s in zip(records, sessions, strict=True) if s]
    distant = [r for r in shaped if "[ta]" not in r.source]
    assert len(distant) > len(shaped) / 10 and all("[ta]" not in r.target for r in distant)
    assert sum("[ta]" not in r.source for r in known) < len(distant)


def test_session_prompts_cite_no_rating_of_the_users(slot_builder):
    from convrec.llm import Task

    builder, _ = slot_builder
    items = np.array([49, 99], np.int32)  # two liked titles, the top rating for the profile
    history = (items, np.full(2, 5.0, np.float32))
    prompts = builder.prompts_for(Task.EXPLANATION, [history] * 3, np.arange(3), "explanation-5")
    assert all("[ra]" not in p and "[rb]" not in p for p in prompts)
    assert sum("liked: [ta], [tb];" in p for p in prompts) >= 2


class SlotLLM:
    """An LLM stand-in that writes a fixed delexicalised text (fact_slots is set)."""

    fact_slots = True

    def __init__(self, text):
        self.text = text

    def score_candidates(self, users, candidates):
        return np.where(candidates >= 0, candidates.astype(np.float32), -np.inf)

    def score_candidates_for(self, histories, candidates):
        return self.score_candidates(np.zeros(len(histories), np.int32), candidates)

    def predict_ratings(self, users, items):
        return np.full(len(users), 4.0, np.float32)

    def explain(self, users, items):
        return [self.text] * len(users)

    def explain_for(self, histories, items):
        return [self.text] * len(histories)


def test_the_explainer_fills_the_slots_from_each_items_facts_then_checks(ml100k):
    llm = SlotLLM("close to [ ta ], which you rated [ra].")
    rec = Recommender.build(ml100k, llm=llm)
    out = rec.recommend(user="1", k=3)
    for item in out:
        assert item.explanation_source == "llm"
        assert item.why is not None
        liked = item.why.facts[0]
        assert isinstance(liked, Evidence) and liked.user_rating is not None
        assert (
            item.explanation
            == f"Close to {liked.title}, which you rated {liked.user_rating:.0f}/5."
        )
    session = rec.recommend(liked=["Star Wars", "Fargo"], k=2)  # nobody rated them: no [ra]
    assert all(i.explanation_source == "template" for i in session)
    llm.text = "close to [ta]."
    first = rec.recommend(liked=["Star Wars"], k=2)[0]  # (the second would repeat it)
    assert (first.explanation_source, first.explanation) == ("llm", "Close to Star Wars (1977).")
    llm.text = "rated [zz] by many."  # a slot no fact fills
    assert all(i.explanation_source == "template" for i in rec.recommend(user="1", k=2))


class OptionsLLM(SlotLLM):
    """A stand-in that writes several delexicalised texts per item, best first."""

    def __init__(self, texts):
        self.texts = list(texts)

    def explain_options(self, users, items):
        return [list(self.texts) for _ in items]

    def explain_options_for(self, histories, items):
        return [list(self.texts) for _ in items]


def test_a_list_shows_each_items_first_passing_text_worded_unlike_the_ones_before(ml100k):
    texts = [
        "close to [ta], which you rated [zz].",  # no such slot: fails
        "close to [ta].",
        "of the titles you liked, [ta] is closest to it.",
    ]
    rec = Recommender.build(ml100k, llm=OptionsLLM(texts))
    before = rec.grounding.checked, rec.grounding.failed
    out = rec.recommend(user="1", k=3)
    assert [i.explanation_source for i in out] == ["llm"] * 3
    titles = [i.why.facts[0].title for i in out]
    assert out[0].explanation == f"Close to {titles[0]}."
    assert out[1].explanation == f"Of the titles you liked, {titles[1]} is closest to it."
    assert out[2].explanation == f"Close to {titles[2]}."  # no fresh wording left: the first
    # each item counts once in the check's tallies, passed when any of its texts passed
    assert (rec.grounding.checked - before[0], rec.grounding.failed - before[1]) == (3, 0)
    rec.llm.texts = texts[:1]
    rec.recommend(user="1", k=2)
    assert (rec.grounding.checked - before[0], rec.grounding.failed - before[1]) == (5, 2)


def test_a_list_never_shows_the_same_sentence_twice(ml100k):
    """One liked title, one phrasing: every item's text fills to the same sentence, so only
    the first is shown and the others get their rendered facts; all three passed the check."""
    rec = Recommender.build(ml100k, llm=OptionsLLM(["close to [ta]."]))
    before = rec.grounding.checked, rec.grounding.failed
    out = rec.recommend(liked=["Star Wars"], k=3)
    assert [i.explanation_source for i in out] == ["llm", "template", "template"]
    assert out[0].explanation == "Close to Star Wars (1977)."
    assert len({i.explanation for i in out}) == 3
    assert (rec.grounding.checked - before[0], rec.grounding.failed - before[1]) == (3, 0)


def test_a_text_that_names_a_liked_title_is_preferred(ml100k):
    """Of two passing texts, the one naming a liked title is shown, though the model ranked
    the genre sentence first; without a title to name, the genre sentence is shown."""
    genres = (
        "it shares [gs] with [gn] of the titles you liked, and averages [sm] over [sn] ratings."
    )

    def listed(texts):
        return Recommender.build(ml100k, llm=OptionsLLM(texts)).recommend(user="1", k=5)

    titled = listed(["close to [ta]."])
    both = listed([genres, "close to [ta]."])
    assert sum(i.explanation_source == "llm" for i in titled) >= 3
    for alone, chosen in zip(titled, both, strict=True):
        assert alone.item_id == chosen.item_id
        if alone.explanation_source == "llm":
            assert chosen.explanation == alone.explanation
    untitled = listed([genres, "close to [zz]."])  # the second fails: no such slot
    written = [i.explanation for i in untitled if i.explanation_source == "llm"]
    assert written and all(text.startswith("It shares ") for text in written)
