"""Dialogue understanding of everyday phrasings over the MovieLens-100k titles: resets said
mid-sentence, about- and rating-question frames, titles as a sentence's subject or listed
beside a named one, lone and unknown titles, sequels, corrections, list-length follow-ups,
spelled decades and single years, and genres wanted together."""

import numpy as np
import pytest

from convrec.data.titles import TitleIndex
from convrec.dialogue import Act, DialogueState, IntentParser
from convrec.dialogue.references import Context
from convrec.schema import ItemFilter


@pytest.fixture(scope="module")
def ml(ml100k):
    titles = TitleIndex(ml100k.catalog.title, ml100k.catalog.year, np.ones(ml100k.n_items))
    genres = sorted({g for gs in ml100k.catalog.genres for g in gs} - {"unknown"})
    return titles, IntentParser(titles, genres, (1922, 1998))


def _names(titles, items):
    return [titles.display(i) for i in items]


@pytest.mark.parametrize(
    "message", ["let's start fresh", "can we start over?", "ok, let's start from scratch"]
)
def test_a_reset_said_mid_sentence(ml, message):
    assert ml[1].parse(message).acts == (Act.RESET,)


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("what year did vertigo come out", "Vertigo (1958)"),
        ("what kind of movie is chinatown", "Chinatown (1974)"),
        ("what is casablanca about", "Casablanca (1942)"),
        ("when was amadeus released?", "Amadeus (1984)"),
        ("whats the plot of braveheart", "Braveheart (1995)"),
    ],
)
def test_about_question_frames(ml, message, title):
    titles, parser = ml
    intent = parser.parse(message)
    assert intent.has(Act.ABOUT) and _names(titles, intent.asked) == [title]


@pytest.mark.parametrize(
    ("message", "liked"),
    [
        ("goodfellas is my favourite film", ["GoodFellas (1990)"]),
        ("id4 was fun too", ["Independence Day (ID4) (1996)"]),
        ("mr hollands opus made me cry, loved it", ["Mr. Holland's Opus (1995)"]),
        ("terminator 2 and aliens are my favourites",
         ["Terminator 2: Judgment Day (1991)", "Aliens (1986)"]),
        ("e.t. and jurassic park, i grew up on those",
         ["E.T. the Extra-Terrestrial (1982)", "Jurassic Park (1993)"]),
        ("psycho and rear window are both masterpieces", ["Psycho (1960)", "Rear Window (1954)"]),
        ("Monty Python Holy Grail!!! best movie ever", ["Monty Python and the Holy Grail (1974)"]),
        ("and shawshank! cant believe i forgot that one", ["The Shawshank Redemption (1994)"]),
    ],
)  # fmt: skip
def test_titles_liked_without_a_like_verb(ml, message, liked):
    titles, parser = ml
    assert _names(titles, parser.parse(message).liked) == liked


@pytest.mark.parametrize(
    ("message", "mention"),
    [
        ("gladiator was epic", "gladiator"),
        ("have you got inception?", "inception"),
        ("interstellar?", "interstellar"),
        ("what about the sixth sense?", "the sixth sense"),
        ("star wars episode 1 was better than people say", "star wars episode 1"),
        ("shrek is my kids favourite", "shrek"),
        ("is avatar in there?", "avatar"),
        ("any chance you have titanic 2?", "titanic 2"),
    ],
)
def test_unknown_titles_asked_after_or_praised_are_reported(ml, message, mention):
    intent = ml[1].parse(message)
    assert [u.text.lower() for u in intent.unresolved] == [mention] and not intent.liked


@pytest.mark.parametrize(
    "message",
    ["good morning :)", "good evening!", "the weather is great", "life is good", "work was awful",
     "seriously?", "thanks, that's great", "you're awesome, thank you!", "nothing good on tv",
     "can you do 7?", "hello? anyone there?", "heat was okay i guess"],
)  # fmt: skip
def test_ordinary_phrases_name_no_title(ml, message):
    intent = ml[1].parse(message)
    assert not intent.liked and not intent.disliked and not intent.unresolved, intent


def test_trailing_words_are_not_part_of_the_title(ml):
    titles, parser = ml
    assert _names(titles, parser.parse("i didn't like scream at all").disliked) == ["Scream (1996)"]
    intent = parser.parse("i didn't love fargo as much as everyone says")
    assert _names(titles, intent.disliked) == ["Fargo (1996)"] and not intent.unresolved
    intent = parser.parse("already seen star wars a million times so skip that")
    assert _names(titles, intent.seen) == ["Star Wars (1977)"] and not intent.unresolved


def test_a_correction_replaces_the_like(ml):
    titles, parser = ml
    state = DialogueState("ml-100k")
    state.apply(parser.parse("i loved star wars"))
    state.apply(parser.parse("sorry i meant star trek first contact, not star wars", state.context))
    assert _names(titles, state.liked) == ["Star Trek: First Contact (1996)"]
    assert not state.disliked  # named by mistake, not disliked


@pytest.mark.parametrize(
    ("message", "k"),
    [("make that 6", 6), ("can i get a longer list, like 8?", 8), ("and 2 more after that", 2),
     ("change that to 2", 2), ("3 more please", 3), ("top 3 please", 3)],
)  # fmt: skip
def test_list_length_follow_ups(ml, message, k):
    intent = ml[1].parse(message)
    assert intent.k == k and intent.has(Act.RECOMMEND)


def test_seen_and_about_by_reference(ml):
    parser = ml[1]
    context = Context(tuple(range(5)))
    assert parser.parse("seen the first one already", context).seen == (0,)
    intent = parser.parse("number 2 sounds interesting, tell me more", context)
    assert intent.has(Act.ABOUT) and intent.asked == (1,)


@pytest.mark.parametrize(
    ("message", "years"),
    [("a comedy from the sixties", (1960, 1969)), ("movies from 1994", (1994, 1994)),
     ("late seventies thrillers", (1976, 1979)), ("from 1990 onwards", (1990, None))],
)  # fmt: skip
def test_spelled_decades_and_single_years(ml, message, years):
    c = ml[1].parse(message).constraints
    assert (c.year_min, c.year_max) == years


def test_black_and_white_is_older_than_old(ml):
    c = ml[1].parse("an old black and white classic").constraints
    old = ml[1].parse("an old classic").constraints
    assert c.year_min is None and c.year_max < old.year_max and c.year_max <= 1965


@pytest.mark.parametrize(
    ("message", "wanted"),
    [
        ("a romantic comedy please", ItemFilter(require_genres=("Romance", "Comedy"))),
        ("a crime thriller", ItemFilter(require_genres=("Crime", "Thriller"))),
        ("comedies or dramas", ItemFilter(("Comedy", "Drama"))),
        ("comedies, not horror", ItemFilter(("Comedy",), ("Horror",))),
    ],
)
def test_a_compound_genre_needs_both(ml, message, wanted):
    assert ml[1].parse(message).constraints == wanted
