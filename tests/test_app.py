"""The Gradio app: its views and streaming chat function, and end to end on a localhost port."""

import asyncio
import gc
import importlib.util
import itertools
import re
import threading
from pathlib import Path

import pytest

# gradio is imported by the app module itself, which must set its privacy variables first
if importlib.util.find_spec("gradio") is None or importlib.util.find_spec("gradio_client") is None:
    pytest.skip("gradio / gradio_client is not importable", allow_module_level=True)

APP = Path(__file__).resolve().parents[1] / "app" / "app.py"


def _load_app():
    spec = importlib.util.spec_from_file_location("convrec_app_under_test", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(table):
    """The rows of a table output (a list, or a Dataframe payload dict)."""
    return table["data"] if isinstance(table, dict) else table


def _steps(responder, *args):
    """Every value :meth:`Responder.respond` streams for one message."""

    async def collect():
        return [step async for step in responder.respond(*args)]

    return asyncio.run(collect())


def gradio_noise(test):
    """Gradio's own threads: its queue statistics use pandas options pandas 3 deprecates, and
    its event loops / sockets are closed by the garbage collector; neither is this app's code."""
    for mark in (
        "ignore:'future.no_silent_downcasting' is deprecated",
        "ignore:The copy keyword is deprecated",
        "ignore::ResourceWarning",
        "ignore::pytest.PytestUnraisableExceptionWarning",
    ):
        test = pytest.mark.filterwarnings(mark)(test)
    return test


@gradio_noise
def test_two_concurrent_sessions_never_mix(ml100k, loopback_only, free_port):
    from convrec import Recommender

    app = _load_app()
    import gradio_client

    demo = app.build_app({"ml-100k": Recommender.build(ml100k)})
    port = free_port
    app.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        conversations = {
            "a": ["I loved Star Wars", "no horror please", "why Fargo?"],
            "b": ["I loved Toy Story", "only comedies", "why Fargo?"],
        }
        answers: dict[str, list] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def session(name: str) -> None:
            try:
                client = gradio_client.Client(url, verbose=False)
                try:
                    start.wait(timeout=30)
                    answers[name] = [
                        client.predict(message=m, api_name="/chat") for m in conversations[name]
                    ]
                finally:
                    client.close()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=session, args=(n,)) for n in conversations]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        a, b = answers["a"], answers["b"]
        text_a, table_a, *_ = a[0]
        assert "Because you like Star Wars (1977)" in text_a
        rows = _rows(table_a)
        assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
        assert rows[0][1] in text_a and 1 <= rows[0][2] <= 5 and rows[0][3] > 0  # rating, cf
        assert "Because you like Toy Story (1995)" in b[0][0]
        assert "(no Horror)" in a[1][0] and "(Comedy)" in b[1][0]
        assert "Star Wars" in a[2][0] and "Toy Story" not in a[2][0]
        assert "Toy Story" in b[2][0] and "Star Wars" not in b[2][0]
        # "why Fargo?" lists nothing: each session still sees its own last list
        assert _rows(a[2][1]) == _rows(a[1][1]) and _rows(b[2][1]) == _rows(b[1][1])
        assert _rows(a[1][1]) != _rows(b[1][1])
        assert a[2][2] == a[1][2] and b[2][2] == b[1][2]  # the plots too
        assert loopback_only == []
    finally:
        demo.close()
        gc.collect()  # gradio's closed loops and sockets are finalised here, under the filters
        assert not any("telemetry" in t.name for t in threading.enumerate())


def test_cli_chat_subcommand_parses():
    from convrec.cli import build_parser

    args = build_parser().parse_args(["chat", "--port", "7999"])
    assert args.command == "chat" and args.port == 7999 and args.data == "ml-100k"
    assert args.host is None  # 127.0.0.1 or GRADIO_SERVER_NAME, decided at launch
    assert args.func.__name__ == "cmd_chat"


# ---------------------------------------------------------------------- without a server


