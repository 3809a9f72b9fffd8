"""Dialogue understanding: title matching, message -> Intent, the reply lines read back, and
state replayed from history."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convrec.data.titles import TitleIndex, display_title, normalise_title
from convrec.dialogue import (
    Act,
    DialogueState,
    IntentParser,
    item_line,
    listed_titles,
    switch_line,
    switched_to,
)
from convrec.dialogue.lines import md, unmd
from convrec.dialogue.references import Context
from convrec.dialogue.replies import ranked_line
from convrec.schema import Evidence, Explanation, ItemFilter, ScoredItem

TITLES = [
    "Matrix, The (1999)",  # 0
    "Toy Story (1995)",  # 1
    "Alien (1979)",  # 2
    "Aliens (1986)",  # 3
    "Star Wars (1977)",  # 4
    "Godfather, The (1972)",  # 5
    "Cape Fear (1962)",  # 6
    "Cape Fear (1991)",  # 7
    "Heat (1995)",  # 8
    "Shawshank Redemption, The (1994)",  # 9
    "Seven (Se7en) (1995)",  # 10
    "L.A. Confidential (1997)",  # 11
    "Mr. Holland's Opus (1995)",  # 12
    "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1963)",  # 13
    "Mrs. Doubtfire (1993)",  # 14
    "Braveheart (1995)",  # 15
]
YEARS = np.array(
    [1999, 1995, 1979, 1986, 1977, 1972, 1962, 1991, 1995, 1994, 1995, 1997, 1995, 1963, 1993,
     1995], np.int32,
)  # fmt: skip
POPULARITY = np.array([50, 40, 30, 20, 60, 45, 5, 10, 15, 55, 25, 35, 12, 22, 18, 33], np.float64)
GENRES = ["Action", "Animation", "Children's", "Comedy", "Horror", "Sci-Fi", "Romance", "Drama",
          "Western", "Thriller"]  # fmt: skip


@pytest.fixture(scope="module")
def parser():
    index = TitleIndex(TITLES, YEARS, POPULARITY)
    domains = {"movies": ("films",), "music": ("musical instruments", "instruments")}
    return IntentParser(index, GENRES, (1960, 1999), domains)


def test_title_normalisation_handles_articles_years_and_case():
    assert normalise_title("Matrix, The (1999)") == "matrix"
    assert normalise_title("The Matrix") == "matrix"
    assert normalise_title("the  MATRIX!") == "matrix"
    assert display_title("Matrix, The (1999)", 1999) == "The Matrix (1999)"
    assert display_title("Toy Story", 1995) == "Toy Story (1995)"


def test_title_index_exact_fuzzy_and_remakes(parser):
    titles = parser.titles
    assert titles.exact("The Matrix") == 0
    assert titles.exact("matrix (1999)") == 0
    assert titles.resolve("Teh Matrix")[0] == 0  # typo
    assert titles.resolve("shawshank")[0] == 9  # missing words
    assert titles.exact("Cape Fear") == 7  # the more popular remake
    assert titles.exact("Cape Fear (1962)") == 6  # the year picks the original
    item, suggestions = titles.resolve("Alein")
    assert item in (2, 3) or set(suggestions) & {2, 3}
    assert titles.resolve("Zzyzx Road") == (None, [])


def test_spot_in_any_case_finds_lowercase_single_word_titles(parser):
    titles = parser.titles
    assert titles.spot("heat is a thriller") == []  # chat: "heat" may be a plain word
    assert [m.item for m in titles.spot("heat is a thriller", any_case=True)] == [8]
    # a name guessed from reviews ("Stand") is a plain word in lower-case model text
    guessed = TitleIndex(["Stand", "Desk Stand"], np.full(2, -1), np.ones(2), np.zeros(2, bool))
    assert guessed.spot("great stand", any_case=True) == []
    assert [m.item for m in guessed.spot("a desk stand", any_case=True)] == [1]
    assert guessed.restore("great stand") == "Great stand"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("matrix, the is an average match for your taste.",
         "The Matrix (1999) is an average match for your taste."),
        ("you will enjoy star wars because you liked godfather, the (1972).",
         "You will enjoy Star Wars (1977) because you liked The Godfather (1972)."),
        ("heat is a thriller pick.", "Heat (1995) is a thriller pick."),
        ("the shawshank redemption and cape fear (1962) again",
         "The Shawshank Redemption (1994) and Cape Fear (1962) again"),
        ("you liked seven ( se7en ) and heat.", "You liked Seven (Se7en) (1995) and Heat (1995)."),
        ("great sound for the price .", "Great sound for the price."),
        ("not for you : you disliked alien ( 1979 ) .",
         "Not for you: you disliked Alien (1979)."),
    ],
)  # fmt: skip
def test_restore_writes_model_text_titles_as_displayed(parser, text, shown):
    assert parser.titles.restore(text) == shown


@pytest.mark.parametrize(
    ("message", "acts", "field", "items"),
    [
        ("I loved The Matrix and Toy Story", {Act.LIKE, Act.RECOMMEND}, "liked", (0, 1)),
        ("I hated Aliens", {Act.DISLIKE}, "disliked", (3,)),
        ("not Heat", {Act.DISLIKE}, "disliked", (8,)),
        ("I've already seen Star Wars", {Act.SEEN}, "seen", (4,)),
        ("something like Toy Story", {Act.MORE_LIKE, Act.RECOMMEND}, "more_like", (1,)),
        ("why The Godfather?", {Act.WHY}, "asked", (5,)),
        ("Why did you recommend the matrix?", {Act.WHY}, "asked", (0,)),
        ("how would I rate Alien?", {Act.RATE}, "asked", (2,)),
        ("would I like Heat (1995)?", {Act.RATE}, "asked", (8,)),
        ("tell me about Star Wars", {Act.ABOUT}, "asked", (4,)),
    ],
)
def test_intents(parser, message, acts, field, items):
    intent = parser.parse(message)
    assert acts <= set(intent.acts), intent
    if items:
        assert getattr(intent, field) == items


def test_why_question_does_not_trigger_a_new_list(parser):
    assert Act.RECOMMEND not in parser.parse("Why did you recommend Heat?").acts


def test_constraints_genres_years_and_negation(parser):
    intent = parser.parse("Give me 5 sci-fi films from the 90s but no horror")
    assert intent.k == 5
    assert intent.constraints == ItemFilter(("Sci-Fi",), ("Horror",), 1990, 1999)
    assert Act.RECOMMEND in intent.acts
    assert parser.parse("kids movies after 1990").constraints == ItemFilter(
        ("Children's",), (), 1991, None
    )
    assert parser.parse("comedies between 1970 and 1980").constraints.year_min == 1970
    assert parser.parse("anything before 1980").constraints.year_max == 1979
    assert parser.parse("I hate horror").constraints.exclude_genres == ("Horror",)
    assert parser.parse("classic romance").constraints.year_max == 1969


def test_user_domain_reset_help(parser):
    assert parser.parse("I'm user 42").user == "42"
    intent = parser.parse("switch to musical instruments")
    assert intent.domain == "music" and intent.constraints.empty
    assert parser.parse("reset").acts == (Act.RESET,)
    for message in ("", "help", "?", "   "):
        assert parser.parse(message).acts == (Act.HELP,)


def test_unknown_title_gives_suggestions(parser):
    intent = parser.parse("why Aleins?")
    assert intent.asked == ()
    assert len(intent.unresolved) == 1
    assert set(intent.unresolved[0].suggestions) & {2, 3}


def test_a_typo_after_a_like_asks_did_you_mean_instead_of_guessing(parser):
    intent = parser.parse("I liked teh matrix")
    assert intent.liked == ()
    assert intent.unresolved[0].suggestions[0] == 0


def test_huge_input_is_bounded(parser):
    intent = parser.parse("I loved Toy Story " + "x" * 100_000)
    assert intent.liked == (1,)


def test_state_replays_history_and_reads_shown_items(parser):
    history = [
        {"role": "user", "content": "I'm user 7. I loved Toy Story and Alien"},
        {"role": "assistant", "content": f"Here you go:\n{item_line(1, 'Star Wars (1977)')} 4.6"},
        {"role": "user", "content": "actually I hated Alien, and no horror"},
        {"role": "user", "content": "I've seen The Matrix"},
    ]
    state = DialogueState.from_history(history, {"movies": parser}, "movies")
    assert state.user == "7"
    assert state.liked == [1]
    assert state.disliked == [2]
    assert state.seen == [0]
    assert state.shown == [4]
    assert state.constraints.exclude_genres == ("Horror",)
    assert state.excluded() == {0, 1, 2, 4}
    # the same history as (user, assistant) pairs gives the same state
    pairs = [(history[0]["content"], history[1]["content"]), (history[2]["content"], None),
             (history[3]["content"], None)]  # fmt: skip
    assert DialogueState.from_history(pairs, {"movies": parser}, "movies") == state


def test_reset_and_domain_switch_clear_the_state(parser):
    parsers = {"movies": parser, "music": parser}
    history = [("I loved Toy Story", None), ("switch to music", None)]
    state = DialogueState.from_history(history, parsers, "movies")
    assert state.domain == "music" and state.liked == []
    history = [("I loved Toy Story", None), ("reset", None)]
    assert DialogueState.from_history(history, parsers, "movies") == DialogueState("movies")


def test_malformed_history_is_ignored(parser):
    junk = [None, 3, {"role": 1}, ("a",), {"role": "user", "content": None}, "text"]
    state = DialogueState.from_history(junk, {"movies": parser}, "movies")
    assert state == DialogueState("movies")


_WORDS = [
    "I", "loved", "hated", "not", "why", "rate", "the", "matrix", "Toy", "Story", "user", "42",
    "switch", "to", "music", "90s", "after", "1990", "no", "horror", "sci-fi", "more", "like",
    "?", "!", ",", "and", "'", '"', "reset", "help", "(1999)", "Cape", "Fear", "top", "5",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.sampled_from(_WORDS), max_size=25).map(" ".join),
    )
)
def test_parser_never_raises(parser, message):
    intent = parser.parse(message)
    assert all(isinstance(a, Act) for a in intent.acts)
    assert all(0 <= i < len(TITLES) for i in (*intent.liked, *intent.disliked, *intent.asked))


# ---------------------------------------------------------------------- reply lines read back


def _reply(titles, why="You chose Alien (1979); people who chose those often chose it too."):
    """A reply as the chat writes it: a lead, then one ranked line per title."""
    items = [
        ScoredItem(str(r), t, 1.0, {}, 3.96, (), Explanation(why, (Evidence("2", "Alien", 1.0),)))
        for r, t in enumerate(titles)
    ]
    return "Because you like Alien (1979):\n" + "\n".join(
        ranked_line(r, it) for r, it in enumerate(items, 1)
    )


def test_every_ml100k_title_reads_back_from_its_ranked_line(ml100k):
    from convrec import Recommender

    rec = Recommender.build(ml100k)
    titles = [rec.titles.display(i) for i in range(ml100k.n_items)]
    assert {"M*A*S*H (1970)", "Seven (Se7en) (1995)"} <= set(titles)  # stars, parentheses
    assert any("," in t for t in titles) and any("&" in t for t in titles)
    for start in range(0, len(titles), 50):  # whole replies of 50 lines
        chunk = titles[start : start + 50]
        assert listed_titles(_reply(chunk)) == chunk
    # and each title read back names its own item (remakes: the more popular one)
    for t in titles:
        assert rec.titles.display(rec.titles.exact(t)) == t
    # markdown specials are escaped so that a title is shown as written, never as markup
    assert item_line(1, "M*A*S*H (1970)") == "1. **M\\*A\\*S\\*H (1970)**"


_LINE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"))


@settings(max_examples=500, deadline=None)
@given(st.lists(_LINE_TEXT.filter(bool), min_size=1, max_size=4), _LINE_TEXT)
def test_any_title_reads_back_whatever_the_line_says_after_it(titles, why):
    # markdown-heavy titles (**, a trailing *, backslashes) are escaped on writing only
    assert listed_titles(_reply(titles, why)) == titles
    bare = "\n".join(item_line(r, t) for r, t in enumerate(titles, 1))
    assert listed_titles(bare) == titles


@pytest.mark.parametrize("name", ["ml-100k", "amazon-mi5", "a**b", "x*", "back\\slash"])
def test_switch_line_reads_back(name):
    assert switched_to(switch_line(name) + " (gadgets).\n\n1. **Alien (1979)**") == name
    assert switched_to("I liked " + switch_line(name)) is None


def test_ranked_line_shows_the_reason_without_the_stated_rating():
    stated = Explanation("You chose Alien (1979).", (), "template", predicted_rating=4.26)
    assert stated.text == "You chose Alien (1979). Predicted rating: 4.3/5."
    item = ScoredItem("1", "Aliens (1986)", 1.0, {}, 4.26, (), stated)
    assert item.explanation == stated.text and item.explanation_source == "template"
    assert ranked_line(2, item) == (
        "2. **Aliens (1986)** — predicted 4.3/5 — You chose Alien (1979)."
    )
    assert ranked_line(1, ScoredItem("1", "Aliens (1986)", 1.0)) == "1. **Aliens (1986)**"


def test_dialogue_and_ui_use_only_the_recommenders_public_surface():
    """No ``rec.<x>`` in dialogue/ or ui/ reaches past the Recommender's public methods and
    its documented attributes (``titles``, ``config``, ``llm``): not ``data``, ``rows``,
    ``popularity``, ``similarity``, ``profiles``, ``explainer``, ``ranker`` or ``_x``."""
    from convrec import Recommender

    public = {n for n in vars(Recommender) if not n.startswith("_")} | {"titles", "llm"}
    src = Path(__file__).resolve().parents[1] / "src" / "convrec"
    files = [*(src / "dialogue").glob("*.py"), *(src / "ui").glob("*.py")]
    reached = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("rec", "recommender")
            ):
                reached.add((path.name, node.attr))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Subscript):
                base = node.value.value  # recommenders[name].x
                if isinstance(base, ast.Name) and base.id.startswith("recommenders"):
                    reached.add((path.name, node.attr))
    assert {attr for _, attr in reached} >= {"titles", "item_id", "recommend", "why"}
    assert sorted(r for r in reached if r[1] not in public) == []


# ---------------------------------------------------------------------- titles people write


STRANGELOVE = "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1963)"


@pytest.fixture(scope="module")
def ml_titles(ml100k):
    return TitleIndex(ml100k.catalog.title, ml100k.catalog.year, np.ones(ml100k.n_items))


@pytest.mark.parametrize(
    ("mention", "title"),
    [
        ("L.A. Confidential", "L.A. Confidential (1997)"),
        ("la confidential", "L.A. Confidential (1997)"),
        ("Mr. Holland's Opus", "Mr. Holland's Opus (1995)"),
        ("mr hollands opus", "Mr. Holland's Opus (1995)"),
        ("Dr. Strangelove", STRANGELOVE),
        ("Mrs. Doubtfire", "Mrs. Doubtfire (1993)"),
        ("the godfather", "The Godfather (1972)"),
        ("Godfather, The", "The Godfather (1972)"),
        ("godfather part 2", "The Godfather: Part II (1974)"),
        ("shawshank", "The Shawshank Redemption (1994)"),
        ("E.T.", "E.T. the Extra-Terrestrial (1982)"),
        ("mash", "M*A*S*H (1970)"),
        ("star wors", "Star Wars (1977)"),
        ("pulp fction", "Pulp Fiction (1994)"),
        ("usual suspect", "The Usual Suspects (1995)"),
        ("Seven", "Seven (Se7en) (1995)"),
        ("empire strikes back", "The Empire Strikes Back (1980)"),
    ],
)  # fmt: skip
def test_titles_as_people_write_them(ml_titles, mention, title):
    item, _ = ml_titles.resolve(mention)
    assert item is not None and ml_titles.display(item) == title


def test_a_title_not_in_the_catalogue_gets_no_far_fetched_suggestions(ml_titles):
    assert ml_titles.resolve("the matrx") == (None, [])
    item, close = ml_titles.resolve("star trek")  # several Star Treks: ask which
    assert item is None and len(close) == 3
    assert all("Star Trek" in ml_titles.display(i) for i in close)


def test_abbreviated_titles_are_spotted_in_a_sentence(ml_titles):
    text = "I loved Braveheart and L.A. Confidential, also Dr. Strangelove"
    found = ml_titles.spot(text, short=True)
    assert [m.text for m in found] == ["Braveheart", "L.A. Confidential", "Dr. Strangelove"]
    assert all(text[m.start : m.end] == m.text for m in found)
    assert [m.text for m in ml_titles.spot(text)] == ["Braveheart", "L.A. Confidential"]


@pytest.mark.parametrize(
    ("message", "liked"),
    [
        ("I loved Braveheart and L.A. Confidential", (15, 11)),
        ("I loved Mr. Holland's Opus, Dr. Strangelove and Mrs. Doubtfire.", (12, 13, 14)),
        ("i liked the godfather and la confidential", (5, 11)),
        ("i liked star wors", (4,)),
        ("loved mrs doubtfire!! also braveheart", (14, 15)),
        ("my favourite movies are heat, toy story and braveheart", (8, 1, 15)),
        ("i hate horror. love action though, especially heat and aliens", (8, 3)),
    ],
)
def test_several_titles_in_one_message_are_all_kept(parser, message, liked):
    intent = parser.parse(message)
    assert intent.liked == liked and not intent.unresolved


def test_unknown_titles_are_reported_once_and_only_when_title_like(parser):
    intent = parser.parse("i liked inception. I really liked Inception, and inception too")
    assert [u.text for u in intent.unresolved] == ["inception"]
    assert intent.unresolved[0].suggestions == ()
    long = parser.parse(
        "I loved the acting and the great characters, the plot was amazing and the soundtrack "
        "too. I really liked Heat and the way it ends. Also great characters in Toy Story!"
    )
    assert long.unresolved == () and set(long.liked) == {8, 1}
    for message in ("I didn't like Heat at all", "i loved toy story with my kids"):
        assert parser.parse(message).unresolved == ()


# ---------------------------------------------------------------------- references

LAST = (4, 1, 8, 2, 3)  # Star Wars, Toy Story, Heat, Alien, Aliens
CONTEXT = Context(LAST, focus=5)  # the last list, and The Godfather last discussed


@pytest.mark.parametrize(
    ("message", "field", "items"),
    [
        ("why the second one?", "asked", (1,)),
        ("why #2?", "asked", (1,)),
        ("why number 3?", "asked", (8,)),
        ("Why is no. 4 on the list", "asked", (2,)),
        ("how would I rate the 3rd one", "asked", (8,)),
        ("tell me more about the last one", "asked", (3,)),
        ("more like number 2", "more_like", (1,)),
        ("something like the fourth film", "more_like", (2,)),
        ("I've seen the last one", "seen", (3,)),
        ("already watched the second to last", "seen", (2,)),
        ("I liked the first two", "liked", (4, 1)),
        ("the last two were great", "liked", (2, 3)),
        ("I didn't like number 2 and 4", "disliked", (1, 2)),
        ("I've seen them all", "seen", LAST),
        ("how would I rate it?", "asked", (5,)),
        ("why that one?", "asked", (5,)),
        ("would I enjoy that?", "asked", (5,)),
        ("I hated it", "disliked", (5,)),
        ("seen it already", "seen", (5,)),
        ("is it any good?", "asked", (5,)),
        ("I've seen 1 and 3", "seen", (4, 8)),
        ("the fifth one?", "asked", (3,)),
        ("my kids loved the first one", "liked", (4,)),
        ("number 3 please", "asked", (8,)),
        ("why?", "asked", (4,)),
        ("how would I rate it?", "asked", (5,)),
        ("I own the 2nd, skip it", "seen", (1,)),
        ("I own the 2nd, skip it", "disliked", (1,)),
        ("why did u recommend the last one", "asked", (3,)),
    ],
)
def test_references_to_the_last_list_and_the_item_discussed(parser, message, field, items):
    intent = parser.parse(message, CONTEXT)
    assert getattr(intent, field) == items, intent
    assert not intent.unresolved and not intent.problems


def test_references_that_cannot_be_followed_say_why(parser):
    assert "only 5 titles" in parser.parse("why the 7th one?", CONTEXT).problems[0]
    assert "no list yet" in parser.parse("why the second one?").problems[0]
    assert parser.parse("why the second one?").unresolved == ()  # not "One Night Stand"
    # a title wins over a reference-like word in it; "top 3" without a cue is a list length
    assert parser.parse("I've seen The Godfather", CONTEXT).seen == (5,)
    assert parser.parse("give me the top 3", CONTEXT).k == 3
    top = parser.parse("top 10", CONTEXT)
    assert top.k == 10 and not top.problems and not top.asked


def test_a_message_that_goes_on_with_the_last_one_does_the_same(parser):
    listed = "\n".join(item_line(r, TITLES[i]) for r, i in enumerate(LAST, 1))
    history = [
        {"role": "assistant", "content": listed},
        {"role": "user", "content": "the second one was boring"},
        {"role": "user", "content": "and the last two"},
    ]  # fmt: skip
    state = DialogueState.from_history(history, {"movies": parser}, "movies")
    assert state.disliked == [1, 2, 3] and state.act == "dislike"


def test_the_state_keeps_the_last_list_and_the_item_discussed(parser):
    history = [
        {"role": "user", "content": "I loved Toy Story"},
        {"role": "assistant", "content": "Here:\n" + "\n".join(
            item_line(r, TITLES[i]) for r, i in enumerate(LAST, 1))},
        {"role": "user", "content": "why the third one?"},
        {"role": "assistant", "content": "Because."},  # a question keeps the list
        {"role": "user", "content": "I've seen the last one"},
        {"role": "user", "content": "how would I rate it?"},
    ]  # fmt: skip
    state = DialogueState.from_history(history, {"movies": parser}, "movies")
    assert state.last == list(LAST) and state.shown == list(LAST)
    assert state.seen == [3] and state.focus == 3
    assert state.context == Context(LAST, 3, None)


# ---------------------------------------------------------------------- negation and revision


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("tired of romantic dramas", ItemFilter((), ("Romance", "Drama"))),
        ("not in the mood for horror", ItemFilter((), ("Horror",))),
        ("no more comedies", ItemFilter((), ("Comedy",))),
        ("anything but westerns", ItemFilter((), ("Western",))),
        ("no horror or thrillers please", ItemFilter((), ("Horror", "Thriller"))),
        ("comedies, not horror", ItemFilter(("Comedy",), ("Horror",))),
        ("I don't like horror but I love comedies", ItemFilter(("Comedy",), ("Horror",))),
        ("horror is boring, give me sci-fi", ItemFilter(("Sci-Fi",), ("Horror",))),
        ("nothing too old", ItemFilter((), (), 1970, None)),
        ("nothing recent", ItemFilter((), (), None, 1995)),
        ("nothing before 1980", ItemFilter((), (), 1980, None)),
        ("late 80s action", ItemFilter(("Action",), (), 1986, 1989)),
        ("nothing but comedies", ItemFilter(("Comedy",))),
        ("something romantic from the 60s or 70s", ItemFilter(("Romance",), (), 1960, 1979)),
        ("nah, something funnier", ItemFilter(("Comedy",))),
    ],
)
def test_negation_scope(parser, message, expected):
    assert parser.parse(message).constraints == expected


def _state_after(parser, *messages):
    history = [{"role": "user", "content": m} for m in messages]
    return DialogueState.from_history(history, {"movies": parser}, "movies").constraints


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (("no horror", "actually I like horror after all"), ItemFilter(("Horror",))),
        (("comedies from the 90s", "forget the 90s"), ItemFilter(("Comedy",))),
        (("comedies from the 90s", "any year is fine"), ItemFilter(("Comedy",))),
        (("comedies, no horror", "forget the genres"), ItemFilter()),
        (("comedies, no horror", "forget about horror"), ItemFilter(("Comedy",))),
        (("comedies from the 80s", "the 90s"), ItemFilter(("Comedy",), (), 1990, 1999)),
        (("the 90s", "after 1995"), ItemFilter((), (), 1996, 1999)),
        (("the 80s", "after 1995"), ItemFilter((), (), 1996, None)),
        (("comedies", "actually make it a thriller"), ItemFilter(("Thriller",))),
        (("comedies", "romance too"), ItemFilter(("Comedy", "Romance"))),
        (("no horror", "no westerns"), ItemFilter((), ("Horror", "Western"))),
        (("sci-fi from the 90s", "drop the filters"), ItemFilter()),
    ],
)
def test_newer_wishes_revise_older_ones(parser, messages, expected):
    assert _state_after(parser, *messages) == expected


# ---------------------------------------------------------------------- small talk


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("thanks!", "thanks"), ("Thank you so much", "thanks"), ("hi", "greeting"),
        ("hello there", "greeting"), ("how are you?", "how"), ("lol", "ack"), ("ok", "ack"),
        ("bye", "bye"), ("who are you", "who"), ("what's the weather", "other"),
        ("asdfgh", "other"), ("qwe rty uiop", "other"),
    ],
)  # fmt: skip
def test_small_talk_is_told_apart(parser, message, kind):
    intent = parser.parse(message)
    assert intent.acts == (Act.CHAT,) and intent.small_talk == kind
    assert not intent.unresolved


@pytest.mark.parametrize(
    ("message", "field", "items"),
    [
        ("actually I didn't like Heat, I loved toy story", "disliked", (8,)),
        ("actually I didn't like Heat, I loved toy story", "liked", (1,)),
        ("heat was great", "liked", (8,)),
        ("i watched heat last night and loved it!", "liked", (8,)),
        ("what would you say about alien?", "asked", (2,)),
        ("thoughts on braveheart?", "asked", (15,)),
        ("i like heat and toy story, not into horror or violent stuff", "liked", (8, 1)),
    ],
)
def test_titles_before_a_cue_and_several_cues_in_a_sentence(parser, message, field, items):
    intent = parser.parse(message)
    assert getattr(intent, field) == items and not intent.unresolved and not intent.problems


def test_requests_without_titles(parser):
    for message in ("what's good?", "what else would I like?", "gimme something"):
        intent = parser.parse(message)
        assert Act.RECOMMEND in intent.acts and not intent.liked and not intent.asked, message
    kids = parser.parse("for kids")  # a genre word, not a title that contains it
    assert kids.liked == () and kids.constraints.include_genres == ("Children's",)
    assert parser.parse("a horror movie that isn't too old").constraints == ItemFilter(
        ("Horror",), (), 1970, None
    )


def test_small_talk_with_a_request_is_a_request(parser):
    intent = parser.parse("hi! I loved Heat, thanks")
    assert intent.liked == (8,) and intent.small_talk is None


# ---------------------------------------------------------------------- the describer hook


class _Words:
    """A tiny describer: a few words -> genres and years (records what it was asked)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, text: str) -> ItemFilter:
        self.asked.append(text)
        low = text.lower()
        genres = tuple(g for w, g in (("creepy", "Horror"), ("space", "Sci-Fi"),
                                      ("laughs", "Comedy")) if w in low)  # fmt: skip
        old = "black-and-white" in low
        return ItemFilter(genres, (), None, 1965 if old else None)


