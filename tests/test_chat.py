"""Chat on MovieLens-100k: every intent, shown items, histories that never mix, and only the
Recommender's public methods used."""

import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convrec.dialogue import item_line
from convrec.dialogue.chat import DOMAIN_WORDS, HELP_TEXT, Chat, ChatReply
from convrec.dialogue.lines import switch_line
from convrec.schema import ItemFilter

LINE = re.compile(r"^(\d+)\. \*\*(.+?)\*\* — predicted (\d\.\d)/5 — (.+)$", re.M)


@pytest.fixture(scope="module")
def rec(ml100k):
    from convrec import Recommender

    return Recommender.build(ml100k)


@pytest.fixture(scope="module")
def chat(rec):
    return Chat({"ml-100k": rec})


def talk(chat, *messages, history=None):
    """Replies to ``messages`` in turn, and the history in Gradio's messages format."""
    history = list(history or [])
    replies = []
    for message in messages:
        reply = chat.respond(message, history)
        replies.append(reply)
        history += [
            {"role": "user", "content": message},
            {"role": "assistant", "content": reply.text},
        ]
    return replies, history


def titles(reply: ChatReply) -> list[str]:
    return [m.group(2) for m in LINE.finditer(reply.text)]


def test_likes_give_a_ranked_explained_list(rec, chat):
    reply = Chat(rec).respond("I loved Star Wars and Fargo", [])
    assert isinstance(reply, ChatReply)
    assert reply.state.liked == [rec.titles.exact("Star Wars"), rec.titles.exact("Fargo")]
    assert len(reply.items) == 5
    lines = LINE.findall(reply.text)
    assert [t for _, t, _, _ in lines] == [i.title for i in reply.items]
    assert reply.text.count(item_line(1, reply.items[0].title)) == 1
    assert "Return of the Jedi (1983)" in titles(reply)
    for (_, title, rating, why), item in zip(lines, reply.items, strict=True):
        assert float(rating) == pytest.approx(item.predicted_rating, abs=0.051)
        assert "Star Wars (1977)" in why or "Fargo (1996)" in why  # grounded in the likes
        assert title not in ("Star Wars (1977)", "Fargo (1996)")


def test_constraint_filters_genre_and_years(rec, chat):
    (_, reply), _ = talk(chat, "I loved Star Wars and Fargo", "only comedies from the 90s")
    assert reply.items
    for item in reply.items:
        index = rec.data.items.index(item.item_id)
        assert "Comedy" in rec.data.catalog.genres[index]
        assert 1990 <= rec.data.catalog.year[index] <= 1999


def test_k_and_known_user(rec, chat):
    (reply,), _ = talk(chat, "I'm user 42, give me 3 movies")
    assert reply.state.user == "42" and len(reply.items) == 3
    assert "183 ratings" in reply.text
    rated = set(rec.data.item[rec.rows][rec.data.user[rec.rows] == rec.data.users.index("42")])
    assert not {rec.data.items.index(i.item_id) for i in reply.items} & rated
    (unknown,), _ = talk(chat, "I'm user 99999")
    assert "I don't know user 99999" in unknown.text


def test_why_answers_with_the_evidence(rec, chat):
    (_, why), _ = talk(chat, "I loved Star Wars and Fargo", "why Return of the Jedi?")
    assert why.text.startswith("Why **Return of the Jedi (1983)**")
    assert "Star Wars (1977)" in why.text and not why.items
    (_, far), _ = talk(chat, "I loved Star Wars", "why Groundhog Day?")
    assert "Star Wars (1977)" in far.text.split(":", 1)[1]  # a true fact that ties them
    (_, none), _ = talk(chat, "I loved Star Wars", "why A Fish Called Wanda?")
    assert "not a close neighbour" in none.text  # nothing liked is near it


def test_dislike_is_excluded_and_its_close_titles_dropped(rec, chat):
    (first, second), _ = talk(chat, "I loved Star Wars and Fargo", "I hated Toy Story")
    assert "Toy Story (1995)" in titles(first)
    assert second.state.disliked == [rec.titles.exact("Toy Story")]
    assert "Noted: you didn't like Toy Story (1995)" in second.text
    assert second.items and "Toy Story (1995)" not in titles(second)


def test_rating_question(rec, chat):
    (reply,), _ = talk(chat, "how would I rate Heat?")
    expected = rec.predict_rating(None, "Heat")
    assert f"**Heat (1995)** about **{expected:.1f}/5**" in reply.text
    (_, personal, own), _ = talk(
        chat, "I'm user 42", "how would I rate Contact?", "how would I rate Heat?"
    )
    assert f"**Contact (1997)** about **{rec.predict_rating('42', 'Contact'):.1f}/5**" in (
        personal.text
    )
    assert "You (user 42) already rated **Heat (1995)** 3/5." in own.text


