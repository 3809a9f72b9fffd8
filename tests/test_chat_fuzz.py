"""Fuzzing the chat entry point (``Chat.respond``) over CF-only MovieLens-100k: any message,
history, k and alpha gets a real reply; only a bad k or alpha is a ValueError.

The strategies here are also what ``benchmarks/bench_fuzz.py`` draws its longer run from.
"""

import math
from numbers import Integral, Real

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convrec import Chat, Recommender

MAX_K = 50
"""The largest ``k`` that ``Chat.respond`` takes (``convrec.dialogue.chat.MAX_K``)."""

TITLES = [
    "Star Wars", "Star Wars (1977)", "Fargo", "Toy Story (1995)", "Heat", "Twelve Monkeys",
    "Godfather, The", "The Godfather", "Pulp Fiction", "Casablanca", "Alien", "Babe",
    "Seven (Se7en)", "Usual Suspects, The", "Postino, Il", "Mr. Holland's Opus", "Apollo 13",
    "Dr. Strangelove", "Shanghai Triad (Yao a yao yao dao waipo qiao)", "Amelie", "Titanic",
    "star wars", "STAR WARS", "Str Wars", "Fargo Fargo", "Toy Storey",
]  # fmt: skip
WORDS = [
    "I", "loved", "liked", "hated", "disliked", "more", "why", "top", "3", "10", "only", "not",
    "comedies", "horror", "drama", "from", "the", "1990s", "1800s", "before", "after", "2000",
    "like", "rate", "tell", "me", "about", "reset", "start over", "help", "switch", "to",
    "music", "books", "movies", "instruments", "and", "but", "no", "recommend", "something",
    "similar", "?", "!", ",", "...", "user", "42", "as", "give", "me", "5", "films",
]  # fmt: skip
MARKUP = [
    "<script>alert(1)</script>", '<img src="http://host/x.png">', "<b>bold</b>", "</div>",
    "**bold**", "_it_", "[link](http://example.com)", "![img](http://example.com/x.png)",
    "```\ncode\n```", "# heading", "| a | b |\n|---|---|", "&amp; &lt;", "\\", "<!--", "]]>",
    "%s %d {0} {}", "${x}", "{{x}}", "\u202e", "\ufeff", "\u200b", "\x00", "\x1b[31m", "\r\n",
]  # fmt: skip
NUMBERS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["top -3", "top 0", "top 1e9", "top 99999999999999999999", "top 3.5"]),
    st.sampled_from(["from 1800 to 3000", "before -5", "after 1e400", "10**100", "0x1f"]),
)
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)  # surrogates too
control_text = st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=40)
long_text = st.builds(
    lambda piece, times: piece * times, st.text(min_size=1, max_size=12), st.integers(300, 3000)
)
noisy_titles = st.lists(
    st.one_of(st.sampled_from(TITLES), st.sampled_from(WORDS), st.sampled_from(MARKUP), any_text),
    min_size=1,
    max_size=10,
).flatmap(
    lambda parts: st.sampled_from([" ", "", ", ", "\n", " and "]).map(lambda s: s.join(parts))
)
odd_objects = st.one_of(
    st.none(), st.integers(), st.floats(), st.binary(max_size=20), st.booleans(),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers()),
)  # fmt: skip

messages = st.one_of(
    any_text,
    control_text,
    st.sampled_from(MARKUP),
    NUMBERS,
    noisy_titles,
    noisy_titles,  # the most telling kind: twice the weight
    long_text,
    odd_objects,
).filter(lambda m: not (isinstance(m, str) and "Sorry" in m))
"""A chat message: mostly text (any unicode, control characters, markup, numbers, titles in
noise, very long), sometimes not text at all."""

