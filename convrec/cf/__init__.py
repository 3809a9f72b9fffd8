"""Collaborative filtering over the native engine: ItemKNN, fusion, and numpy oracles."""

from convrec.cf._backend import cuda_available, resolve_backend
from convrec.cf.fusion import fuse
from convrec.cf.knn import SIMILARITIES, ItemKNN, ItemKNNConfig

__all__ = ["SIMILARITIES", "ItemKNN", "ItemKNNConfig", "cuda_available", "fuse", "resolve_backend"]