def test_tell_me_about(rec, chat):
    (reply,), _ = talk(chat, "tell me about Heat")
    assert reply.text.startswith("**Heat (1995)** · year 1995 · Action, Crime, Thriller")
    assert f"{int(rec.popularity[rec.titles.exact('Heat')])} ratings" in reply.text
    assert reply.items and "Heat (1995)" not in titles(reply)
    assert titles(reply) == [s.title for s in reply.items]


def test_unknown_title_gets_did_you_mean(chat):
    (reply,), _ = talk(chat, "why Aleins?")
    assert "I couldn't find “Aleins”. Did you mean *Aliens (1986)*" in reply.text
    (liked,), _ = talk(chat, "I liked Zzyzx Qwerty Road")
    assert "Zzyzx" not in str(liked.state.liked)


@pytest.mark.parametrize("message", ["help", "", "   ", "?", None, "x" * 100_000])
def test_help_and_empty_get_help(chat, message):
    reply = chat.respond(message, [])
    assert HELP_TEXT in reply.text or "first 2000 characters" in reply.text
    assert reply.items == []


@pytest.mark.parametrize("message", ["asdkjh qwe", 42, "asdfgh", "what's the weather", "lol"])
def test_nonsense_and_off_topic_get_a_short_steer_back(chat, message):
    # (was: the whole help after "I didn't catch that")
    reply = chat.respond(message, [])
    assert HELP_TEXT not in reply.text and "didn't catch" not in reply.text
    assert "I loved" in reply.text and len(reply.text) < 250 and reply.items == []
    assert "couldn't find" not in reply.text


def test_reset_forgets_everything(chat):
    (_, _, reset, after), _ = talk(
        chat, "I'm user 42", "I loved Star Wars, no horror", "reset", "recommend something"
    )
    assert reset.text.startswith("Starting over")
    assert reset.state.liked == [] and reset.state.user is None and reset.state.constraints.empty
    assert after.text.startswith("The most popular picks")


def test_shown_items_are_not_repeated_unless_asked(chat):
    (first, more, again), _ = talk(chat, "I loved Star Wars and Fargo", "more", "show them again")
    assert len(first.items) == len(more.items) == 5
    assert not set(titles(first)) & set(titles(more))
    assert set(more.state.shown) >= set(first.state.shown)
    assert set(titles(again)) & set(titles(first) + titles(more))


def test_histories_never_mix(chat):
    a_replies, a_hist = talk(chat, "I loved Star Wars", "no horror")
    b_replies, b_hist = talk(chat, "I loved Toy Story", "only comedies")
    a_why = chat.respond("why Fargo?", a_hist)
    b_why = chat.respond("why Fargo?", b_hist)
    assert "Star Wars" in a_why.text and "Toy Story" not in a_why.text
    assert "Toy Story" in b_why.text and "Star Wars" not in b_why.text
    assert a_replies[-1].state.constraints.exclude_genres == ("Horror",)
    assert b_replies[-1].state.constraints.include_genres == ("Comedy",)
    # replaying the same history gives the same answer (no server-side state)
    assert chat.respond("more", a_hist).text == chat.respond("more", a_hist).text


def test_unloaded_domain_is_explained_and_state_kept(chat):
    (_, switch, after), _ = talk(chat, "I loved Star Wars", "switch to musical instruments", "more")
    assert "amazon-mi5" in switch.text and "not available" in switch.text
    assert after.state.domain == "ml-100k" and after.state.liked == switch.state.liked != []


def test_malformed_history_degrades_to_a_fresh_state(chat):
    history = [{"role": "user"}, 7, ("a",), {"role": "assistant", "content": [{"text": 3}]}, None]
    reply = chat.respond("I loved Fargo", history)
    assert reply.items and reply.state.liked


_WORDS = [
    "I", "loved", "hated", "not", "why", "how", "would", "rate", "tell", "me", "about",
    "Star", "Wars", "Fargo", "the", "matrix", "Toy", "Story", "user", "42", "7", "no",
    "horror", "comedies", "90s", "after", "1995", "more", "like", "again", "reset", "help",
    "switch", "to", "music", "give", "5", "?", "!", ",", "and", "'", "seen", "Heat",
]  # fmt: skip


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=120), st.lists(st.sampled_from(_WORDS), max_size=12).map(" ".join)
        ),
        min_size=1,
        max_size=3,
    )
)
def test_chat_fuzz_never_hits_the_error_guard(chat, messages):
    """Random conversations get real replies: the polite catch-all must never be needed."""
    errors = _Errors()
    logger = logging.getLogger("convrec.dialogue.chat")
    logger.addHandler(errors)
    try:
        replies, _ = talk(chat, *messages)
    finally:
        logger.removeHandler(errors)
    assert not errors.records, errors.records[0].getMessage()
    assert all(r.text.strip() for r in replies)


