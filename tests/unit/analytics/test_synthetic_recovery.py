"""The key check: courses with known behaviour types -> are the types and their number recovered?

Default suite: a few seeds at small sizes. ``-m slow``: the full sweep (30 to 20,000 students, many
seeds), which prints mean ARI and the true-k hit rate per size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analytics import cluster_students, extract_features

from .synth import TYPES, make_course

NAMES = list(TYPES)


def _case(n: int, seed: int) -> tuple[list[str], int]:
    rng = np.random.default_rng(1000 + seed)
    kmax = 2 if n < 50 else (3 if n < 100 else (4 if n < 200 else 6))
    k = int(rng.integers(2, kmax + 1))
    return [str(t) for t in rng.choice(NAMES, size=k, replace=False)], k


def _run(n: int, seed: int) -> dict:
    types, k = _case(n, seed)
    c = make_course(n, types, seed=seed)
    f = extract_features(c)
    r = cluster_students(f, random_state=0)
    ari = adjusted_rand_score(c.truth.reindex(f.index), r.labels)
    return {"n": n, "seed": seed, "types": ",".join(types), "k_true": k, "k": r.k, "ari": ari,
            "hit": r.k == k, "votes": r.votes}


@pytest.mark.parametrize(("n", "seed"), [(60, 0), (150, 1), (400, 5)])
def test_recovers_known_types_quick(n, seed):
    res = _run(n, seed)
    assert res["hit"], res
    assert res["ari"] >= 0.9, res


def test_recovery_rate_quick():
    rows = [_run(n, s) for n in (100, 300) for s in range(4)]
    df = pd.DataFrame(rows)
    assert df.ari.mean() >= 0.9, df
    assert df.hit.mean() >= 0.75, df


@pytest.mark.slow
def test_recovery_sweep(capsys):
    sizes = {30: 20, 100: 20, 300: 20, 1000: 10, 5000: 5, 20000: 3}
    rows = [_run(n, s) for n, seeds in sizes.items() for s in range(seeds)]
    df = pd.DataFrame(rows)
    summary = df.groupby("n").agg(runs=("ari", "size"), mean_ari=("ari", "mean"), min_ari=("ari", "min"),
                                  true_k_rate=("hit", "mean"))
    with capsys.disabled():
        print("\n" + summary.round(3).to_string())
        print(df[~df.hit | (df.ari < 0.9)].to_string())
    # measured 2026-11-22: ARI 0.93 / true k 70% at 30 students (the weak spot: a 15-student type
    # gets split), ARI >= 0.98 / true k >= 95% from 100 students up
    assert df.ari.mean() >= 0.9
    assert df.hit.mean() >= 0.85
    big = df[df.n >= 300]
    assert big.ari.mean() >= 0.95 and big.hit.mean() >= 0.9