def test_describer_fills_in_what_the_rules_do_not_know():
    words = _Words()
    index = TitleIndex(TITLES, YEARS, POPULARITY)
    parser = IntentParser(index, GENRES, (1960, 1999), describer=words)
    assert parser.parse("something creepy please").constraints == ItemFilter(("Horror",))
    assert parser.parse("nothing creepy").constraints == ItemFilter((), ("Horror",))
    assert parser.parse("a film with big laughs").constraints.include_genres == ("Comedy",)
    # the rules found an era: the describer is not asked, its genres are not added
    assert parser.parse("an old thing with laughs").constraints == ItemFilter((), (), None, 1969)
    intent = parser.parse("something creepy like Heat")
    assert intent.more_like == (8,) and intent.constraints.include_genres == ("Horror",)
    assert "Heat" not in words.asked[-1] and "creepy" in words.asked[-1]
    asked = len(words.asked)
    assert parser.parse("a comedy please").constraints.include_genres == ("Comedy",)
    parser.parse("thanks!")
    parser.parse("why Heat?")
    assert len(words.asked) == asked  # rules found a genre; small talk; a question


def test_a_failing_describer_costs_nothing():
    def broken(text: str) -> ItemFilter:
        raise RuntimeError("model not loaded")

    parser = IntentParser(TitleIndex(TITLES, YEARS, POPULARITY), GENRES, describer=broken)
    assert parser.parse("something creepy please").acts == (Act.RECOMMEND,)