class _Watched:
    """A Recommender that records the names of the attributes read from it."""

    def __init__(self, rec) -> None:
        self.rec, self.read = rec, set()

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self.rec, name)


def test_a_conversation_reads_only_the_recommenders_public_surface(rec):
    from convrec import Recommender

    watched = _Watched(rec)
    replies, _ = talk(
        Chat(watched), "help", "recommend something", "why Toy Story?", "I loved Star Wars",
        "I hated Toy Story", "why Heat?", "why Empire Strikes Back?", "how would I rate Heat?",
        "tell me about M*A*S*H", "I'm user 42", "how would I rate Star Wars?", "why Fargo?",
        "only comedies", "I'm user 99999", "I liked Star Warz",
    )  # fmt: skip
    assert all(r.items for r in replies[1:2] + replies[3:5] + replies[8:10])
    used = {"popular_items", "recommend", "explain_items", "why", "item_info", "user_ratings"}
    used |= {"item_similarity", "has_user", "user_ids", "similar_items", "predict_rating"}
    assert used <= watched.read
    public = {n for n in vars(Recommender) if not n.startswith("_")} | {"titles", "llm"}
    assert watched.read - public == set()


def test_k_control_sets_the_list_length_unless_the_chat_asks(chat):
    assert len(chat.respond("I loved Star Wars and Fargo", [], k=3).items) == 3
    assert len(chat.respond("I loved Star Wars and Fargo, top 2", [], k=7).items) == 2
    (_, about), _ = talk(chat, "hi", "tell me about Heat")
    assert len(chat.respond("tell me about Heat", [], k=2).items) == 2 != len(about.items)
    with pytest.raises(ValueError, match="k must be"):
        chat.respond("I loved Fargo", [], k=0)


@pytest.mark.parametrize("k", ["5", 3.5, True, None.__class__, float("nan"), 10**9])
def test_a_k_that_is_not_a_whole_number_in_range_is_a_value_error(chat, k):
    with pytest.raises(ValueError, match="k must be a whole number"):
        chat.respond("I loved Fargo", [], k=k)


@pytest.mark.parametrize("alpha", ["0.5", float("nan"), True, -0.1, 1.5])
def test_an_alpha_out_of_range_or_not_a_number_is_a_value_error(chat, alpha):
    with pytest.raises(ValueError, match="alpha must be a number"):
        chat.respond("I loved Fargo", [], alpha=alpha)


def test_alpha_control_moves_known_users_lists_between_cf_and_llm(llm_data, index_llm):
    from convrec import Recommender

    rec = Recommender.build(llm_data, llm=index_llm())
    cf = Chat(rec).respond("I'm user 3", [], alpha=1.0)
    llm = Chat(rec).respond("I'm user 3", [], alpha=0.0)
    assert [i.title for i in cf.items] != [i.title for i in llm.items]
    index = [rec.data.items.index(i.item_id) for i in llm.items]
    assert index == sorted(index, reverse=True)  # the index LLM's order
    assert all(i.contributions["cf"] == 0.0 for i in llm.items)
    assert all("llm" not in i.components for i in cf.items)
    with pytest.raises(ValueError, match="alpha"):
        Chat(rec).respond("I'm user 3", [], alpha=-0.1)


@pytest.fixture(scope="module")
def two_domains(rec, llm_data):
    from convrec import Recommender

    words = {**DOMAIN_WORDS, "tiny": ("gadgets",)}
    return Chat({"ml-100k": rec, "tiny": Recommender.build(llm_data)}, domain_words=words)


def test_domain_control_switches_and_the_history_replays_it(two_domains):
    tiny = two_domains.recommenders["tiny"]
    alpha = tiny.titles.exact("Alpha Delta 0")
    (first,), history = talk(two_domains, "I loved Star Wars")
    switched = two_domains.respond("I like Alpha Delta 0", history, domain="tiny")
    assert switched.text.startswith(switch_line("tiny") + " (gadgets).")
    assert switched.state.domain == "tiny" and switched.state.liked == [alpha]
    assert switched.items and all(i.item_id in tiny.data.items for i in switched.items)
    history += [
        {"role": "user", "content": "I like Alpha Delta 0"},
        {"role": "assistant", "content": switched.text},
    ]
    # the next turn, with or without the control, replays the switch: still there, same likes
    for domain in (None, "tiny", "no-such-domain"):
        more = two_domains.respond("more", history, domain=domain)
        assert more.state.domain == "tiny" and more.state.liked == [alpha]
        assert not more.text.startswith("Switched") and more.items
    back = two_domains.respond("more", history, domain="ml-100k")
    assert back.text.startswith(switch_line("ml-100k"))
    assert back.state.domain == "ml-100k" and back.state.liked == []  # a domain starts afresh
    assert first.state.liked != []


