"""Collaborative filtering over the native engine: neighbour, linear, rating and sequential
models."""

from convrec.cf._backend import cuda_available, resolve_backend
from convrec.cf.base import CFModel, RatingCFModel
from convrec.cf.baselines import BiasBaseline, GlobalMean, MostPopular
from convrec.cf.ease import EASE
from convrec.cf.factor import BPMF
from convrec.cf.fusion import fuse
from convrec.cf.knn import SIMILARITIES, ItemKNN, ItemKNNConfig, KNNConfig, UserKNN
from convrec.cf.rating import Blend, KNNBaseline
from convrec.cf.scoring import ItemLayout, score_dense, score_topk
from convrec.cf.seqlinear import SequentialLinear
from convrec.cf.sequential import NeighbourModel, RecencyItemKNN, SequentialKNN

__all__ = [
    "BPMF",
    "EASE",
    "SIMILARITIES",
    "BiasBaseline",
    "Blend",
    "CFModel",
    "GlobalMean",
    "ItemKNN",
    "ItemKNNConfig",
    "ItemLayout",
    "KNNBaseline",
    "KNNConfig",
    "MostPopular",
    "NeighbourModel",
    "RatingCFModel",
    "RecencyItemKNN",
    "SequentialKNN",
    "SequentialLinear",
    "UserKNN",
    "cuda_available",
    "fuse",
    "resolve_backend",
    "score_dense",
    "score_topk",
]