@pytest.fixture(scope="module")
def domains(ml100k, llm_data, index_llm):
    """ml-100k (CF only) and the tiny titled data set with the index LLM."""
    from convrec import Recommender

    return {
        "ml-100k": Recommender.build(ml100k),
        "tiny": Recommender.build(llm_data, llm=index_llm()),
    }


def test_views_table_plot_and_chunks():
    from convrec.schema import ScoredItem
    from convrec.ui.views import (
        FUSED_TITLE,
        RAW_TITLE,
        contribution_frame,
        stream_chunks,
        table_rows,
    )

    fused = [
        ScoredItem("1", "A (1990)", 1.5, {"cf": 0.4, "llm": -2.0}, 4.26, (), None,
                   {"cf": 1.0, "llm": 0.5}),
        ScoredItem("2", "B" * 60, -0.25, {"cf": 0.1}, None, (), None, {"cf": -0.25}),
    ]  # fmt: skip
    assert table_rows(fused) == [
        [1, "A (1990)", 4.26, 0.4, -2.0, None, 1.5],
        [2, "B" * 60, None, 0.1, None, None, -0.25],
    ]
    frame, title = contribution_frame(fused)
    assert title == FUSED_TITLE and list(frame.columns) == ["item", "source", "contribution"]
    assert frame.groupby("item", sort=False)["contribution"].sum().tolist() == [1.5, -0.25]
    assert frame["item"].iloc[0] == "1. A (1990)" and len(frame["item"].iloc[-1]) <= 32
    popular = [ScoredItem("3", "C", 50.0, {"popularity": 50.0})]
    frame, title = contribution_frame(popular)
    assert title == RAW_TITLE and frame["source"].tolist() == ["popularity"]
    assert contribution_frame([])[0] is None
    text = "Because you like A:\n1. **B**\n\n2. **C**"
    chunks = list(stream_chunks(text))
    assert chunks == ["Because you like A:", "Because you like A:\n1. **B**", text]
    assert list(stream_chunks("")) == [""]


def test_responder_streams_the_reply_then_the_views(domains):
    import gradio as gr

    from convrec.dialogue.chat import Chat
    from convrec.ui import Responder

    responder = Responder(Chat(domains))
    steps = _steps(responder, "I loved Star Wars and Fargo", [], None, 3, 0.5)
    texts = [step[0] for step in steps]
    assert len(steps) == 4  # the lead line, then one line per item
    assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(texts))
    assert all(step[1:] == (gr.skip(),) * 4 for step in steps[:-1])
    final, table, plot, domain, views = steps[-1]
    assert (views.table, views.plot) == (table, plot)
    assert final == Chat(domains).respond("I loved Star Wars and Fargo", [], k=3).text
    assert [row[1] for row in table] == [line for line in re.findall(r"\*\*(.+?)\*\*", final)]
    assert domain == "ml-100k"
    data = plot["value"]
    assert data["columns"] == ["item", "source", "contribution"] and len(data["data"]) == 3
    for row, (_, _, contribution) in zip(table, data["data"], strict=True):
        assert contribution == pytest.approx(row[-1], abs=1e-3)  # cf only: the whole score
    assert plot["sort"] == [r[0] for r in data["data"]]
    # out-of-range or missing controls are clipped or fall back, never an error
    for k, alpha in ((0, -3.0), (999, 7.0), (None, None), ("x", "y"), (float("nan"), None)):
        *_, last = _steps(responder, "I loved Fargo", [], "no-such-domain", k, alpha)
        assert last[1] and last[3] == "ml-100k"
    for domain in (["a", "list"], {"a": 1}, 3, None):  # API callers may send anything there
        *_, last = _steps(responder, "I loved Fargo", [], domain, 3, None)
        assert last[1] and last[3] == "ml-100k"
    *_, switched = _steps(responder, "I like Alpha Delta 0", [], "tiny", 2, 1.0)
    assert switched[0].startswith("Switched to **tiny**") and switched[3] == "tiny"
    assert len(switched[1]) == 2


