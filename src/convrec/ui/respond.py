"""The app's chat function: control values in, the reply streamed line by line, views last."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from convrec.dialogue.chat import DEFAULT_K, MAX_K, Chat
from convrec.dialogue.intent import MAX_MESSAGE_CHARS
from convrec.schema import ScoredItem
from convrec.ui.views import contribution_frame, item_label, stream_chunks, table_rows


@dataclass
class Responder:
    """The streaming chat function :meth:`respond` for ``gr.ChatInterface``.

    Nothing is kept between calls: each call rebuilds the conversation from the history
    Gradio sends, so sessions cannot leak into each other. Every yield is
    ``(reply so far, table, plot, domain)``; the table, plot and domain are sent with
    the last one only (``gr.skip()`` before), the domain being where the conversation is
    after this message, so the domain control follows a switch made in words. The plot
    is sent as Gradio's JSON plot data, so ``gradio_client`` callers get plain JSON too.
    """

    chat: Chat
    _plot: gr.BarPlot = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._plot = gr.BarPlot(render=False)  # converts DataFrames to plot data only

    def respond(
        self,
        message: str,
        history: Sequence[Any],
        domain: str | None = None,
        k: float | None = None,
        alpha: float | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream the reply to ``message``; the controls as :meth:`Chat.respond` takes them."""
        reply = self.chat.respond(
            str(message or "")[: 2 * MAX_MESSAGE_CHARS],
            history,
            domain=domain if isinstance(domain, str) and domain in self.chat.recommenders else None,
            k=_int_in(k, 1, MAX_K, DEFAULT_K),
            alpha=_float_in(alpha, 0.0, 1.0),
        )
        chunks = list(stream_chunks(reply.text))
        for chunk in chunks[:-1]:
            yield chunk, gr.skip(), gr.skip(), gr.skip()
        yield chunks[-1], table_rows(reply.items), self.plot(reply.items), reply.state.domain

    def plot(self, items: Sequence[ScoredItem]) -> dict[str, Any]:
        """A bar plot update: :func:`contribution_frame` data and title, items in rank order."""
        frame, title = contribution_frame(items)
        data = None if frame is None else self._plot.postprocess(frame)
        labels = [item_label(rank, item) for rank, item in enumerate(items, 1)]
        value = None if data is None else data.model_dump()
        return gr.update(value=value, title=title, sort=labels or None)


def _int_in(value: Any, lo: int, hi: int, default: int) -> int:
    """``value`` as an int clipped to ``[lo, hi]`` (``default`` when missing or not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else int(min(max(round(number), lo), hi))


def _float_in(value: Any, lo: float, hi: float) -> float | None:
    """``value`` clipped to ``[lo, hi]``, or ``None`` when missing or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else min(max(number, lo), hi)
