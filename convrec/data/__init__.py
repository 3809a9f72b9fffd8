"""Data layer: the typed in-memory Dataset and the loaders for the formats users have."""

from convrec.data.dataset import (
    Catalog,
    Dataset,
    DuplicateInteractionWarning,
    IdMap,
    ItemInfo,
    build_dataset,
)
from convrec.data.errors import DataError, DatasetNotFoundError, UnknownIdError

__all__ = [
    "Catalog",
    "DataError",
    "Dataset",
    "DatasetNotFoundError",
    "DuplicateInteractionWarning",
    "IdMap",
    "ItemInfo",
    "UnknownIdError",
    "build_dataset",
]