def test_the_alpha_controls_starting_mark_fuses_as_configured(domains):
    from convrec.dialogue.chat import Chat
    from convrec.ui.respond import Responder

    responder = Responder(Chat(domains), configured_alpha=0.9)
    assert responder.requested_alpha(0.9) is None and responder.requested_alpha(None) is None
    assert responder.requested_alpha(0.85) == 0.85 and responder.requested_alpha(3) == 1.0
    assert Responder(Chat(domains)).requested_alpha(0.9) == 0.9


def test_alpha_control_is_live_only_with_an_llm(domains):
    from convrec.dialogue.chat import Chat
    from convrec.ui.blocks import alpha_info, examples

    live, note = alpha_info({"ml-100k": domains["ml-100k"]})
    assert not live and "no effect" in note
    live, note = alpha_info(domains)
    assert live and "tiny" in note and "ml-100k" not in note
    words = {"ml-100k": ("movies",), "tiny": ("gadgets",)}
    assert "let's switch to gadgets" in examples(Chat(domains, domain_words=words))


@gradio_noise
def test_api_controls_stream_and_env_port(domains, loopback_only, monkeypatch, free_port):
    """k, alpha and domain reach the recommender through /chat; the reply streams."""
    app = _load_app()
    import gradio_client

    port = free_port
    monkeypatch.setenv("GRADIO_SERVER_PORT", str(port))
    demo = app.build_app(domains)
    app.launch(demo, prevent_thread_lock=True, quiet=True)  # the port comes from the env
    assert (demo.server_name, demo.server_port) == ("127.0.0.1", port)
    client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    try:
        text, table, plot, domain = client.predict(
            message="I loved Star Wars and Fargo", k=3, api_name="/chat"
        )
        rows = _rows(table)
        assert len(rows) == 3 and domain == "ml-100k" and rows[0][1] in text
        assert len(plot["value"]["data"]) == 3
        job = client.submit(message="more please", k=4, api_name="/chat")
        job.result()
        streamed = [out[0] for out in job.outputs()]
        assert len(streamed) == 5 and all(b.startswith(a) for a, b in itertools.pairwise(streamed))
        tiny = {}
        for alpha in (1.0, 0.0):
            fresh = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
            try:
                text, table, plot, domain = fresh.predict(
                    message="I'm user 3", domain="tiny", alpha=alpha, api_name="/chat"
                )
            finally:
                fresh.close()
            assert domain == "tiny" and text.startswith("Switched to **tiny**")
            tiny[alpha] = [row[1] for row in _rows(table)]
            sources = {source for _, source, _ in plot["value"]["data"]}
            assert sources == ({"cf"} if alpha == 1.0 else {"cf", "llm"})
        assert tiny[1.0] != tiny[0.0]  # alpha really changes the list
        assert loopback_only == []
    finally:
        client.close()
        demo.close()
        gc.collect()


def test_a_question_keeps_the_last_list_and_reset_empties_it(domains):
    from convrec.dialogue.chat import Chat
    from convrec.ui import Responder

    responder = Responder(Chat({"ml-100k": domains["ml-100k"]}))
    history = []
    views = None

    def turn(message):
        nonlocal views
        *_, (text, table, plot, _, views) = _steps(
            responder, message, list(history), None, 4, None, views
        )
        history.extend(
            [{"role": "user", "content": message}, {"role": "assistant", "content": text}]
        )
        return text, table, plot

    text, listed, plot = turn("I loved Star Wars and Fargo")
    assert len(listed) == 4 and plot["value"] is not None
    second = listed[1][1]
    for question in (f"why {second}?", "how would I rate Heat?", "help"):
        text, table, kept = turn(question)
        assert text and table == listed and kept == plot, question
    text, table, _ = turn("only comedies")  # a new list replaces it
    assert table and table != listed and all(row[1] in text for row in table)
    text, table, empty = turn("reset")
    assert "Starting over" in text and table == [] and empty["value"] is None
    assert views is None
    text, table, _ = turn(f"why {second}?")  # nothing listed since the reset: still empty
    assert text and table == []


