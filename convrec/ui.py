"""The Gradio chat app over Chat / Recommender.chat (imported only by `convrec chat` and app/)."""

from __future__ import annotations

import os
import sys

# before gradio is imported: no analytics, version check or model hub calls
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
if "huggingface_hub" in sys.modules:  # imported earlier: its constants were read already
    sys.modules["huggingface_hub"].constants.HF_HUB_OFFLINE = True
    sys.modules["huggingface_hub"].constants.HF_HUB_DISABLE_TELEMETRY = True

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from convrec.dialogue.chat import Chat, ChatReply
from convrec.dialogue.intent import MAX_MESSAGE_CHARS

if TYPE_CHECKING:
    from convrec.pipeline import Recommender

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
TABLE_HEADERS = ["#", "title", "predicted rating", "cf", "llm", "cbf"]
CONCURRENCY = 4
QUEUE_SIZE = 64


def table_rows(reply: ChatReply) -> list[list[Any]]:
    """The reply's items as rows of ``TABLE_HEADERS`` (missing sources left blank)."""
    rows: list[list[Any]] = []
    for rank, item in enumerate(reply.items, 1):
        rating = None if item.predicted_rating is None else round(item.predicted_rating, 2)
        comps = [item.components.get(n) for n in ("cf", "llm", "cbf")]
        rows.append(
            [rank, item.title, rating, *(None if c is None else round(c, 4) for c in comps)]
        )
    return rows


def build_app(recommenders: Mapping[str, Recommender], default: str | None = None) -> gr.Blocks:
    """A ``gr.Blocks`` whose chat function is served at ``api_name="/chat"``.

    Nothing is kept between calls: each call rebuilds the conversation from the
    history Gradio sends, so sessions cannot leak into each other.
    """
    chat = Chat(recommenders, default)

    def respond(message: str, history: Sequence[Any]) -> tuple[str, list[list[Any]]]:
        reply = chat.respond(str(message or "")[: 2 * MAX_MESSAGE_CHARS], history)
        return reply.text, table_rows(reply)

    loaded = ", ".join(recommenders)
    with gr.Blocks(title="convrec", analytics_enabled=False) as demo:
        table = gr.Dataframe(
            headers=TABLE_HEADERS,
            label="Items in the last reply: predicted rating and per-source scores",
            interactive=False,
            render=False,
        )
        gr.ChatInterface(
            respond,
            api_name="chat",
            title="convrec: conversational recommender",
            description=f"Tell me titles you like, ask *why*, *rate* or *about* a title. "
            f"Loaded: {loaded}. Type *help* for more.",
            examples=EXAMPLES,
            run_examples_on_click=True,
            cache_examples=False,
            textbox=gr.Textbox(
                placeholder="I loved Star Wars and Fargo",
                max_length=MAX_MESSAGE_CHARS,
                submit_btn=True,
                stop_btn=False,
            ),
            additional_outputs=[table],
            concurrency_limit=CONCURRENCY,
            flagging_mode="never",
            analytics_enabled=False,
        )
        table.render()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch(demo: gr.Blocks, host: str | None = None, port: int | None = None, **kwargs: Any) -> Any:
    """Launch on 127.0.0.1 (or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT), never with a share link."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    env_port = os.environ.get("GRADIO_SERVER_PORT")
    port = port or (int(env_port) if env_port else 7860)
    return demo.launch(server_name=host, server_port=port, share=False, **kwargs)


def main(data: str = "ml-100k", host: str | None = None, port: int | None = None) -> None:
    """Build the recommender for ``data`` (about a second for ml-100k) and serve the app."""
    from convrec.data import load_dataset
    from convrec.pipeline import Recommender

    dataset = load_dataset(data)
    demo = build_app({dataset.name: Recommender.build(dataset)})
    launch(demo, host, port)
