"""Batch scoring: every known user's top-k to one Parquet file, sharded over launched processes.

:func:`write_all_users` scores the users in batches through
:meth:`~convrec.recommender.Recommender.recommend_batch`. Under ``torchrun`` or
``accelerate launch`` (``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` set, see :class:`Shard`) each
process takes a contiguous run of whole batches, so that every batch holds the same users
whatever the number of processes and the output is the same with one process or several. Each
writes its part next to the output; after a barrier the process of rank 0 concatenates the
parts in rank order into the output (atomically) and removes them. The barrier is
``torch.distributed``'s (gloo) when it is initialised or the launcher gave ``MASTER_ADDR`` and
torch is installed, else rank 0 waits for the parts' files to appear.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from convrec import progress
from convrec.storage import atomic_path

if TYPE_CHECKING:
    from convrec.recommender.core import Recommender

logger = logging.getLogger(__name__)

BATCH_SIZE = 1024
"""Users per :meth:`~convrec.recommender.Recommender.recommend_batch` call by default."""

WAIT_SECONDS = 6 * 3600.0
"""How long rank 0 waits for the other processes' parts (and the gloo barrier's timeout)."""

POLL_SECONDS = 0.2
"""How often rank 0 looks for the other parts when no process group synchronises them."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """This process's place among the processes of a launch.

    Attributes
    ----------
    rank : int
        ``RANK``: 0 .. ``world_size - 1``; rank 0 writes the merged output.
    world_size : int
        ``WORLD_SIZE``: how many processes share the users.
    local_rank : int
        ``LOCAL_RANK``: its place among the processes of its machine (the one with 0 draws the
        progress bar there).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size or self.local_rank < 0:
            raise ValueError(
                f"need 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0, got RANK={self.rank}, "
                f"WORLD_SIZE={self.world_size}, LOCAL_RANK={self.local_rank}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Shard:
        """The shard that ``torchrun`` / ``accelerate launch`` describe in ``env`` (default:
        ``os.environ``); one process of one when the variables are absent."""
        env = os.environ if env is None else env
        names = {"rank": "RANK", "world_size": "WORLD_SIZE", "local_rank": "LOCAL_RANK"}
        values: dict[str, int] = {}
        for field, name in names.items():
            raw = env.get(name, "1" if field == "world_size" else "0")
            try:
                values[field] = int(raw)
            except ValueError:
                raise ValueError(f"{name} must be an integer, got {raw[:40]!r}") from None
        return cls(**values)

    def batches(self, n_batches: int) -> range:
        """The run of ``range(n_batches)`` this process scores (contiguous, balanced)."""
        w = self.world_size
        return range(self.rank * n_batches // w, (self.rank + 1) * n_batches // w)


def source_names(rec: Recommender) -> list[str]:
    """The per-source score columns of ``rec``'s table: ``cf``, then ``cbf`` (content) and
    ``llm`` when the recommender has them."""
    return ["cf"] + ["cbf"] * (rec.cbf is not None) + ["llm"] * (rec.llm is not None)


def recommendation_table(
    rec: Recommender,
    users: Sequence[str],
    k: int = 10,
    batch_size: int = BATCH_SIZE,
    show_progress: bool = True,
) -> pa.Table:
    """The top-``k`` of known ``users`` as a table, one row per (user, rank).

    Columns: ``user`` and ``item`` (external ids, string), ``rank`` (int32, 1 = best),
    ``score`` (float32, the fused score the list is sorted by) and one float32 column per
    source of :func:`source_names` (its score before fusion; null where it did not score the
    item, e.g. the LLM beyond its ``llm_candidates``). Seen items are excluded; no
    explanations are written.
    """
    if k <= 0 or batch_size <= 0:
        raise ValueError(f"need k > 0 and batch_size > 0, got k={k}, batch_size={batch_size}")
    sources = source_names(rec)
    user_col: list[str] = []
    item_col: list[str] = []
    rank_col: list[int] = []
    score_col: list[float] = []
    source_cols: dict[str, list[float | None]] = {s: [] for s in sources}
    desc = "recommend"
    with progress.bar(len(users), desc=desc, unit="users", disable=not show_progress) as bar:
        for start in range(0, len(users), batch_size):
            batch = users[start : start + batch_size]
            lists = rec.recommend_batch([{"user": u} for u in batch], k=k, explain=False)
            for user, found in zip(batch, lists, strict=True):
                for rank, item in enumerate(found, 1):
                    user_col.append(user)
                    item_col.append(item.item_id)
                    rank_col.append(rank)
                    score_col.append(item.score)
                    for name, column in source_cols.items():
                        value = item.components.get(name)
                        column.append(None if value is None or math.isnan(value) else value)
            bar.update(len(batch))
    columns = {
        "user": pa.array(user_col, pa.string()),
        "rank": pa.array(rank_col, pa.int32()),
        "item": pa.array(item_col, pa.string()),
        "score": pa.array(score_col, pa.float32()),
        **{name: pa.array(col, pa.float32()) for name, col in source_cols.items()},
    }
    return pa.table(columns)


def write_all_users(
    rec: Recommender,
    out: str | os.PathLike[str],
    k: int = 10,
    batch_size: int = BATCH_SIZE,
    shard: Shard | None = None,
    timeout: float = WAIT_SECONDS,
) -> Path:
    """Write the top-``k`` of every known user to the Parquet file ``out``.

    See the module for how the users are shared among processes; ``shard`` defaults to
    :meth:`Shard.from_env`. The file holds :func:`recommendation_table`'s columns, users in
    the recommender's order, and is replaced atomically. On rank 0 it is complete when this
    returns; on the others too when a process group synchronises them.

    Raises
    ------
    TimeoutError
        On rank 0, when a part is still missing after ``timeout`` seconds.
    """
    if k <= 0 or batch_size <= 0:
        raise ValueError(f"need k > 0 and batch_size > 0, got k={k}, batch_size={batch_size}")
    out = Path(out)
    shard = Shard.from_env() if shard is None else shard
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: its directory {out.parent} does not exist")
    users = rec.user_ids()
    n_batches = math.ceil(len(users) / batch_size)
    mine = shard.batches(n_batches)
    part = users[mine.start * batch_size : mine.stop * batch_size]
    logger.debug("rank %d of %d scores %d users", shard.rank, shard.world_size, len(part))
    table = recommendation_table(rec, part, k, batch_size, show_progress=shard.local_rank == 0)
    if shard.world_size == 1:
        _write_parquet(table, out)
        return out
    parts = out.with_name(f".{out.name}.parts-{_job_key(rec, out, k, batch_size, shard)}")
    parts.mkdir(exist_ok=True)
    names = [
        parts / f"part-{r:05d}-of-{shard.world_size:05d}.parquet" for r in range(shard.world_size)
    ]
    with _process_group(shard, timeout) as barrier:
        _write_parquet(table, names[shard.rank])
        if barrier is not None:
            barrier()
        if shard.rank == 0:
            if barrier is None:
                _wait_for(names, timeout)
            merged = pa.concat_tables([pq.read_table(name) for name in names])
            _write_parquet(merged, out)
            shutil.rmtree(parts, ignore_errors=True)
        if barrier is not None:
            barrier()  # every process returns with the output in place
    return out


def _write_parquet(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table.combine_chunks(), tmp)


def _job_key(rec: Recommender, out: Path, k: int, batch_size: int, shard: Shard) -> str:
    """Names the parts folder after what the job computes: parts left by an interrupted run of
    another job are never merged (those of the same job hold the same rows)."""
    h = hashlib.blake2b(digest_size=8)
    for array in (rec.rows, rec.data.user, rec.data.item):
        h.update(np.ascontiguousarray(array).tobytes())
    llm = getattr(rec.llm, "config", None)
    h.update(repr((str(out.resolve()), rec.data.name, k, batch_size, shard.world_size,
                   rec.config, llm)).encode())  # fmt: skip
    return h.hexdigest()


@contextlib.contextmanager
def _process_group(shard: Shard, timeout: float) -> Iterator[Callable[[], None] | None]:
    """``torch.distributed.barrier`` when a group is initialised, or can be (gloo, from the
    launcher's ``MASTER_ADDR`` / ``MASTER_PORT``; destroyed on exit), else ``None``.

    torch is imported only to initialise a group: a file-synchronised run does without it.
    """
    loaded = sys.modules.get("torch.distributed")
    if loaded is not None and loaded.is_available() and loaded.is_initialized():
        yield loaded.barrier
        return
    if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
        yield None
        return
    try:
        import torch.distributed as dist
    except ImportError:  # a CF-only install: rank 0 waits for the files
        yield None
        return
    if not dist.is_available():
        yield None
        return
    dist.init_process_group(
        "gloo", rank=shard.rank, world_size=shard.world_size, timeout=timedelta(seconds=timeout)
    )
    try:
        yield dist.barrier
    finally:
        dist.destroy_process_group()


def _wait_for(paths: Sequence[Path], timeout: float) -> None:
    """Return once every path exists; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [p for p in paths if not p.is_file()]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"after {timeout:.0f} s, {len(missing)} of {len(paths)} parts are still missing, "
                f"e.g. {missing[0]} (did every process of the launch run?)"
            )
        time.sleep(POLL_SECONDS)


__all__ = ["BATCH_SIZE", "Shard", "recommendation_table", "source_names", "write_all_users"]
