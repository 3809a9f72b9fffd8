"""MovieLens-shaped synthetic data for bench_scale.py: sizes, a seeded generator, CSV output.

The generator writes a directory in the layout of the MovieLens CSV releases (ml-latest,
ml-25m, ml-32m): ``ratings.csv`` (``userId,movieId,rating,timestamp``, sorted by user then
movie) and ``movies.csv`` (``movieId,title,genres``), so that it is read by the same loader as
real data (:func:`convrec.data.load_dataset`). Everything is vectorised numpy, seeded, and the
ratings are written block by block of users, so 25M rows never sit in memory at once.

The shape (see benchmarks/README.md, ``bench_scale.py``):

- users ``U = round(N / 154)`` (ml-25m: 25,000,095 / 162,541 = 153.8; ml-1m 165.6);
- items ``I = max(1500, round(3706 * (N / 1e6) ** 0.860))``: the power law through ml-1m
  (1M, 3,706 rated movies) and ml-25m (25M, 59,047); the floor keeps small sets from being
  denser than ml-100k (1,682 items);
- user activity ``20 + LogNormal(0, 1.39)`` scaled to sum to ``N`` (ml-25m: at least 20 per
  user, median about 71, mean 154), capped at half the catalogue;
- item popularity ``p(r) ~ (r + 300) ** -2.07`` over a random permutation of the ids
  (ml-25m: the top movie holds about 0.33 % of the ratings, the median one a few ratings);
  each user's items are distinct, drawn by popularity, then by its square root and last
  uniformly once the popular ones are taken (heavy users);
- ratings from the ml-25m half-star histogram (or ml-1m's 1..5 with ``whole_stars``);
- timestamps: a start per user, uniform over ml-25m's span (1995-01-09 to 2019-11-21), then
  uniform over an exponential session length (mean 180 days); the order within a user carries
  no signal (the sequence models fit and score as on real data; their accuracy means nothing);
- titles ``"Adjective Noun[ of the Place] (Year)"`` (15 % in MovieLens' ``"..., The"`` form),
  all distinct; 1-3 genres from ml-25m's genre frequencies, or ``(no genres listed)``.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

log = logging.getLogger("bench_scale")

USERS_PER = 154.0
ITEMS_AT_1M, MIN_ITEMS = 3706, 1500
ITEMS_EXPONENT = math.log(59047 / 3706) / math.log(25)  # 0.860: through ml-1m and ml-25m
MIN_ACTIVITY, ACTIVITY_SIGMA = 20, 1.39
POP_OFFSET, POP_EXPONENT = 300.0, 2.07
T_START, T_END = 789_652_009, 1_574_327_703  # ml-25m's first and last rating
SESSION_DAYS = 180.0
BLOCK_ROWS = 2_000_000

HALF_STARS = ("0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0")
HALF_STAR_P = (0.016, 0.031, 0.016, 0.066, 0.050, 0.196, 0.126, 0.266, 0.085, 0.148)
WHOLE_STARS = ("1", "2", "3", "4", "5")
WHOLE_STAR_P = (0.056, 0.108, 0.261, 0.349, 0.226)

GENRES = {  # ml-25m movies.csv: movies per genre (of 62,423)
    "Action": 7348, "Adventure": 4145, "Animation": 2929, "Children": 2935, "Comedy": 16870,
    "Crime": 5319, "Documentary": 5605, "Drama": 25606, "Fantasy": 2731, "Film-Noir": 353,
    "Horror": 5989, "IMAX": 195, "Musical": 1054, "Mystery": 2925, "Romance": 7719,
    "Sci-Fi": 3595, "Thriller": 8654, "War": 1874, "Western": 1399,
}  # fmt: skip
NO_GENRES = "(no genres listed)"

_ADJECTIVES = (
    "Amber", "Ashen", "Autumn", "Azure", "Bitter", "Blue", "Bright", "Broken", "Burning",
    "Crimson", "Crystal", "Distant", "Dusty", "Electric", "Emerald", "Empty", "Endless", "Fading",
    "Fallen", "Final", "Frozen", "Gentle", "Gilded", "Golden", "Grand", "Green", "Hidden",
    "Hollow", "Iron", "Ivory", "Last", "Lonely", "Long", "Lost", "Lucky", "Marble", "Midnight",
    "Misty", "Northern", "Pale", "Paper", "Quiet", "Rapid", "Restless", "Rusty", "Sacred",
    "Scarlet", "Secret", "Silent", "Silver", "Sleeping", "Southern", "Stolen", "Strange", "Summer",
    "Sunken", "Swift", "Tender", "Velvet", "Wandering", "Western", "Wild", "Winter", "Wooden"
)  # fmt: skip
_NOUNS = (
    "Anchor", "Arrow", "Bell", "Bridge", "Canyon", "Castle", "Circus", "Coast", "Crown", "Dancer",
    "Desert", "Diamond", "Dream", "Echo", "Engine", "Falcon", "Feather", "Garden", "Harbor",
    "Harvest", "Horizon", "Island", "Journey", "Kingdom", "Lantern", "Letter", "Meadow", "Mirror",
    "Mountain", "Orchard", "Painter", "Palace", "Passage", "Pilot", "Prairie", "Promise",
    "Railway", "River", "Road", "Sailor", "Shadow", "Signal", "Sky", "Soldier", "Stranger",
    "Stream", "Sunset", "Tide", "Tower", "Traveler", "Valley", "Voyage", "Window", "Wolf"
)  # fmt: skip
_PLACES = (
    "Alps", "Andes", "Bay", "Border", "City", "Delta", "East", "Fjords", "Forest", "Frontier",
    "Glacier", "Highlands", "Isles", "Lagoon", "Lakes", "Moon", "North", "Ocean", "Plains", "Reef",
    "Sahara", "Sea", "South", "Steppe", "Tropics", "Tundra", "West"
)  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """Sizes of one generated set: interactions, users, items."""

    interactions: int
    users: int
    items: int


def shape_for(n: int, users: int | None = None, items: int | None = None) -> Shape:
    """The MovieLens-like sizes for ``n`` interactions (module docstring), or the ones given."""
    if n < 1000:
        raise ValueError(f"--interactions must be at least 1000, got {n}")
    u = users or max(1, round(n / USERS_PER))
    i = items or max(MIN_ITEMS, round(ITEMS_AT_1M * (n / 1e6) ** ITEMS_EXPONENT))
    if n > u * (i // 2):
        raise ValueError(f"{n} interactions do not fit {u} users x {i} items (half each at most)")
    return Shape(n, u, i)


def activity(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """``int64[users]`` ratings per user: at least 20, log-normal tail, capped, summing to N."""
    u, cap = shape.users, shape.items // 2
    floor = min(MIN_ACTIVITY, shape.interactions // u)
    x = rng.lognormal(0.0, ACTIVITY_SIGMA, u)
    extra = x / x.sum() * (shape.interactions - floor * u)
    counts = np.minimum(floor + np.floor(extra).astype(np.int64), cap)
    for _ in range(100):  # hand the rounding remainder and the capped mass to the others
        deficit = shape.interactions - int(counts.sum())
        room = cap - counts
        if deficit <= 0 or not room.any():
            break
        weights = (counts + 1.0) * (room > 0)
        counts += np.minimum(rng.multinomial(deficit, weights / weights.sum()), room)
    return counts


def popularity(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """``float64[n_items]`` item probabilities: Zipf-Mandelbrot over a random permutation."""
    rank = rng.permutation(n_items).astype(np.float64)
    p = (rank + 1.0 + POP_OFFSET) ** -POP_EXPONENT
    return p / p.sum()


def user_items(rng: np.random.Generator, counts: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Sorted ``int64`` keys ``user * n_items + item``: ``counts[u]`` distinct items per user.

    Draws by popularity (``cdf``) with replacement and keeps the distinct ones, four rounds;
    then four by the square root of popularity and then uniformly, for what heavy users still
    lack; extras are dropped at random.
    """
    n_items = len(cdf)
    p = np.diff(cdf, prepend=0.0)
    tempered = np.cumsum(np.sqrt(p)) / np.sqrt(p).sum()
    users = np.arange(len(counts), dtype=np.int64)
    keys = np.zeros(0, np.int64)
    need = counts.copy()
    for round_ in range(60):
        need = np.maximum(need, 0)
        draws = np.ceil(need * 1.1).astype(np.int64) + (need > 0)
        who = np.repeat(users, draws)
        if round_ < 8:
            items = np.searchsorted(cdf if round_ < 4 else tempered, rng.random(len(who)), "right")
        else:
            items = rng.integers(0, n_items, len(who))
        keys = _distinct(np.concatenate([keys, who * n_items + np.minimum(items, n_items - 1)]))
        need = counts - np.bincount(keys // n_items, minlength=len(counts))
        if (need <= 0).all():
            break
    owner = keys // n_items
    order = np.lexsort((rng.random(len(keys)), owner))  # random order within each user
    starts = np.searchsorted(owner[order], users)
    position = np.arange(len(keys)) - np.repeat(starts, np.bincount(owner, minlength=len(users)))
    return np.sort(keys[order[position < counts[owner[order]]]])


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort; numpy 2's hashing ``unique`` is slower here)."""
    keys.sort()
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys


def titles_and_genres(rng: np.random.Generator, n_items: int) -> tuple[list[str], list[str]]:
    """Distinct MovieLens-style titles with years, and ``|``-joined genre strings."""
    n_a, n_n, n_p = len(_ADJECTIVES), len(_NOUNS), len(_PLACES)
    combos = n_a * n_n * (n_p + 1)
    if n_items > combos:
        raise ValueError(f"at most {combos} distinct titles, asked for {n_items}")
    pick = rng.choice(combos, n_items, replace=False)
    a, rest = np.divmod(pick, n_n * (n_p + 1))
    b, c = np.divmod(rest, n_p + 1)
    years = np.sort(np.clip(np.round(2019 - rng.exponential(22.0, n_items)), 1915, 2019))
    the = rng.random(n_items) < 0.15
    titles = []
    for j in range(n_items):
        place = f" of the {_PLACES[c[j] - 1]}" if c[j] else ""
        name = f"{_ADJECTIVES[a[j]]} {_NOUNS[b[j]]}{place}"
        titles.append(f"{name}, The ({int(years[j])})" if the[j] else f"{name} ({int(years[j])})")
    names = sorted(GENRES)
    rates = np.array([GENRES[g] for g in names], np.float64) / 62423
    flags = rng.random((n_items, len(names))) < rates
    lonely = ~flags.any(axis=1) & (rng.random(n_items) < 0.55)  # ml-25m: 8 % have none
    flags[lonely, rng.choice(len(names), int(lonely.sum()), p=rates / rates.sum())] = True
    genres = ["|".join(g for g, f in zip(names, row, strict=True) if f) or NO_GENRES
              for row in flags]  # fmt: skip
    return titles, genres


def generate(
    out: str | Path,
    n: int,
    *,
    seed: int = 0,
    whole_stars: bool = False,
    users: int | None = None,
    items: int | None = None,
) -> Shape:
    """Write ``ratings.csv`` and ``movies.csv`` of a MovieLens-shaped set into ``out``.

    Returns the sizes written (``interactions`` may fall a few short of ``n`` when heavy users
    cannot be filled; never above it).
    """
    shape = shape_for(n, users, items)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = activity(rng, shape)
    cdf = np.cumsum(popularity(rng, shape.items))
    movie_ids = np.sort(rng.choice(np.arange(1, 4 * shape.items), shape.items, replace=False))
    labels, p = (WHOLE_STARS, WHOLE_STAR_P) if whole_stars else (HALF_STARS, HALF_STAR_P)
    label_array = pa.array(labels)
    p_ratings = np.asarray(p) / np.sum(p)
    start = rng.integers(T_START, T_END, shape.users)
    span = np.minimum(rng.exponential(SESSION_DAYS * 86400, shape.users), T_END - start)
    ends = np.cumsum(counts)
    written = 0
    with open(folder / "ratings.csv", "wb") as sink:
        sink.write(b"userId,movieId,rating,timestamp\n")
        first = 0
        while first < shape.users:  # blocks of whole users, about BLOCK_ROWS ratings each
            base = ends[first - 1] if first else 0
            last = max(first + 1, int(np.searchsorted(ends, base + BLOCK_ROWS, side="right")))
            keys = user_items(rng, counts[first:last], cdf)
            local = keys // shape.items
            user = first + local
            when = start[user] + (rng.random(len(keys)) * span[user]).astype(np.int64)
            stars = np.searchsorted(np.cumsum(p_ratings), rng.random(len(keys)), side="right")
            table = pa.table(
                {
                    "userId": pa.array(user + 1, pa.int64()),
                    "movieId": pa.array(movie_ids[keys % shape.items], pa.int64()),
                    "rating": label_array.take(pa.array(np.minimum(stars, len(labels) - 1))),
                    "timestamp": pa.array(when, pa.int64()),
                }
            )
            pacsv.write_csv(
                table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
            written += len(keys)
            log.info("generated %d / %d ratings", written, shape.interactions)
            first = last
    titles, genres = titles_and_genres(rng, shape.items)
    with open(folder / "movies.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(zip(movie_ids.tolist(), titles, genres, strict=True))
    return Shape(written, shape.users, shape.items)
