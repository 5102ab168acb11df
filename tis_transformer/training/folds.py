"""Cross-validation folds of data files: balanced by annotated TIS count, each with a validation file to train with."""

from __future__ import annotations

from pathlib import Path

from tis_transformer.predictor.read import InputError

__all__ = ["balanced_folds", "plan_folds"]


def balanced_folds(counts: dict, k: int) -> list[list]:
    """Group files into ``k`` folds of about equal TIS count, greedily: largest file first, to the lightest fold.

    Parameters
    ----------
    counts : dict
        ``{file: annotated TIS count}``.
    k : int
        Folds, at least 2 and at most the number of files.

    Returns
    -------
    list of list
        The files of each fold, each list in the order of ``counts``; folds in
        order of their first file.
    """
    if not 2 <= k <= len(counts):
        raise InputError(f"--folds must be between 2 and the number of data files ({len(counts)}), not {k}")
    order = list(counts)
    folds: list[list] = [[] for _ in range(k)]
    totals = [0] * k
    # ties in count keep the files' order, ties in total go to the first fold: the same folds every run
    for name in sorted(order, key=lambda n: (-counts[n], order.index(n))):
        lightest = min(range(k), key=lambda i: (totals[i], len(folds[i]), i))
        folds[lightest].append(name)
        totals[lightest] += counts[name]
    folds = [sorted(f, key=order.index) for f in folds]
    return sorted(folds, key=lambda f: order.index(f[0]))


def plan_folds(counts: dict, k: int) -> list[dict]:
    """Folds with, for each, the validation file: the training file with the fewest TISs (but some).

    The smallest keeps the most data for training; it must hold TISs to
    validate on. Every fold needs two files outside it: one to validate on,
    one or more to train on.

    Returns
    -------
    list of dict
        ``{"test": [files], "val": file, "train": [files]}`` per fold.
    """
    folds = balanced_folds(counts, k)
    plans = []
    for number, test in enumerate(folds, 1):
        rest = [n for n in counts if n not in test and counts[n] > 0]
        if len(rest) < 2:
            raise InputError(f"fold {number} ({', '.join(Path(n).name for n in test)}) leaves "
                             f"{len(rest)} file(s) with TISs to train and validate on; need 2: use fewer --folds "
                             "or more files")
        val = min(rest, key=lambda n: (counts[n], list(counts).index(n)))
        plans.append({"test": test, "val": val, "train": [n for n in counts if n not in test and n != val]})
    return plans
