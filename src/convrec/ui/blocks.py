"""The app's layout: controls, the streaming ChatInterface (api ``/chat``), table and plot.

Everything from data or a message is shown as text only: the chat has no LaTeX and keeps no
custom tags (its markdown is escaped where replies are written), table cells are plain
strings, plot labels are drawn as text, and the header's domain names go through
:func:`~convrec.ui.views.plain`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import gradio as gr

from convrec.dialogue.chat import DEFAULT_K, Chat
from convrec.dialogue.intent import MAX_MESSAGE_CHARS
from convrec.ui.respond import CONCURRENCY, MAX_WAITING, Responder
from convrec.ui.views import PLOT_COLUMNS, TABLE_DATATYPES, TABLE_HEADERS, TABLE_WIDTHS, plain

if TYPE_CHECKING:
    from convrec.recommender import Recommender

EXAMPLES = [
    "I loved Star Wars and Fargo",
    "only comedies from the 90s",
    "why Return of the Jedi?",
    "I hated Toy Story",
    "how would I rate Heat?",
    "tell me about Toy Story",
    "I'm user 42",
    "reset",
]
QUEUE_SIZE = 1024
"""Gradio's own queue bound: a backstop, the chat answers :func:`busy_text` well before it."""
MAX_K_CONTROL = 20


def examples(chat: Chat) -> list[str]:
    """:data:`EXAMPLES`, plus one "switch to ..." per other loaded domain."""
    assert chat.default is not None
    switches = [
        f"let's switch to {(list(chat.domain_words.get(n, ())) or [n])[0]}"
        for n in chat.recommenders
        if n != chat.default
    ]
    return [*EXAMPLES[:-1], *switches, EXAMPLES[-1]]


def concurrency_from_env() -> int:
    """``GRADIO_DEFAULT_CONCURRENCY_LIMIT`` as the number of turns computed at once, or
    :data:`~convrec.ui.respond.CONCURRENCY` when it is not set."""
    value = os.environ.get("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "").strip()
    if not value:
        return CONCURRENCY
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"GRADIO_DEFAULT_CONCURRENCY_LIMIT must be a whole number >= 1, got {value[:40]!r}"
        )
    return int(value)


def alpha_info(recommenders: Mapping[str, Recommender]) -> tuple[bool, str]:
    """Whether the alpha control can change anything, and the note that says so."""
    with_llm = [n for n, rec in recommenders.items() if rec.llm is not None]
    if not with_llm:
        return False, "No LLM is loaded, so lists are CF only: alpha has no effect here."
    return True, (
        f"1: CF only, 0: LLM only. The LLM ({', '.join(with_llm)}) scores known users "
        "(*I'm user 42*) and sessions from the titles you like. At its starting mark each "
        "list fuses as validated, sessions with their own weight."
    )


def build_app(
    recommenders: Mapping[str, Recommender],
    default: str | None = None,
    concurrency: int | None = None,
    max_waiting: int = MAX_WAITING,
) -> gr.Blocks:
    """A ``gr.Blocks`` whose streaming chat function is served at ``api_name="/chat"``.

    ``/chat`` takes ``message`` and optionally ``domain`` (``None``: stay where the
    conversation is), ``k`` and ``alpha``, and returns ``(reply, table, plot, domain)``.
    ``concurrency`` turns are computed at once (default: ``GRADIO_DEFAULT_CONCURRENCY_LIMIT``
    when set, else :data:`~convrec.ui.respond.CONCURRENCY`) and ``max_waiting`` more may wait
    (see :class:`~convrec.ui.respond.Responder`); Gradio's queue lets every chat event
    through to that gate, so a crowd gets a clear "busy" reply rather than "Queue is full".
    """
    concurrency = concurrency_from_env() if concurrency is None else concurrency
    chat = Chat(recommenders, default)
    assert chat.default is not None
    config = recommenders[chat.default].config
    responder = Responder(chat, concurrency, max_waiting, round(config.alpha, 2))
    alpha_live, alpha_note = alpha_info(recommenders)
    words = {n: (list(chat.domain_words.get(n, ())) or [n])[0] for n in recommenders}
    with gr.Blocks(title="convrec", analytics_enabled=False) as demo:
        gr.Markdown(
            "# convrec: conversational recommender\n"
            "Tell me titles you like, ask *why*, *rate* or *about* a title. "
            f"Loaded: {', '.join(plain(n) for n in recommenders)}. Type *help* for more.",
            latex_delimiters=[],
        )
        with gr.Row(equal_height=True):
            domain = gr.Dropdown(
                choices=[(f"{n} ({w})", n) for n, w in words.items()],
                value=None,  # the API's default: stay in the conversation's domain
                label="Domain",
                info="Switching starts afresh there; saying *switch to ...* works too.",
                interactive=len(recommenders) > 1,
            )
            k = gr.Slider(
                1, MAX_K_CONTROL, value=DEFAULT_K, step=1, label="Items per list (k)",
                info="A number asked in the chat (*top 3*) wins.",
            )  # fmt: skip
            alpha = gr.Slider(
                0.0, 1.0, value=round(config.alpha, 2), step=0.05,
                label="alpha: CF vs LLM weight", info=alpha_note, interactive=alpha_live,
            )  # fmt: skip
        table = gr.Dataframe(
            headers=TABLE_HEADERS,
            datatype=TABLE_DATATYPES,  # cells are text, never markdown or HTML
            latex_delimiters=[],
            column_widths=TABLE_WIDTHS,
            wrap=True,
            max_height=520,  # k = 10 without a vertical scroll
            label="The last list: predicted rating, per-source and fused scores",
            interactive=False,
            render=False,
            elem_id="convrec-results",
        )
        plot = gr.BarPlot(
            x=PLOT_COLUMNS[0], y=PLOT_COLUMNS[2], color=PLOT_COLUMNS[1],
            x_title="item", y_title="contribution", x_label_angle=-30,
            label="Why each item ranks where it does", show_label=True, render=False,
            elem_id="convrec-plot",
        )  # fmt: skip
        views = gr.State(None)  # per session: the last list's table and plot
        gr.ChatInterface(
            responder.respond,  # an async generator: the reply streams
            chatbot=gr.Chatbot(
                show_label=False,  # a label would sit on the first message
                latex_delimiters=[],
                allow_tags=False,
                sanitize_html=True,
                elem_id="convrec-chat",
                height=420,
            ),
            api_name="chat",
            examples=[[e, None, None, None, None] for e in examples(chat)],
            run_examples_on_click=True,
            cache_examples=False,
            textbox=gr.Textbox(
                placeholder="I loved Star Wars and Fargo",
                max_length=MAX_MESSAGE_CHARS,
                elem_id="convrec-message",
                submit_btn=True,
                stop_btn=False,
            ),
            additional_inputs=[domain, k, alpha, views],
            additional_outputs=[table, plot, domain, views],
            concurrency_limit=None,  # the responder's own gate, which can say why it refuses
            flagging_mode="never",
            analytics_enabled=False,
        )
        table.render()  # full width: every column fits at k = 10
        plot.render()
        demo.load(lambda: chat.default, None, domain, queue=False, api_visibility="private")
    demo.queue(default_concurrency_limit=concurrency, max_size=QUEUE_SIZE)
    return demo
