"""The one in-memory dataset: id maps, interactions, CSR views, item catalog, reviews, users."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from convrec.data.errors import DataError, UnknownIdError


class DuplicateInteractionWarning(UserWarning):
    """The same (user, item) pair occurred more than once; the latest one was kept."""


def canonical_csr(mat: sp.spmatrix) -> sp.csr_matrix:
    """``mat`` as CSR with summed duplicates, sorted indices and int32 ``indptr`` / ``indices``.

    The layout every native kernel of convrec expects.
    """
    out = sp.csr_matrix(mat)
    out.sum_duplicates()
    out.sort_indices()
    out.indptr = out.indptr.astype(np.int32)
    out.indices = out.indices.astype(np.int32)
    return out


@dataclass(frozen=True)
class IdMap:
    """Map between external ids (strings) and contiguous int32 indices.

    External ids are kept as strings; integers passed to :meth:`index` are
    converted, so ``index(42) == index("42")``. Ids are ordered numerically
    when all of them are integers (MovieLens ``1..943`` -> ``0..942``),
    lexicographically otherwise.
    """

    kind: str
    external: tuple[str, ...]
    _lookup: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup = {ext: i for i, ext in enumerate(self.external)}
        if len(lookup) != len(self.external):
            raise ValueError(f"{self.kind} ids are not unique")
        object.__setattr__(self, "_lookup", lookup)

    @classmethod
    def encode(cls, kind: str, values: Sequence[str] | np.ndarray) -> tuple[IdMap, np.ndarray]:
        """Build the map from raw values and return it with the int32 code of every value.

        Parameters
        ----------
        kind
            ``"user"`` or ``"item"`` (used in error messages).
        values
            External ids, one per row (str, or an integer array).

        Returns
        -------
        (IdMap, codes)
            ``codes`` is ``int32[len(values)]`` with ``external[codes[r]] == str(values[r])``.
        """
        arr = np.asarray(values)
        if arr.dtype.kind in "iu":
            uniq, codes = _unique_integers(arr.astype(np.int64))
            external = tuple(str(int(v)) for v in uniq)
        else:
            arr = arr.astype(str)
            numeric = _as_integers(arr)
            if numeric is not None:  # numeric order; each id is spelt as str(int(id))
                uniq_num, codes = np.unique(numeric, return_inverse=True)
                external = tuple(str(int(v)) for v in uniq_num)
            else:  # "007" and "7" are two ids, as are "１２" and "12"
                uniq_str, codes = np.unique(arr, return_inverse=True)
                external = tuple(str(v) for v in uniq_str)
        if len(external) >= np.iinfo(np.int32).max:
            raise DataError(f"too many distinct {kind} ids for int32 indices")
        return cls(kind, external), codes.astype(np.int32).reshape(-1)

    def __len__(self) -> int:
        return len(self.external)

    def __contains__(self, external_id: object) -> bool:
        return _key(external_id) in self._lookup

    def index(self, external_id: str | int) -> int:
        """Internal index of one external id; raises :class:`UnknownIdError`."""
        try:
            return self._lookup[_key(external_id)]
        except KeyError:
            raise UnknownIdError(self.kind, external_id) from None

    def indices(self, external_ids: Iterable[str | int]) -> np.ndarray:
        """``int32`` indices of several external ids; raises :class:`UnknownIdError`."""
        return np.fromiter((self.index(e) for e in external_ids), dtype=np.int32)

    def extend(self, extra: Iterable[str]) -> IdMap:
        """A map with ``extra`` ids appended after the existing ones (existing indices kept)."""
        new = [e for e in dict.fromkeys(_key(x) for x in extra) if e not in self._lookup]
        return IdMap(self.kind, self.external + tuple(new)) if new else self


def _key(external_id: object) -> str:
    if isinstance(external_id, (bool, np.bool_)):
        raise TypeError("ids must be strings or integers, not bool")
    if isinstance(external_id, (int, np.integer)):
        return str(int(external_id))
    return str(external_id)


def _unique_integers(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(arr, return_inverse=True)`` of ``int64[n]``, by table lookup for dense ids."""
    if arr.size and arr.min() >= 0 and arr.max() < max(1 << 20, 4 * arr.size):
        present = np.zeros(int(arr.max()) + 1, dtype=bool)
        present[arr] = True
        index = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present), index[arr]
    return np.unique(arr, return_inverse=True)