_odd_ks = st.one_of(
    st.integers(-3, MAX_K + 3), st.integers(), st.floats(allow_nan=True), st.booleans(),
    st.text(max_size=3), st.just(float(MAX_K)),
)  # fmt: skip
_odd_alphas = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 3), st.booleans(),
    st.text(max_size=4),
)  # fmt: skip


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy, odds: int = 8) -> st.SearchStrategy:
    """``odd`` about one draw in ``odds``, ``usual`` otherwise (``st.one_of`` alone leans to the
    odd branches, and most conversations should go on with values the chat takes)."""
    return st.integers(1, odds).flatmap(lambda r: odd if r == 1 else usual)


ks = mostly(st.one_of(st.none(), st.integers(1, MAX_K), st.just(np.int64(3))), _odd_ks)
alphas = mostly(st.one_of(st.none(), st.floats(0, 1), st.just(np.float32(0.5))), _odd_alphas)


def k_is_valid(k: object) -> bool:
    """Whether ``Chat.respond`` takes this ``k`` (its documented rule)."""
    if k is None:
        return True
    return isinstance(k, Integral) and not isinstance(k, bool) and 1 <= int(k) <= MAX_K


def alpha_is_valid(alpha: object) -> bool:
    """Whether ``Chat.respond`` takes this ``alpha`` (its documented rule)."""
    if alpha is None:
        return True
    if isinstance(alpha, bool) or not isinstance(alpha, Real):
        return False
    return not math.isnan(float(alpha)) and 0.0 <= float(alpha) <= 1.0


_text_or_odd = st.one_of(messages, odd_objects)
_roles = st.one_of(st.sampled_from(["user", "assistant"]), st.sampled_from(["system", "tool"]),
                   odd_objects)  # fmt: skip
_entries = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": messages}),
    st.fixed_dictionaries({"role": _roles, "content": _text_or_odd}),
    st.fixed_dictionaries({"role": st.just("user")}),  # no content
    st.fixed_dictionaries(
        {"role": st.just("user"), "content": st.lists(
            st.fixed_dictionaries({"type": st.just("text"), "text": messages}), max_size=2)}
    ),  # content blocks
    st.tuples(_text_or_odd, _text_or_odd),  # (user, assistant) pairs
    st.lists(_text_or_odd, max_size=3),
    st.recursive(st.text(max_size=5), lambda inner: st.lists(inner, max_size=3), max_leaves=8),
    odd_objects,
)  # fmt: skip
_malformed = st.one_of(
    st.lists(_entries, max_size=8),
    st.builds(lambda entry, times: [entry] * times, _entries, st.integers(50, 400)),  # huge
    odd_objects,
    st.text(max_size=20),  # a string is a sequence too
)
_well_formed = st.one_of(
    st.none(),
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant"]), "content": noisy_titles}
        ),
        max_size=6,
    ),
)
histories = mostly(_well_formed, _malformed, odds=3)
"""A chat history as a client could send it: Gradio messages, pairs, or anything at all."""

conversations = st.lists(messages, min_size=1, max_size=6)
"""Messages sent one after another, each with the history so far."""


# -- the test -----------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=1200,  # about 2,300 replies and 450 refused k / alpha values
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible in CI
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def chat(ml100k):
    return Chat({"ml-100k": Recommender.build(ml100k)})


def _check(reply, sent):
    assert isinstance(reply.text, str) and reply.text.strip(), (sent, reply)
    assert "Sorry" not in reply.text, (sent, reply.text[:300])


@FUZZ
@given(history=histories, messages=conversations, k=ks, alpha=alphas)
def test_any_conversation_gets_a_real_reply(chat, history, messages, k, alpha):
    """Each message after a (maybe malformed) history, then with the replies carried on."""
    valid = k_is_valid(k) and alpha_is_valid(alpha)
    carried = history
    for message in messages:
        if not valid:
            with pytest.raises(ValueError, match=r"k must be|alpha must be"):
                chat.respond(message, carried, k=k, alpha=alpha)
            return
        reply = chat.respond(message, carried, k=k, alpha=alpha)
        _check(reply, (message, k, alpha))
        base = list(carried) if isinstance(carried, list) else []
        carried = [
            *base,
            {"role": "user", "content": message},
            {"role": "assistant", "content": reply.text},
        ]
