"""Start-up: the cyclic garbage collector paused while large libraries and models load."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused(freeze: bool = False) -> Iterator[None]:
    """Load with the cyclic garbage collector paused; ``freeze`` then sets it all aside.

    Importing torch and transformers (and gradio) creates millions of long-lived objects,
    and the collections they trigger walk all of them again and again: about a fifth of
    start-up. Objects are still released by reference counting meanwhile. ``freeze=True``
    (for a process that owns its interpreter, such as the command line) moves everything
    alive at the end out of later collections, the one at interpreter exit included (seconds
    on a busy 2-core machine), with :func:`gc.freeze`. The collector's state on entry is
    restored on exit (it stays off when it was off).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()
