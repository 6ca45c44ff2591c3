#!/usr/bin/env python3
"""Golden digests for recsys/internal/ratings.StratifiedSplit, computed with pandas.

Implements the algorithm of Microsoft Recommenders' python_stratified_split (reco_utils
_do_stratification with is_random=True: per group, DataFrame.sample(frac=1, random_state=seed),
then np.split at round(ratio * len(group))) on a synthetic ratings table that the Go test
regenerates with the same formula, and prints the digests the Go test compares with:

    /usr/bin/python3 recsys/scripts/split_reference.py > recsys/internal/ratings/testdata/split_golden.txt

Needs numpy and pandas (Debian: apt-get install python3-numpy python3-pandas).
"""
import hashlib
import math

import numpy as np
import pandas as pd


def synthetic(n=5000):
    """u.data rows (user, item, rating, timestamp); mirrored by synthetic() in split_test.go."""
    rows, seen = [], set()
    for k in range(n):
        h = (k * 2654435761) % 2**32
        if k % 10 == 0:
            item = 1 + (h >> 8) % 5  # five hot items
        else:
            item = 1 + int(300 * (1 - math.sqrt(1 - h / 2**32)))  # a tail of small groups
        user = 1 + (k * 7919) % 1000
        if (user, item) in seen:
            continue
        seen.add((user, item))
        rows.append((user, item, 1 + (h >> 3) % 5, 880000000 + 37 * k))
    return rows


def stratified_split(data, ratio, seed, by):
    train, test = [], []
    for _, group in data.groupby(by):  # ascending key; rows keep input order
        shuffled = group.sample(frac=1, random_state=seed)
        tr, te = np.split(shuffled, [round(ratio * len(shuffled))])
        train.append(tr)
        test.append(te)
    return pd.concat(train), pd.concat(test)


def digest(lines):
    return hashlib.sha256("".join(f"{x}\n" for x in lines).encode()).hexdigest()


def main():
    rows = synthetic()
    text = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows)
    data = pd.DataFrame(rows, columns=["userID", "itemID", "rating", "timestamp"])
    data["line"] = np.arange(1, len(data) + 1)  # 1-based line in the u.data text
    print(f"# recsys/scripts/split_reference.py with numpy {np.__version__}, pandas {pd.__version__}")
    print("# line numbers are 1-based lines of the synthetic u.data; sha256 over one number per line, in row order")
    print(f"input rows={len(rows)} sha256={hashlib.sha256(text.encode()).hexdigest()}")
    for n in (1, 2, 3, 5, 10, 20):
        perm = np.random.RandomState(42).choice(n, size=n, replace=False)
        print(f"perm n={n} seed=42 " + " ".join(map(str, perm)))
    for by, ratio, seed in (("item", 0.75, 42), ("user", 0.75, 42), ("item", 0.8, 123)):
        col = {"item": "itemID", "user": "userID"}[by]
        train, test = stratified_split(data, ratio, seed, col)
        print(f"split by={by} ratio={ratio} seed={seed} train={len(train)} test={len(test)} "
              f"train_sha256={digest(train.line)} test_sha256={digest(test.line)}")
    # The MT19937 reference outputs for init_genrand(5489), as a self-check of this numpy.
    raw = np.random.RandomState(5489).randint(0, 2**32, size=5, dtype=np.uint32)
    assert list(raw) == [3499211612, 581869302, 3890346734, 3586334585, 545404204], raw


if __name__ == "__main__":
    main()