def test_switch_in_words_reads_the_titles_in_the_new_domain(two_domains):
    tiny = two_domains.recommenders["tiny"]
    (_, switched, more), _ = talk(
        two_domains, "I loved Star Wars", "let's switch to gadgets, I like Bravo Kilo 1", "more"
    )
    assert switched.text.startswith(switch_line("tiny"))
    assert switched.state.liked == more.state.liked == [tiny.titles.exact("Bravo Kilo 1")]
    assert "Because you like Bravo Kilo 1" in switched.text
    (_, fresh), _ = talk(two_domains, "I loved Star Wars", "switch to gadgets")
    assert fresh.text.startswith(switch_line("tiny")) and len(fresh.items) == 5  # popular picks
    assert "*I like " in two_domains.respond("help", [], domain="tiny").text  # its own titles


# ---------------------------------------------------------------------- references, titles,
# estimates, small talk and escaping


def test_references_name_items_of_the_last_list(rec, chat):
    (first, why, more, seen, rate), _ = talk(
        chat, "I loved Star Wars and Fargo", "why the second one?", "more like number 2",
        "I've seen the last one", "how would I rate it?",
    )  # fmt: skip
    second = first.items[1].title
    assert why.text.startswith(f"Why **{second}**") and not why.items
    assert why.state.last == first.state.last  # a question keeps the list being discussed
    assert rec.titles.exact(second) in more.state.liked and more.items
    last = more.items[-1].title
    assert f"Noted: you've already seen {last}" in seen.text
    assert last not in titles(seen) and rec.titles.exact(last) in seen.state.seen
    assert f"**{last}**" in rate.text and "/5**" in rate.text
    (alone,), _ = talk(chat, "why #2?")
    assert "no list yet" in alone.text and "couldn't find" not in alone.text


def test_abbreviated_titles_and_several_in_one_message(rec, chat):
    (reply,), _ = talk(chat, "I loved Braveheart and L.A. Confidential")
    assert reply.state.liked == [
        rec.titles.exact("Braveheart"),
        rec.titles.exact("L.A. Confidential"),
    ]
    (reply,), _ = talk(chat, "i liked Mr. Holland's Opus, dr strangelove and Mrs. Doubtfire")
    assert len(reply.state.liked) == 3 and reply.items


def test_a_title_not_in_the_catalogue_gets_one_clear_line(rec, chat):
    lo, hi = rec.year_span()
    (reply,), _ = talk(chat, "i liked the matrx. Really, I liked the matrx!")
    line = f"“the matrx” isn't in this catalogue (its movies run from {lo} to {hi})."
    assert reply.text.count(line) == 1 and "Did you mean" not in reply.text
    (long,), _ = talk(
        chat,
        "I loved the acting and the great characters, the plot was amazing and the soundtrack "
        "too. I really liked Heat and the way it ends. Also great characters in Toy Story!",
    )
    assert "couldn't find" not in long.text and "isn't in this catalogue" not in long.text
    assert len(long.state.liked) == 2
    lines = [ln for ln in long.text.splitlines() if ln.strip()]
    assert len(lines) == len(set(lines))  # no line twice


def test_a_sessions_estimate_uses_its_likes_and_says_so(rec, chat):
    (_, personal), _ = talk(
        chat, "I loved Star Wars and The Godfather", "how would I rate Casablanca?"
    )
    liked = [rec.item_id(i) for i in personal.state.liked]
    value = rec.predict_rating(None, "Casablanca", history=liked)
    assert value != rec.predict_rating(None, "Casablanca")
    assert f"**Casablanca (1942)** about **{value:.1f}/5**" in personal.text
    assert "from the 2 titles you liked" in personal.text
    (anyone,), _ = talk(chat, "would I enjoy Casablanca?")
    assert "everyone's average" in anyone.text and "titles you liked" in anyone.text


