"""Cheap probes of accuracy levers: one-stage LightGBM on the ATGs of a held-out chromosome, scored alone.

Every ATG of the training chromosomes (those of chr13, chr18, chr20, chr22 that are not held out) becomes a row of
``orf-v6`` features, with the hexamer and start-context tables fitted on those chromosomes as ``train`` fits them;
LightGBM (the shipped tree settings: 31 leaves, learning rate 0.05, 200 rows per leaf, 600 rounds, TISs weighing
10, one thread) is fitted to them and ranks the held-out chromosome's ATGs. A lever is a set of columns added to
the rows, other tree settings, several seeds, or fewer training chromosomes; each prints ATG-only PR AUC and top-1
(the share of coding transcripts whose best ATG is their TIS). The shipped pipeline (feature head, two stages of
trees) scores higher than this one stage; the probe is for comparing levers against its own ``base`` row.

Levers: ``base``; ``splice`` (density of 5' splice-site cores GTRAGT and of pyrimidine tracts ending in AG after
the ORF's stop, in the ORF, before the ATG and over the transcript: retained introns); ``neighbours`` (the in-frame
ATGs before and after the row's in its ORF, their distance, start-context score and the coding score of the
stretch between; stronger-context ATGs in the 100 nt upstream); ``bigger`` (63 leaves, 50 rows per leaf, learning
rate 0.03, 1,200 rounds); ``seeds`` (mean of 1, 2 and 3 seeds' raw scores); ``curve`` (one, two and all training
chromosomes); ``factor`` (two stages of trees against P(transcript codes) x P(this ATG | it codes), see
``factorized``; about 3 minutes).

Example (2 cores; about 1 minute a row, 2 minutes to build the rows of a fold)::

    OMP_NUM_THREADS=1 python benchmarks/atg_probes.py --held_out chr13 --levers base,splice,neighbours,curve
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import SHARED_DATA  # noqa: E402

from tis_transformer.predictor.batch_features import orf_features_many  # noqa: E402
from tis_transformer.predictor.features import FEATURE_NAMES, IS_ATG_COLUMN, LOG_SCALE  # noqa: E402
from tis_transformer.training.datasets import read_original  # noqa: E402
from tis_transformer.training.feature_tables import fit_feature_tables  # noqa: E402

AUTOSOMES = ("chr13", "chr18", "chr20", "chr22")
COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}
A, T, C, G = 0, 1, 2, 3
SPLICE_5 = [[G], [T], [A, G], [A], [G], [T]]
SPLICE_3 = [[C, T]] * 8 + [[A, C, G, T]] * 2 + [[C, T], [A], [G]]


def atg_rows(names: list, data: dict, tables) -> dict:
    """Per chromosome: features X, labels y, transcript g and position p of every ATG, and the tokens."""
    rows = {}
    for name in names:
        dataset = data[name]
        pairs = [dataset.transcript(i) for i in range(len(dataset))]
        features = orf_features_many([t for t, _ in pairs], tables, "orf-v6")
        parts = {"X": [], "y": [], "g": [], "p": []}
        for i, (f, (_, labels)) in enumerate(zip(features, pairs)):
            atg = np.flatnonzero(f[:, IS_ATG_COLUMN] > 0)
            parts["X"].append(f[atg]), parts["y"].append(labels[atg])
            parts["g"].append(np.full(len(atg), i)), parts["p"].append(atg)
        rows[name] = {key: np.concatenate(value) for key, value in parts.items()}
        rows[name]["tokens"] = [np.minimum(np.asarray(t, np.int64), 4) for t, _ in pairs]
    return rows


def orf_codons(X: np.ndarray) -> np.ndarray:
    return np.round(np.expm1(X[:, COLUMN["log_orf_codons"]] * LOG_SCALE)).astype(np.int64)


def motif_starts(tokens: np.ndarray, pattern: list) -> np.ndarray:
    n, width = len(tokens), len(pattern)
    hits = np.zeros(n, bool)
    if n >= width:
        ok = np.ones(n - width + 1, bool)
        for k, allowed in enumerate(pattern):
            ok &= np.isin(tokens[k:n - width + 1 + k], allowed)
        hits[: n - width + 1] = ok
    return hits


def splice_columns(r: dict) -> np.ndarray:
    out = np.zeros((len(r["y"]), 8), np.float32)
    codons = orf_codons(r["X"])
    bounds = np.r_[0, np.flatnonzero(np.diff(r["g"])) + 1, len(r["g"])]
    for a, b in zip(bounds[:-1], bounds[1:]):
        tokens = r["tokens"][r["g"][a]]
        n, atg = len(tokens), r["p"][a:b]
        stop_end = np.minimum(atg + 3 * codons[a:b] + 3, n)
        after = np.minimum(stop_end + 300, n)
        five = np.r_[0, np.cumsum(motif_starts(tokens, SPLICE_5))]
        three = np.r_[0, np.cumsum(motif_starts(tokens, SPLICE_3))]

        def density(c, lo, hi):
            return (c[hi] - c[lo]) / np.maximum(hi - lo, 1) * 100

        zero = np.zeros_like(atg)
        out[a:b] = np.stack([density(five, stop_end, after), density(three, stop_end, after),
                             density(five, atg, stop_end), density(three, atg, stop_end),
                             density(five, zero, atg), density(three, zero, atg),
                             np.full(b - a, five[-1] / n * 100), np.full(b - a, three[-1] / n * 100)], 1)
    return out


def neighbour_columns(r: dict) -> np.ndarray:
    X, g, p = r["X"], r["g"].astype(np.int64), r["p"]
    stop = p + 3 * orf_codons(X)  # ATGs with the same stop share a frame and an ORF
    logged = X[:, COLUMN["orf_hexamer_sum"]].astype(np.float64) * LOG_SCALE
    coding = np.sign(logged) * np.expm1(np.abs(logged))
    context = X[:, COLUMN["start_context_score"]].astype(np.float64)
    order = np.lexsort((p, stop, g))
    gg, ss, pp, hh, cc = g[order], stop[order], p[order], coding[order], context[order]
    new = np.r_[True, (gg[1:] != gg[:-1]) | (ss[1:] != ss[:-1])]
    segment = np.cumsum(new) - 1
    rank = np.arange(len(gg)) - np.flatnonzero(new)[segment]
    size = np.bincount(segment)[segment]
    before, after = rank > 0, rank < size - 1
    gap_before = np.where(before, pp - np.r_[0, pp[:-1]], 0)
    gap_after = np.where(after, np.r_[pp[1:], 0] - pp, 0)
    columns = np.stack([
        np.log1p(rank), np.log1p(size - 1 - rank), np.log1p(gap_before) / 10,
        np.where(before, np.r_[0, cc[:-1]] - cc, 0),
        np.where(before, (np.r_[0, hh[:-1]] - hh) / np.maximum(gap_before / 3, 1), 0),
        np.log1p(gap_after) / 10, np.where(after, np.r_[cc[1:], 0] - cc, 0),
        np.where(after, (hh - np.r_[hh[1:], 0]) / np.maximum(gap_after / 3, 1), 0)], 1)
    out = np.zeros((len(g), 11), np.float32)
    out[order, :8] = columns
    bounds = np.r_[0, np.flatnonzero(np.diff(g)) + 1, len(g)]  # rows come in transcript, then position, order
    for a, b in zip(bounds[:-1], bounds[1:]):
        pos, ctx = p[a:b], context[a:b]
        near = (pos[None, :] < pos[:, None]) & (pos[None, :] >= pos[:, None] - 100)
        stronger = near & (ctx[None, :] > ctx[:, None])
        out[a:b, 8] = np.log1p(stronger.sum(1))
        out[a:b, 9] = np.where(near.any(1), np.where(near, ctx[None, :], -np.inf).max(1) - ctx, 0)
        out[a:b, 10] = (ctx[None, :] > ctx[:, None]).sum(1) / (b - a)
    return out


def _transcript_groups(g: np.ndarray) -> np.ndarray:
    """Group index (0, 1, ...) of each row's transcript."""
    return np.unique(g, return_inverse=True)[1]


