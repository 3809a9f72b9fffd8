"""Progress bars (tqdm, with a rate) of the long stages, drawn when `convrec.progress` logs INFO.

Library code never decides on its own to draw on the terminal: a bar is drawn (on stderr) only
when the ``convrec.progress`` logger is enabled for INFO. That logger inherits ``convrec``'s
level, so a program that sets ``logging.getLogger("convrec").setLevel(logging.INFO)`` (or
``logging.basicConfig(level=logging.INFO)``) sees the bars, and tests, which leave the levels at
WARNING, see none. The ``convrec`` command sets it from ``--progress/--no-progress``, by default
on when stderr is a terminal (see :mod:`convrec.cli.logs`).

Two shapes: :func:`bar` counts units of a Python loop (rows read, users scored);
:func:`running` wraps one long call that reports nothing until it returns (a native kernel,
a LAPACK solve), shows its elapsed time while it runs and its rate once it is done.
:func:`quiet_transformers` keeps transformers' own load bar and report off the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from tqdm.auto import tqdm

LOGGER_NAME = "convrec.progress"
logger = logging.getLogger(LOGGER_NAME)

TICK_SECONDS = 1.0
"""How often :func:`running` redraws the elapsed time of a call that reports nothing."""


def enabled() -> bool:
    """Whether bars are drawn: the ``convrec.progress`` logger is enabled for INFO."""
    return logger.isEnabledFor(logging.INFO)


def bar(total: int | None = None, *, desc: str, unit: str = "it", **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr (disabled, and free, unless :func:`enabled`).

    Parameters
    ----------
    total : int or None
        Units expected (``None``: unknown, the bar shows the count and rate only).
    desc : str
        The stage, e.g. ``"load ratings.csv"``.
    unit : str
        What is counted (``"rows"``, ``"users"``); large counts are scaled (``k``, ``M``).
    kwargs
        Passed to :class:`tqdm.tqdm`; ``disable=True`` hides the bar even when enabled.
    """
    kwargs.setdefault("unit_scale", True)
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    disable = bool(kwargs.pop("disable", False)) or not enabled()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=disable, **kwargs)


@contextlib.contextmanager
def running(total: int, *, desc: str, unit: str = "it") -> Iterator[tqdm]:
    """A bar over one call that reports no progress of its own (a native one should release
    the GIL, or the redraws wait for it).

    The bar shows the elapsed time while the block runs (redrawn every
    :data:`TICK_SECONDS` by a helper thread) and is filled to ``total`` when the block ends
    without an error, so that its rate (``total`` / seconds) is what the call achieved.

    Examples
    --------
    >>> with running(n_items, desc="similarity", unit="items"):
    ...     result = _native.item_similarity(...)  # doctest: +SKIP
    """
    progress = bar(total, desc=desc, unit=unit)
    if progress.disable:
        yield progress
        return
    done = threading.Event()

    def tick() -> None:
        while not done.wait(TICK_SECONDS):
            progress.refresh()

    ticker = threading.Thread(target=tick, name="convrec-progress", daemon=True)
    ticker.start()
    try:
        yield progress
        progress.update(total - progress.n)
        progress.refresh()  # the rate, however short the call
    finally:
        done.set()
        ticker.join()
        progress.close()


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Load a transformers model without its load report (expected missing or unused weights)
    and without its "Loading weights" bar; both are restored afterwards."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


__all__ = ["LOGGER_NAME", "bar", "enabled", "quiet_transformers", "running"]
