"""Extra chat domains: NAME=PATH specs, item names from reviews, and a conversation across two."""

import re

import numpy as np
import pytest

from convrec.data import build_dataset
from convrec.data.names import NAMED_FROM_REVIEWS, review_names, with_review_names
from convrec.dialogue.lines import md
from convrec.recommender.domains import load_domain, parse_domain
from convrec.schema import ScoredItem

# item -> its reviews (one per user); "a" is the most reviewed, so it chooses its name first
REVIEWS = {
    "a": ["great pop filter", "the pop filter works", "nice pop filter!", "pop filter, fine",
          "my pop filter", "a pop filter"],
    "b": ["pop filter with a metal screen", "pop filter. Metal screen", "pop filter",
          "pop filter ok", "another pop filter"],
    "c": ["guitar strap", "comfy guitar strap", "great"],
    "d": ["lonely words", "nothing shared"],
    "e": ["pop filter", "pop filter", "pop filter"],
}  # fmt: skip


def _reviews_data():
    users, items, texts = [], [], []
    for item, reviews in REVIEWS.items():
        for u, text in enumerate(reviews):
            users.append(f"u{u}")
            items.append(item)
            texts.append(text)
    n = len(users)
    return build_dataset(
        "reviews",
        source="memory",
        user_ids=np.array(users),
        item_ids=np.array(items),
        rating=np.full(n, 5.0),
        timestamp=np.arange(n, dtype=np.int64),
        lines=np.arange(1, n + 1),
        review_text=texts,
        summary=[""] * n,
    )


def test_parse_domain():
    assert parse_domain("amazon-mi5=path/to/r.json.gz") == ("amazon-mi5", "path/to/r.json.gz")
    assert parse_domain(" books = a=b.csv ") == ("books", "a=b.csv")
    for bad in ("amazon-mi5", "=x.json", "mi5=", "bad name=x.json", "../x=y"):
        with pytest.raises(ValueError, match="expected NAME=PATH"):
            parse_domain(bad)


def test_review_names_known_answer():
    data = _reviews_data()
    names = dict(zip(data.items.external, review_names(data), strict=True))
    assert names["a"] == "Pop Filter"  # most reviewed: first choice
    assert names["b"] == "Metal Screen"  # its best phrase was taken by "a"
    assert names["c"] == "Guitar Strap"
    assert names["d"] == "d"  # no phrase in two reviews: keeps its id
    assert names["e"] in {"Filter", "Pop"}  # a free alternative
    single = dict(zip(data.items.external, review_names(data, alternatives=1), strict=True))
    assert single["e"] == "Pop Filter (e)"  # no free alternative: the id makes it unique
    assert len(set(single.values())) == len(single)
    only_c = review_names(data, rows=np.flatnonzero(data.item == data.items.index("c")))
    assert only_c[data.items.index("c")] == "Guitar Strap" and only_c[0] == data.items.external[0]


def test_with_review_names_renames_untitled_items_only(ml100k):
    data = with_review_names(_reviews_data())
    a = data.items.index("a")
    assert data.catalog.title[a] == "Pop Filter"
    assert data.catalog.text[a].startswith(NAMED_FROM_REVIEWS)
    d = data.items.index("d")
    assert data.catalog.title[d] == "d" and not data.catalog.text[d].startswith(NAMED_FROM_REVIEWS)
    assert with_review_names(ml100k) is ml100k  # titled data is left alone


def test_llm_prompts_ignore_names_guessed_from_reviews():
    # an adapter trained on review data without titles sees "item <id>"; the chat names items
    # from all of their reviews, which must not change what the adapter is shown
    from convrec.llm.prompts import PromptBuilder
    from convrec.llm.tasks import Task
    from convrec.recommender.neighbours import item_neighbours

    plain = _reviews_data()
    named = with_review_names(plain)
    assert named.catalog.title != plain.catalog.title
    rows = np.arange(plain.n_interactions)
    prompts = [
        PromptBuilder()
        .fit(data, rows, item_neighbours(data, rows))
        .prompts(Task.RATING, data.user[:8], data.item[:8])
        for data in (plain, named)
    ]
    assert prompts[0] == prompts[1]
    assert "item a" in " ".join(prompts[0])