# ---------------------------------------------------------------------- escaping

HOSTILE = [
    '<img src="http://x/y.png"> [a](http://e.com) **b** _c_ \\',
    "<script>alert(1)</script>",
    "# Heading | table | `code` ~~strike~~",
    "a\\*b\\**c*** &amp; &lt;",
    "![img](x) <b>bold</b> & more",
    "ends with a star*",
]


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_are_text_only_and_read_back(title):
    line = item_line(1, title)
    assert listed_titles(line + " — predicted 4.0/5 — why *this*") == [title]
    assert unmd(md(title)) == title
    escaped = md(title)
    assert "<" not in escaped and ">" not in escaped  # no HTML at all
    assert re.search(r"(?<!\\)[*_\[\]`|#~]", escaped) is None  # every special escaped
    assert switched_to(switch_line(title)) == title


def test_nearly_every_ml100k_title_can_be_named_in_a_sentence(ml_titles):
    """As written, lower case without its year, and beside another title; the few misses are
    titles that are a number or one or two lower-case letters ("187", "m")."""
    parser = IntentParser(ml_titles, GENRES, (1922, 1998))
    missed = []
    for item in range(len(ml_titles.titles)):
        shown = ml_titles.display(item)
        body = shown.rsplit(" (", 1)[0]
        for message in (f"I loved {shown}", f"i loved {body.lower()}", f"I loved {body} and Heat"):
            liked = parser.parse(message).liked
            if not liked or ml_titles.display(liked[0]).rsplit(" (", 1)[0] != body:
                missed.append(message)
    assert len(missed) <= 10, missed


def test_model_numbers_are_tidied_back_together():
    from convrec.data.titles import tidy_text

    raw = "close to star wars ( 1977 ), which you rated 4 / 5 : 48 people rated it 3. 7 / 5 ."
    want = "close to star wars (1977), which you rated 4/5: 48 people rated it 3.7/5."
    assert tidy_text(raw) == want
    assert tidy_text("it came out in 1996. 5 people liked it") == (
        "it came out in 1996. 5 people liked it"
    )