def _as_integers(arr: np.ndarray) -> np.ndarray | None:
    """``int64`` array when every string is the plain spelling of an integer (ASCII digits, no
    sign, no leading zero: ``str(int(s)) == s``), else ``None``: distinct strings stay distinct."""
    if arr.size == 0 or not np.all(np.char.isdigit(arr)):
        return None
    if int(np.char.str_len(arr).max()) > 18:
        return None
    try:
        ints = arr.astype(np.int64)
    except ValueError:  # digits that int() does not read, e.g. "²"
        return None
    return ints if np.array_equal(ints.astype(arr.dtype), arr) else None


@dataclass(frozen=True)
class Catalog:
    """Item side information, one entry per internal item index.

    Attributes
    ----------
    title : list[str]
        Display title; the external id when the source has none.
    year : numpy.ndarray
        ``int32[n_items]`` release year, ``-1`` when unknown.
    genres : list[tuple[str, ...]]
        Genres or categories.
    text : list[str]
        Free text (description, tags); ``""`` when none.
    """

    title: list[str]
    year: np.ndarray
    genres: list[tuple[str, ...]]
    text: list[str]

    def __len__(self) -> int:
        return len(self.title)


@dataclass(frozen=True)
class ItemInfo:
    """Side information of one item as a loader reads it (before indexing)."""

    title: str = ""
    year: int = -1
    genres: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Dataset:
    """Interactions in source order plus everything known about users and items.

    Attributes
    ----------
    name : str
        Short name (``"ml-100k"``, a file stem, ...).
    users, items : IdMap
        External <-> internal id maps.
    user, item : numpy.ndarray
        ``int32[n]`` internal indices of each interaction, in source order.
    rating : numpy.ndarray
        ``float32[n]`` explicit rating (``1.0`` for implicit data).
    timestamp : numpy.ndarray
        ``int64[n]`` seconds since the epoch (``0`` when unknown).
    catalog : Catalog
        Item side information, ``len(catalog) == len(items)``.
    review_text, summary : list[str] | None
        Per-interaction review body and one-line summary, when the source has them.
    user_attributes : dict[str, list[str]] | None
        Per-user attributes (``{"age": [...], "gender": [...]}``), one value per user index.
    source : str
        Where the data was read from.
    """

    name: str
    users: IdMap
    items: IdMap
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    catalog: Catalog
    review_text: list[str] | None = None
    summary: list[str] | None = None
    user_attributes: dict[str, list[str]] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.user)
        for label, arr, dtype in (
            ("user", self.user, np.int32),
            ("item", self.item, np.int32),
            ("rating", self.rating, np.float32),
            ("timestamp", self.timestamp, np.int64),
        ):
            if arr.dtype != dtype or arr.shape != (n,):
                raise ValueError(f"Dataset.{label} must be {np.dtype(dtype)}[{n}]")
        if n and (self.user.min() < 0 or self.user.max() >= len(self.users)):
            raise ValueError("Dataset.user holds an index outside the user map")
        if n and (self.item.min() < 0 or self.item.max() >= len(self.items)):
            raise ValueError("Dataset.item holds an index outside the item map")
        if len(self.catalog) != len(self.items):
            raise ValueError("Dataset.catalog must have one entry per item")
        for label, texts in (("review_text", self.review_text), ("summary", self.summary)):
            if texts is not None and len(texts) != n:
                raise ValueError(f"Dataset.{label} must have one entry per interaction")

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        return len(self.user)

    def user_items(
        self,
        rows: np.ndarray | None = None,
        values: Literal["rating", "ones"] = "rating",
    ) -> sp.csr_matrix:
        """Users x items CSR matrix of the given interaction rows.

        Parameters
        ----------
        rows
            ``int64[m]`` interaction row indices (default: all rows).
        values
            ``"rating"`` stores the rating, ``"ones"`` stores ``1.0``.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``float32[n_users, n_items]`` with int32 ``indptr`` / ``indices``,
            indices sorted within each row.
        """
        sel = slice(None) if rows is None else np.asarray(rows)
        user, item = self.user[sel], self.item[sel]
        data = self.rating[sel] if values == "rating" else np.ones(len(user), np.float32)
        mat = sp.csr_matrix(
            (data.astype(np.float32), (user, item)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        return canonical_csr(mat)

    def item_users(
        self,
        rows: np.ndarray | None = None,
        values: Literal["rating", "ones"] = "rating",
    ) -> sp.csr_matrix:
        """Items x users CSR matrix (the transpose of :meth:`user_items`)."""
        return canonical_csr(self.user_items(rows, values).T)

    def describe(self) -> dict[str, object]:
        """Counts and ranges for a quick look (``convrec data``)."""
        n = self.n_interactions
        return {
            "name": self.name,
            "source": self.source,
            "interactions": n,
            "users": self.n_users,
            "items": self.n_items,
            "density": n / max(1, self.n_users * self.n_items),
            "rating_min": float(self.rating.min()) if n else None,
            "rating_max": float(self.rating.max()) if n else None,
            "rating_mean": float(self.rating.mean()) if n else None,
            "has_titles": any(
                t != e for t, e in zip(self.catalog.title, self.items.external, strict=True)
            ),
            "has_reviews": self.review_text is not None,
            "user_attributes": sorted(self.user_attributes or {}),
        }


def build_dataset(
    name: str,
    *,
    source: str,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    rating: np.ndarray,
    timestamp: np.ndarray,
    lines: np.ndarray,
    item_info: Mapping[str, ItemInfo] | None = None,
    review_text: list[str] | None = None,
    summary: list[str] | None = None,
    user_info: Mapping[str, Mapping[str, str]] | None = None,
) -> Dataset:
    """Index raw columns into a :class:`Dataset`, resolving duplicate pairs.

    A (user, item) pair seen more than once keeps its latest occurrence (largest
    timestamp, then the later line) and a :class:`DuplicateInteractionWarning`
    names the file and lines dropped. Items known only from ``item_info`` (no
    interactions) are appended to the item map so that they can still be shown
    and recommended from content.

    Parameters
    ----------
    user_ids, item_ids
        External ids, one per row (str or integer arrays).
    rating
        ``float[n]`` ratings, already validated by the loader.
    timestamp
        ``int64[n]`` seconds.
    lines
        ``int64[n]`` 1-based source line of each row (for messages).
    """
    n = len(user_ids)
    if n == 0:
        raise DataError("no interactions found", path=source)
    users, user = IdMap.encode("user", user_ids)
    items, item = IdMap.encode("item", item_ids)
    rating = np.asarray(rating, dtype=np.float32)
    timestamp = np.asarray(timestamp, dtype=np.int64)
    keep = _latest_of_duplicates(user, item, timestamp, np.asarray(lines), source)
    if keep is not None:
        user, item, rating, timestamp = user[keep], item[keep], rating[keep], timestamp[keep]
        review_text = None if review_text is None else [review_text[i] for i in keep]
        summary = None if summary is None else [summary[i] for i in keep]
    info = dict(item_info or {})
    items = items.extend(info)
    catalog = Catalog(
        title=[info[e].title or e if e in info else e for e in items.external],
        year=np.array([info[e].year if e in info else -1 for e in items.external], np.int32),
        genres=[info[e].genres if e in info else () for e in items.external],
        text=[info[e].text if e in info else "" for e in items.external],
    )
    attributes = None
    if user_info:
        keys = sorted({k for row in user_info.values() for k in row})
        attributes = {k: [user_info.get(u, {}).get(k, "") for u in users.external] for k in keys}
    return Dataset(
        name=name,
        users=users,
        items=items,
        user=user,
        item=item,
        rating=rating,
        timestamp=timestamp,
        catalog=catalog,
        review_text=review_text,
        summary=summary,
        user_attributes=attributes,
        source=source,
    )


def _latest_of_duplicates(
    user: np.ndarray, item: np.ndarray, timestamp: np.ndarray, lines: np.ndarray, source: str
) -> np.ndarray | None:
    """Row indices to keep (source order), or ``None`` when there is no duplicate pair."""
    pair = user.astype(np.int64) * (int(item.max()) + 1) + item
    ordered = np.sort(pair)  # cheap test first: most data has no duplicate pair
    if not np.any(ordered[1:] == ordered[:-1]):
        return None
    order = np.lexsort((np.arange(len(pair)), timestamp, pair))
    last_of_group = np.ones(len(order), dtype=bool)
    last_of_group[:-1] = pair[order[1:]] != pair[order[:-1]]
    if last_of_group.all():
        return None
    dropped = np.sort(order[~last_of_group])
    shown = ", ".join(str(int(lines[i])) for i in dropped[:5])
    more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
    warnings.warn(
        f"{source}: {len(dropped)} duplicate (user, item) interaction(s) dropped, keeping the "
        f"latest of each pair; dropped lines {shown}{more}",
        DuplicateInteractionWarning,
        stacklevel=3,
    )
    return np.sort(order[last_of_group])