def test_predict_rating_folds_in_a_session(rec):
    # no history: as before; liking the saga raises its sequel more than an unrelated film
    assert rec.predict_rating(None, "Heat", history=()) == rec.predict_rating(None, "Heat")
    assert rec.predict_rating("42", "Heat", history=[]) == rec.predict_rating("42", "Heat")
    saga = ["Star Wars", "Return of the Jedi"]
    lift = rec.predict_rating(None, "Empire Strikes Back", history=saga) - rec.predict_rating(
        None, "Empire Strikes Back"
    )
    other = rec.predict_rating(None, "Sound of Music", history=saga) - rec.predict_rating(
        None, "Sound of Music"
    )
    assert lift > other and lift > 0.1
    assert 1.0 <= rec.predict_rating("42", "Empire Strikes Back", history=saga) <= 5.0


@pytest.mark.parametrize(
    "message", ["thanks!", "lol", "how are you", "hello", "bye", "who are you?", "ok"]
)
def test_small_talk_gets_a_short_reply_that_steers_back(chat, message):
    (_, reply), _ = talk(chat, "I loved Fargo", message)
    assert reply.items == [] and len(reply.text) < 250
    assert HELP_TEXT not in reply.text and "didn't catch" not in reply.text
    assert reply.state.liked == [chat.recommenders["ml-100k"].titles.exact("Fargo")]


def test_an_empty_candidate_set_is_nothing_fits_on_every_path(chat, llm_data, index_llm):
    from convrec import Recommender

    for c in (chat, Chat(Recommender.build(llm_data, llm=index_llm()))):
        for history in ([], [{"role": "user", "content": "I loved Alpha Delta 0"}]):
            reply = c.respond("only comedies from the 1800s", history)
            assert "nothing left that fits" in reply.text and "went wrong" not in reply.text


def _hostile_data():
    import numpy as np

    from convrec.data import ItemInfo, build_dataset

    names = [
        '<img src="http://x/y.png"> [a](http://e.com) **b** _c_ \\',
        "<script>alert(1)</script>", "# Head | `code` ~~x~~", "Tom & Jerry *", "Plain",
    ]  # fmt: skip
    info = {
        str(i): ItemInfo(title=t, year=1990 + i, genres=("Drama",)) for i, t in enumerate(names)
    }
    user = np.repeat(np.arange(8), 4)
    item = np.array([(u + k) % 5 for u in range(8) for k in range(4)])
    rating = np.array([1.0 + (u * 3 + k) % 5 for u in range(8) for k in range(4)])
    return build_dataset(
        "hostile", source="memory", user_ids=user, item_ids=item, rating=rating,
        timestamp=np.arange(len(user), dtype=np.int64), lines=np.arange(1, len(user) + 1),
        item_info=info,
    ), names  # fmt: skip


def test_hostile_titles_and_echoed_text_are_shown_as_text(llm_data):
    from convrec import Recommender
    from convrec.dialogue import listed_titles

    data, _ = _hostile_data()
    chat = Chat(Recommender.build(data))
    (listed, about, echo), history = talk(
        chat, "I'm user 3", "tell me about Plain", "I liked <b>Zork</b> [x](http://e.com)"
    )
    assert listed.items
    for reply in (listed, about, echo):
        assert "<" not in reply.text and not re.search(r"(?<!\\)\]\(", reply.text)
        assert listed_titles(reply.text) == [i.title for i in reply.items]
    assert "Zork&lt;/b&gt;" in echo.text  # the unknown mention, echoed as text
    # the history reads back what was listed, whatever the titles hold
    state = chat.respond("more", history).state
    assert {chat.recommenders["hostile"].titles.display(i) for i in state.shown} >= {
        i.title for i in listed.items
    }


def test_a_describer_is_passed_to_its_domain(rec):
    def scary(text: str) -> ItemFilter:
        return ItemFilter(("Horror",) if "creepy" in text else ())

    chat = Chat({"ml-100k": rec}, describer={"ml-100k": scary})
    reply = chat.respond("something creepy please", [])
    assert reply.state.constraints.include_genres == ("Horror",) and reply.items
    for item in reply.items:
        assert "Horror" in rec.data.catalog.genres[rec.data.items.index(item.item_id)]


@pytest.mark.parametrize(
    ("message", "k"),
    [
        ("I loved Star Wars and Fargo, top 10", 10),
        ("show me the top 3", 3),
        ("loved heat and alien. give me 4 please", 4),
    ],
)
def test_a_list_length_is_not_a_reference_nor_a_title(chat, message, k):
    """ "top 10" beside titles, or "the top 3" before any list, asks for a list length."""
    reply = chat.respond(message)
    assert len(reply.items) == k
    assert "no list yet" not in reply.text
    assert "isn't in this catalogue" not in reply.text