def test_load_domain_names_the_dataset_and_its_items(write):
    lines = [
        f'{{"reviewerID": "u{u}", "asin": "{item}", "overall": 5.0, '
        f'"unixReviewTime": {1000 + u}, "reviewText": "{text}", "summary": "ok"}}'
        for item, reviews in REVIEWS.items()
        for u, text in enumerate(reviews)
    ]
    path = write("reviews.json.gz", "\n".join(lines), gz=True)
    rec = load_domain("gear", str(path))
    assert rec.data.name == "gear" and rec.titles.exact("pop filter") == rec.data.items.index("a")
    with pytest.raises(FileNotFoundError):
        load_domain("gear", str(path.with_name("missing.json")))


def test_cli_chat_takes_extra_domains():
    from convrec.cli import build_parser

    args = build_parser().parse_args(["chat", "--domain", "a=x.json", "--domain", "b=y.json"])
    assert args.domain == ["a=x.json", "b=y.json"] and args.data == "ml-100k"
    assert build_parser().parse_args(["chat"]).domain == []
    args = build_parser().parse_args(["chat", "--domain-adapter", "a=dir", "--adapter", "none"])
    assert args.domain_adapter == ["a=dir"] and args.adapter == "none"


# ---------------------------------------------------------------------- a conversation

LINE = re.compile(r"^(\d+)\. \*\*(.+?)\*\* — predicted (\d\.\d)/5 — (.+)$", re.M)


def _say(chat, history, message):
    reply = chat.respond(message, history)
    history += [
        {"role": "user", "content": message},
        {"role": "assistant", "content": reply.text},
    ]
    return reply


def _catalog(rec, item: ScoredItem) -> tuple[int, tuple[str, ...]]:
    index = rec.data.items.index(item.item_id)
    return int(rec.data.catalog.year[index]), rec.data.catalog.genres[index]


def test_six_turns_across_movies_and_musical_instruments(ml100k, mi5_file):
    """Likes, a constraint, why, a dislike, a rating question, then a switch of domain."""
    from convrec import Recommender
    from convrec.dialogue.chat import Chat
    from convrec.dialogue.lines import switch_line

    movies = Recommender.build(ml100k)
    instruments = load_domain("amazon-mi5", str(mi5_file))
    chat = Chat({"ml-100k": movies, "amazon-mi5": instruments})
    history: list[dict[str, str]] = []

    liked = _say(chat, history, "I loved Star Wars and Fargo")
    assert len(liked.items) == 5
    for _, title, _, why in LINE.findall(liked.text):  # each pick cites a liked title
        assert title not in ("Star Wars (1977)", "Fargo (1996)")
        assert "Star Wars (1977)" in why or "Fargo (1996)" in why

    comedies = _say(chat, history, "only comedies from the 90s")
    assert comedies.items
    for item in comedies.items:
        year, genres = _catalog(movies, item)
        assert "Comedy" in genres and 1990 <= year <= 1999

    first, second = comedies.items[0].title, comedies.items[1].title
    why = _say(chat, history, f"why {first}?")
    assert why.text.startswith(f"Why **{md(first)}**")  # titles are escaped markdown
    evidence = set(re.findall(r"\b(Star Wars \(1977\)|Fargo \(1996\))", why.text))
    assert evidence  # the answer cites the user's own likes, and nothing else they said
    assert not why.items

    disliked = _say(chat, history, f"I hated {second}")
    assert f"Noted: you didn't like {md(second)}" in disliked.text
    assert disliked.items and second not in [i.title for i in disliked.items]
    for item in disliked.items:  # the constraint still holds
        assert "Comedy" in _catalog(movies, item)[1]

    rating = _say(chat, history, "how would I rate Heat?")
    liked = [movies.item_id(i) for i in rating.state.liked]  # the session's likes count
    value = movies.predict_rating(None, "Heat", history=liked)
    assert f"**Heat (1995)** about **{value:.1f}/5**, from the 2 titles you liked" in rating.text

    switched = _say(chat, history, "let's switch to musical instruments")
    assert switched.text.startswith(switch_line("amazon-mi5"))
    assert switched.state.domain == "amazon-mi5" and switched.state.liked == []
    assert len(switched.items) == 5  # the most popular instruments, by their review names
    for item in switched.items:
        assert item.item_id in instruments.data.items
        assert item.title != item.item_id and item.title not in movies.titles.titles

    pop = _say(chat, history, "I like the Pop Filter")
    filter_index = instruments.titles.exact("Pop Filter")
    assert pop.state.liked == [filter_index]
    assert pop.items and all("Pop Filter" in (i.explanation or "") for i in pop.items)
    # the whole conversation replays from the history: still instruments, same likes
    again = chat.respond("more", history)
    assert again.state.domain == "amazon-mi5" and again.state.liked == [filter_index]
    assert not {i.title for i in again.items} & {i.title for i in pop.items}
