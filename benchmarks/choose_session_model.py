"""Choose the session model (item-kNN + popularity prior) on protocol S's valid sessions; JSON out.

    python benchmarks/choose_session_model.py --data ml-100k [--json out.json]

Every grid point of ``RecencyItemKNN(k, tau=1, popularity, activity)`` is fitted on protocol
S's train users and scored on the valid sessions of N = 1, 3 and 5 liked items (NDCG@10, the
three N pooled), beside its test NDCG@10 per N and the share of the catalogue its test top 10
lists show (``coverage@10``). ``best`` is the point of highest valid NDCG@10; ``within_one_se``
lists the points whose paired valid difference from it is within one paired standard error,
from which the shipped default takes the smallest prior weight (lists as personal as the data
allows), then the activity exponent best on valid at that weight.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

from convrec.cf.sequential import RecencyItemKNN
from convrec.data import load_dataset
from convrec.data.dataset import Dataset
from convrec.evaluation.metrics import catalog_coverage
from convrec.evaluation.sessions import Sessions, build_sessions, evaluate_sessions, user_split

log = logging.getLogger("choose_session_model")
SIZES = (1, 3, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-100k")
    parser.add_argument("--k", default="50,100,200")
    parser.add_argument("--popularity", default="0,0.1,0.2,0.5,1,2")
    parser.add_argument("--activity", default="0,0.5,1")
    parser.add_argument("--json", help="write the table here too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = load_dataset(args.data)
    split = user_split(data)
    valid = [build_sessions(data, split.valid_users, n) for n in SIZES]
    test = [build_sessions(data, split.test_users, n) for n in SIZES]
    rows, pooled = [], {}
    for k in (int(x) for x in args.k.split(",")):
        for weight in (float(x) for x in args.popularity.split(",")):
            for activity in (float(x) for x in args.activity.split(",")):
                if activity and not weight:
                    continue  # no prior: nothing for the exponent to weigh
                model = RecencyItemKNN(k=k, tau=1.0, popularity=weight, activity=activity)
                model.fit(data, split.train)
                point = {"k": k, "popularity": weight, "activity": activity}
                key = json.dumps(point)
                pooled[key] = np.concatenate([_ndcg(model, data, s)[0] for s in valid])
                scored = [_ndcg(model, data, s) for s in test]
                rows.append(
                    {
                        **point,
                        "valid_ndcg@10": float(pooled[key].mean()),
                        "test_ndcg@10": [round(float(v.mean()), 4) for v, _ in scored],
                        "test_coverage@10": [round(c, 4) for _, c in scored],
                    }
                )
    best = max(pooled, key=lambda key: float(pooled[key].mean()))
    for row in rows:
        diff = pooled[json.dumps({k: row[k] for k in ("k", "popularity", "activity")})]
        diff = diff - pooled[best]
        row["valid_diff"] = float(diff.mean())
        row["valid_diff_se"] = float(diff.std(ddof=1) / np.sqrt(len(diff)))
        log.info(
            "k=%(k)d popularity=%(popularity)g activity=%(activity)g valid %(valid_ndcg@10).4f "
            "(%(valid_diff)+.4f se %(valid_diff_se).4f) test %(test_ndcg@10)s coverage "
            "%(test_coverage@10)s",
            row,
        )
    out = {
        "data": data.name,
        "best": json.loads(best),
        "within_one_se": [r for r in rows if r["valid_diff"] >= -r["valid_diff_se"]],
        "grid": rows,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    print(json.dumps({"best": out["best"], "within_one_se": out["within_one_se"]}, indent=1))


def _ndcg(model: RecencyItemKNN, data: Dataset, sessions: Sessions) -> tuple[np.ndarray, float]:
    """Per-session NDCG@10 and the catalogue coverage of the sessions' top 10."""
    metrics, top = evaluate_sessions(model, data, sessions, 10)
    return metrics["ndcg@10"], catalog_coverage(top, data.n_items)


if __name__ == "__main__":
    main()