def _softmax_within(scores: np.ndarray, group: np.ndarray) -> np.ndarray:
    """log softmax of the scores over each transcript's rows."""
    top = np.full(group.max() + 1, -np.inf)
    np.maximum.at(top, group, scores)
    shifted = np.exp(scores - top[group])
    return scores - top[group] - np.log(np.bincount(group, shifted)[group])


def stage_one(rows: dict, trained: list, held: str, params: dict, rounds: int) -> tuple:
    """Out-of-fold first-stage logits of the training rows (3 transcript blocks) and the held-out rows' logits."""
    import lightgbm

    X = np.concatenate([rows[n]["X"] for n in trained])
    y = np.concatenate([rows[n]["y"] for n in trained])
    g = np.concatenate([rows[n]["g"] + 1_000_000 * k for k, n in enumerate(trained)])
    group = _transcript_groups(g)
    block = group * 3 // (group.max() + 1)
    oof, held_scores = np.zeros(len(y)), np.zeros(len(rows[held]["y"]))
    for k in range(3):
        out = block == k
        booster = lightgbm.train(params, lightgbm.Dataset(X[~out], y[~out], weight=np.where(y[~out] > 0, 10.0, 1.0)),
                                 rounds)
        oof[out] = booster.predict(X[out], raw_score=True)
        held_scores += booster.predict(rows[held]["X"], raw_score=True) / 3
    return X, y, g, oof, held_scores


