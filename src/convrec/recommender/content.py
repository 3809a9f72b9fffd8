"""The content source a ready-made recommender carries: item text, by the shipped encoder."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from convrec.data.dataset import Dataset

log = logging.getLogger(__name__)


def content_source(data: Dataset, rows: np.ndarray | None = None) -> Any:
    """A :class:`~convrec.cbf.model.ContentModel` fitted on ``rows`` (``int64[m]``, default
    all) of ``data``, or ``None`` when the encoder cannot be loaded here.

    The item embeddings are cached on disk (:func:`~convrec.cbf.model.embed_items`), so only the
    first fit on a catalogue runs the encoder over every item's text. Without the ``llm`` extra
    (torch, transformers, the packaged MiniLM) the recommender runs on CF alone and one log
    line says so.
    """
    try:
        from convrec.cbf import ContentModel

        return ContentModel().fit(data, rows)
    except (ImportError, FileNotFoundError, OSError) as err:
        log.warning("no content source for %s (%s): recommending from CF alone", data.name, err)
        return None
