"""The app's chat function: control values in, the reply streamed line by line, views last.

Turns run on a small pool of worker threads (:data:`CONCURRENCY` at once, a CPU box gains
nothing from more); the rest wait on the event loop, and past :data:`MAX_WAITING` a turn is
answered at once with :func:`busy_text` instead of queueing behind everyone else.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gradio as gr

from convrec.dialogue.chat import DEFAULT_K, MAX_K, Chat, ChatReply
from convrec.dialogue.intent import MAX_MESSAGE_CHARS
from convrec.schema import ScoredItem
from convrec.ui.views import contribution_frame, item_label, stream_chunks, table_rows

log = logging.getLogger(__name__)

CONCURRENCY = 2
"""Turns computed at once (worker threads); the machine's cores are shared by all of them."""
MAX_WAITING = 32
"""Turns that may wait for a worker; one more is answered with :func:`busy_text`. Gradio runs
at most 40 events at once (``launch(max_threads=40)``) and queues the rest out of this gate's
sight, so ``CONCURRENCY + MAX_WAITING`` stays below 40: past it, turns get the busy reply."""


def busy_text(ahead: int) -> str:
    """The reply to a turn that arrives while :data:`MAX_WAITING` turns are already waiting."""
    people = "1 person is" if ahead == 1 else f"{ahead} people are"
    return f"The recommender is busy: {people} ahead of you, try again in a moment."


@dataclass(frozen=True)
class Views:
    """The table rows and plot update of the last list one session was shown (its gr.State)."""

    table: list[list[Any]]
    plot: dict[str, Any]


@dataclass
class Responder:
    """The streaming chat function :meth:`respond` for ``gr.ChatInterface``.

    The conversation is rebuilt from the history Gradio sends; the only thing kept between
    calls is the session's :class:`Views` (a ``gr.State``, which Gradio keeps per session,
    so sessions cannot leak into each other). Every yield is ``(reply so far, table, plot,
    domain, views)``; the table, plot, domain and views are sent with the last one only
    (``gr.skip()`` before), the domain being where the conversation is after this message,
    so the domain control follows a switch made in words. A reply that lists nothing (a
    question about a title, a rating, help) sends the session's last table and plot again,
    so the list being discussed stays in view; a reply after which no list is live (reset,
    a switch of domain) empties them. The plot is Gradio's JSON plot data, so
    ``gradio_client`` callers get plain JSON too.

    Parameters
    ----------
    chat
        The conversation logic.
    concurrency
        Turns computed at once (worker threads).
    max_waiting
        Turns that may wait for a worker before a new one gets :func:`busy_text`.
    configured_alpha
        The alpha control's starting mark: a turn sent with it fuses as each recommender is
        configured (known users and sessions with their own validated weights); any other
        value is the user's choice for every list.
    """

    chat: Chat
    concurrency: int = CONCURRENCY
    max_waiting: int = MAX_WAITING
    configured_alpha: float | None = None
    _plot: gr.BarPlot = field(init=False, repr=False)
    _pool: ThreadPoolExecutor = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)
    _pending: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_waiting < 0:
            raise ValueError(
                f"concurrency must be >= 1 and max_waiting >= 0, got {self.concurrency}, "
                f"{self.max_waiting}"
            )
        self._plot = gr.BarPlot(render=False)  # converts DataFrames to plot data only
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="convrec-turn")
        self._lock = threading.Lock()

    async def respond(
        self,
        message: str,
        history: Sequence[Any],
        domain: str | None = None,
        k: float | None = None,
        alpha: float | None = None,
        views: Views | None = None,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Stream the reply to ``message``; the controls as :meth:`Chat.respond` takes them."""
        admitted, ahead = self._admit()
        if not admitted:
            log.info("chat turn refused: %d turns ahead of it", ahead)
            yield busy_text(ahead), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        queued = time.perf_counter()
        try:
            turn = partial(self._turn, queued, message, history, domain, k, alpha)
            reply, waited, took = await asyncio.get_running_loop().run_in_executor(self._pool, turn)
        finally:
            with self._lock:
                self._pending -= 1
        log.debug("chat turn: waited %.3f s behind %d, answered in %.3f s", waited, ahead, took)
        views = self.views_after(reply, views)
        # each streamed chunk costs Gradio a round of postprocessing and a message: when
        # other turns are running or waiting, the whole reply goes at once
        with self._lock:
            busy = self._pending > 0
        chunks = [reply.text] if busy else list(stream_chunks(reply.text))
        for chunk in chunks[:-1]:
            yield chunk, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        # copies: Gradio consumes the update dicts it is given (the state must stay whole)
        table = [] if views is None else [list(row) for row in views.table]
        plot = self.plot([]) if views is None else dict(views.plot)
        yield chunks[-1], table, plot, reply.state.domain, views

    @property
    def waiting(self) -> int:
        """Turns admitted and not yet started (0 when a worker is free)."""
        return max(0, self._pending - self.concurrency)

    def _admit(self) -> tuple[bool, int]:
        """Count a new turn in unless too many wait; whether it was, and the turns ahead of it."""
        with self._lock:
            ahead = self._pending
            if self.waiting >= self.max_waiting and ahead >= self.concurrency:
                return False, ahead
            self._pending += 1
            return True, ahead

    def _turn(
        self,
        queued: float,
        message: Any,
        history: Sequence[Any],
        domain: Any,
        k: Any,
        alpha: Any,
    ) -> tuple[ChatReply, float, float]:
        """Answer one message on a worker thread: the reply, seconds waited and computing."""
        start = time.perf_counter()
        reply = self.chat.respond(
            str(message or "")[: 2 * MAX_MESSAGE_CHARS],
            history,
            domain=domain if isinstance(domain, str) and domain in self.chat.recommenders else None,
            k=_int_in(k, 1, MAX_K, DEFAULT_K),
            alpha=self.requested_alpha(alpha),
        )
        return reply, start - queued, time.perf_counter() - start

    def requested_alpha(self, alpha: Any) -> float | None:
        """The alpha a turn asks for: ``None`` (as configured) at the control's starting mark
        or when missing, else the value clipped to [0, 1]."""
        value = _float_in(alpha, 0.0, 1.0)
        if value is None or (
            self.configured_alpha is not None and abs(value - self.configured_alpha) < 1e-9
        ):
            return None
        return value

    def views_after(self, reply: ChatReply, views: Views | None) -> Views | None:
        """The session's views after ``reply``: its own list, the last one kept, or none."""
        if reply.items:
            return Views(table_rows(reply.items), self.plot(reply.items))
        if not reply.state.shown or not isinstance(views, Views):
            return None  # reset, another domain, or nothing listed yet
        return views

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