def factorized(rows: dict, trained: list, held: str) -> dict:
    """The shipped two-stage trees against P(transcript codes) x P(this ATG | it codes), from the same first stage.

    ``two_stage``: second-stage trees on the features and ``pooled_scores`` of the out-of-fold first stage, one
    binary model over all ATGs (the shipped recipe without the feature head).  ``factor``: a transcript-level
    classifier (is there an annotated ATG TIS?) on the pooled first-stage scores and the features of the
    transcript's best ATG, times a within-transcript distribution from trees fitted to the ATGs of coding
    transcripts only (``binary``: softmax of a binary model's logits; ``xendcg``: a listwise ranking objective).
    """
    import lightgbm

    from tis_transformer.predictor.trees import pooled_scores

    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 200,
              "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1,
              "num_threads": 1, "deterministic": True, "force_row_wise": True, "seed": 0}
    offset = -np.log(10.0)
    X, y, g, oof, held_one = stage_one(rows, trained, held, params, 600)
    Xh, yh, gh = rows[held]["X"], rows[held]["y"], rows[held]["g"]
    S = np.hstack([X, pooled_scores(oof + offset, g)])
    Sh = np.hstack([Xh, pooled_scores(held_one + offset, gh)])
    results = {}

    def report(name, scores, within):
        results[name] = ranking_metrics(yh, gh, scores, within)
        print(held, name, results[name], flush=True)

    report("stage_one", held_one, held_one)
    two = lightgbm.train(params, lightgbm.Dataset(S, y, weight=np.where(y > 0, 10.0, 1.0)), 600)
    two_h = two.predict(Sh, raw_score=True)
    report("two_stage", two_h, two_h)

    def transcript_rows(features, groups, first):
        group = _transcript_groups(groups)
        order = np.lexsort((-first, group))
        best = order[np.r_[True, group[order][1:] != group[order][:-1]]]
        pooled = pooled_scores(first + offset, groups)[best]
        return np.hstack([features[best], pooled[:, 1:]]), group

    T, group = transcript_rows(X, g, oof)
    Th, group_h = transcript_rows(Xh, gh, held_one)
    coding_t = np.bincount(group, y > 0) > 0
    coder = lightgbm.train({**params, "min_data_in_leaf": 50}, lightgbm.Dataset(T, coding_t.astype(float)), 600)
    log_coding = -np.logaddexp(0, -coder.predict(Th, raw_score=True))[group_h]
    in_coding = coding_t[group]
    within_binary = lightgbm.train(params, lightgbm.Dataset(S[in_coding], y[in_coding]), 600).predict(
        Sh, raw_score=True)
    report("factor binary", log_coding + _softmax_within(within_binary, group_h), within_binary)
    ranked = np.flatnonzero(in_coding)
    _, sizes = np.unique(g[ranked], return_counts=True)
    ranker = lightgbm.Dataset(S[ranked], y[ranked], group=sizes)
    within_rank = lightgbm.train({**params, "objective": "rank_xendcg"}, ranker, 600).predict(Sh, raw_score=True)
    report("factor xendcg", log_coding + _softmax_within(within_rank, group_h), within_rank)
    report("two_stage x within binary", two_h + _softmax_within(within_binary, group_h), within_binary)
    return results