@gradio_noise
def test_a_crowd_gets_a_clear_busy_reply(domains):
    from convrec.dialogue.chat import Chat
    from convrec.ui import Responder, busy_text

    busy = "The recommender is busy: 1 person is ahead of you, try again in a moment."
    assert busy_text(1) == busy
    assert "3 people are ahead of you" in busy_text(3)
    responder = Responder(Chat({"ml-100k": domains["ml-100k"]}), concurrency=1, max_waiting=1)

    async def crowd():
        async def one(message):
            return [step async for step in responder.respond(message, [], None, 3, None)]

        first = asyncio.create_task(one("I loved Star Wars"))
        await asyncio.sleep(0)  # the first turn is on the worker now
        second = asyncio.create_task(one("I loved Fargo"))
        await asyncio.sleep(0)  # and the second waits for it
        third = await one("I loved Toy Story")  # one too many: answered at once
        return await first, await second, third

    first, second, third = asyncio.run(crowd())
    assert third == [(busy_text(2), *(third[0][1:]))] and len(third[0]) == 5
    assert "Star Wars" in first[-1][0] and "Fargo" in second[-1][0]
    assert first[-1][1] and second[-1][1]  # both got their list
    assert responder.waiting == 0
    *_, last = _steps(responder, "I loved Toy Story", [], None, 3, None)  # the crowd is gone
    assert "Toy Story" in last[0] and last[1]
    from convrec.ui import CONCURRENCY, MAX_WAITING, build_app

    demo = build_app({"ml-100k": domains["ml-100k"]})
    demo.close()
    gc.collect()  # gradio's loops are finalised here, under the filters
    assert demo.max_threads > CONCURRENCY + MAX_WAITING  # Gradio's own cap on running events
    with pytest.raises(ValueError, match="concurrency"):
        Responder(Chat({"ml-100k": domains["ml-100k"]}), concurrency=0)


HOSTILE = [
    '<img src="http://127.0.0.1:9/x.png">',
    "[link](http://127.0.0.1:9/y)",
    "**bold** _it_ `code`",
    "$x^2$ $$y$$ \\(z\\)",
]


@gradio_noise
def test_table_and_plot_cells_are_plain_text(domains):
    from convrec.schema import ScoredItem
    from convrec.ui import build_app
    from convrec.ui.views import contribution_frame, item_label, plain, table_rows

    items = [ScoredItem(str(i), t, 1.0 - i / 10, {"cf": 0.5}) for i, t in enumerate(HOSTILE)]
    assert [row[1] for row in table_rows(items)] == HOSTILE  # as given: the table shows text
    frame, _ = contribution_frame(items)
    assert frame["item"].tolist() == [item_label(r, it) for r, it in enumerate(items, 1)]
    assert frame["item"].iloc[0].startswith('1. <img src="http://')  # a string, drawn as text
    # markdown built from a name: every punctuation mark escaped, nothing else changed
    for text in [*HOSTILE, "Fargo (1996)", "a\\b"]:
        escaped = plain(text)
        assert re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", escaped) == text
        assert not re.search(r"(?<!\\)(?:\\\\)*[<>\[\]()*_`$!&#]", escaped.replace("\\\\", ""))
    demo = build_app({"ml-100k": domains["ml-100k"]})
    try:
        props = {
            c["props"].get("elem_id"): c["props"]
            for c in demo.config["components"]
            if c["props"].get("elem_id")
        }
        table = props["convrec-results"]
        assert table["datatype"][table["headers"].index("title")] == "str"
        assert "markdown" not in table["datatype"] and "html" not in table["datatype"]
        assert table["latex_delimiters"] == []
        chat = props["convrec-chat"]
        assert chat["latex_delimiters"] == [] and chat["allow_tags"] is False
        assert chat["sanitize_html"] is True and chat["show_label"] is False
        header = next(
            c["props"]["value"]
            for c in demo.config["components"]
            if c["type"] == "markdown" and "convrec" in str(c["props"].get("value"))
        )
        assert "ml\\-100k" in header
    finally:
        demo.close()
        gc.collect()