def fit_and_score(rows: dict, trained: list, held: str, columns: str | None = None, seeds=(0,), **settings) -> dict:
    import lightgbm

    def matrix(name):
        return np.hstack([rows[name]["X"], rows[name][columns]]) if columns else rows[name]["X"]

    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 200,
              "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1,
              "num_threads": 1, "deterministic": True, "force_row_wise": True}
    rounds = settings.pop("rounds", 600)
    params.update(settings)
    labels = np.concatenate([rows[n]["y"] for n in trained])
    data = lightgbm.Dataset(np.concatenate([matrix(n) for n in trained]), labels,
                            weight=np.where(labels > 0, 10.0, 1.0))
    scores = np.mean([lightgbm.train({**params, "seed": s}, data, rounds).predict(matrix(held), raw_score=True)
                      for s in seeds], axis=0)
    return ranking_metrics(rows[held]["y"], rows[held]["g"], scores)


def ranking_metrics(y: np.ndarray, g: np.ndarray, scores: np.ndarray, within: np.ndarray | None = None) -> dict:
    """ATG-only PR AUC of ``scores``, and top-1: the share of coding transcripts whose best ATG by ``within``
    (default: ``scores``) is their TIS."""
    from sklearn.metrics import average_precision_score

    order = np.lexsort((-(scores if within is None else within), g))
    best = order[np.r_[True, g[order][1:] != g[order][:-1]]]
    coding = np.isin(g[best], np.unique(g[y > 0]))
    return {"pr_auc_atg": round(float(average_precision_score(y, scores)), 4),
            "top_1": round(float(y[best][coding].mean()), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held_out", default="chr13", choices=AUTOSOMES)
    parser.add_argument("--levers", default="base,splice,neighbours,bigger,seeds,curve")
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    started = time.time()
    held = args.held_out
    trained = [name for name in AUTOSOMES if name != held]
    data = {name: read_original(args.data / f"{name}.npy.gz") for name in trained + [held]}
    pairs = [data[n].transcript(i) for n in trained for i in range(len(data[n]))]
    rows = atg_rows(trained + [held], data, fit_feature_tables(pairs))
    levers = args.levers.split(",")
    for name in rows:
        if "splice" in levers:
            rows[name]["splice"] = splice_columns(rows[name])
        if "neighbours" in levers:
            rows[name]["neighbours"] = neighbour_columns(rows[name])
    print(f"rows: {sum(len(rows[n]['y']) for n in trained):,} training ATGs, {len(rows[held]['y']):,} held out "
          f"({time.time() - started:.0f} s)", flush=True)
    runs = {"base": lambda: fit_and_score(rows, trained, held),
            "splice": lambda: fit_and_score(rows, trained, held, "splice"),
            "neighbours": lambda: fit_and_score(rows, trained, held, "neighbours"),
            "bigger": lambda: fit_and_score(rows, trained, held, num_leaves=63, min_data_in_leaf=50,
                                            learning_rate=0.03, rounds=1200),
            "seeds": lambda: fit_and_score(rows, trained, held, seeds=(1, 2, 3)),
            "factor": lambda: factorized(rows, trained, held)}
    results = {}
    for lever in levers:
        if lever == "curve":
            for names in ([trained[0]], trained[:2]):
                results["train " + "+".join(names)] = fit_and_score(rows, names, held)
                print(held, "train " + "+".join(names), results["train " + "+".join(names)], flush=True)
            continue
        if lever not in runs:
            parser.error(f"unknown lever {lever!r}")
        results[lever] = runs[lever]()
        print(held, lever, results[lever], f"({time.time() - started:.0f} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"held_out": held, "trained": trained, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
