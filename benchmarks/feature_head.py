#!/usr/bin/env python3
"""Ablation of the reading-frame feature sets: the feature head alone, per held-out chromosome.

For each held-out chromosome and each feature set (``orf-v2``: 15 columns,
``orf-v3``: 37, ``orf-v4``: 54, ``orf-v5``: all 55), a network's feature head is prefitted exactly as
``tis-transformer train --prefit_feature_head`` does (hexamer table fitted
on the training files, every ATG and TIS plus a weighted sample of other
positions) on the training files of the shipped model that held that
chromosome out (its metadata's ``trained_on``), and the held-out chromosome is scored
with the head alone (no Performer), pooled over every nucleotide like
``accuracy.py``. It isolates what the features carry from what the Performer
adds on top. ``--trees 600`` adds the shipped models' boosted trees, blended
with the head at ATGs; trees that read isoform columns (the default) are scored
twice: comparing the held-out chromosome's transcripts with each other, and
each alone.

Needs the ``train`` extra. About a minute per chromosome and set on 2 cores::

    python benchmarks/feature_head.py                       # chr13 chr18 chr20, every set
    python benchmarks/feature_head.py chr20 --sets orf-v6 --json head_chr20.json
    python benchmarks/feature_head.py --sets orf-v6 --trees 600
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402



def fold_training() -> dict[str, list[str]]:
    """Training files of the shipped model that held each chromosome out, by chromosome name."""
    from tis_transformer.predictor.registry import held_out_model, shipped_models

    models = shipped_models()
    held = sorted({bc.chromosome_name(h) for meta in models.values() for h in meta.get("held_out", [])})
    return {chrom: [bc.chromosome_name(t) for t in models[held_out_model(chrom)]["trained_on"]] for chrom in held}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    folds = fold_training()
    p.add_argument("chromosomes", nargs="*", default=sorted(folds),
                   help=f"held-out chromosomes among {', '.join(sorted(folds))} (default: all)")
    p.add_argument("--sets", nargs="+", default=None, help="feature sets to compare (default: all)")
    p.add_argument("--epochs", type=int, default=8, help="prefit passes (default 8, as shipped)")
    p.add_argument("--units", type=int, default=128, help="feature head width (default 128, as shipped)")
    p.add_argument("--trees", type=int, default=0, metavar="ROUNDS",
                   help="also fit ROUNDS boosted trees and blend them with the head at ATGs "
                        "(600 as shipped; default 0: the head alone)")
    p.add_argument("--tree_stages", type=int, default=2, choices=[1, 2], help="with --trees (default 2, as shipped)")
    p.add_argument("--tree_blend", type=float, default=0.85, metavar="W",
                   help="with --trees: the trees' share of the logit at ATGs (default 0.85, as shipped)")
    p.add_argument("--isoform_trees", action=argparse.BooleanOptionalAction, default=True,
                   help="with --trees: the trees also read the isoform columns (default on, as shipped)")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    unknown = sorted(set(args.chromosomes) - set(folds))
    if unknown:
        p.error(f"no shipped fold holds out {', '.join(unknown)}")
    args.trained_on = {chrom: folds[chrom] for chrom in args.chromosomes}
    return args


def head_scores(network, data, feature_set: str, logit_offset: float, alone: bool = False) -> list:
    """Probabilities of the network's feature head alone at every position of every transcript.

    Trees that read isoform columns compare the transcripts of ``data`` with each other, unless ``alone``.
    """
    import torch

    inputs = network.model_inputs()
    tokens = [data.transcript(i)[0] for i in range(len(data))]
    isoforms = None if alone else inputs.isoform_index(tokens)
    out = []
    with torch.no_grad():
        for t in tokens:
            alike = isoforms.columns(t) if isoforms is not None else None
            f = torch.from_numpy(inputs.with_trees(t, alike))
            logits = network.feature_logits(f)[:, 0]
            out.append(torch.sigmoid(logits + logit_offset).numpy())
    return out


def run_one(chrom: str, feature_set: str, args) -> list[dict]:
    import torch

    from tis_transformer.cli.evaluate import score_dataset
    from tis_transformer.predictor.features import FEATURE_SETS
    from tis_transformer.training.feature_tables import fit_feature_tables
    from tis_transformer.training.datasets import concatenate, load_dataset
    from tis_transformer.training.modules import TISModel
    from tis_transformer.training.prefit import prefit_feature_head

    torch.manual_seed(args.seed)
    train = concatenate([load_dataset(bc.chromosome_path(c)) for c in args.trained_on[chrom]])
    held = load_dataset(bc.chromosome_path(chrom))
    model = TISModel({"dim": 8, "depth": 1, "heads": 2, "dim_head": 4, "local_attn_heads": 1,
                      "local_window_size": 16, "nb_features": 8, "ff_chunks": 1,
                      "n_features": FEATURE_SETS[feature_set], "feature_head": args.units,
                      "tree_blend": args.tree_blend if args.trees else 0.0}, pos_weight=10.0)
    started = time.perf_counter()
    model.network.set_feature_tables(fit_feature_tables([train.transcript(i) for i in range(len(train))]))
    fitted = prefit_feature_head(model, train, args.epochs, seed=args.seed, tree_rounds=args.trees,
                                 tree_stages=args.tree_stages, isoform_trees=args.isoform_trees)
    fit_s = time.perf_counter() - started
    model.eval()
    trees = (f" + {args.trees} trees" + (", two stages" if args.tree_stages == 2 else "")
             + (", isoforms" if args.isoform_trees else "")) if args.trees else ""
    results = []
    for alone in (False, True) if args.trees and args.isoform_trees else (False,):
        result = score_dataset(held, head_scores(model.network, held, feature_set, model.logit_offset, alone))
        result.update({"chromosome": chrom, "feature_set": feature_set + trees + (", scored alone" if alone else ""),
                       "fit_s": round(fit_s, 1), "rows": fitted["rows"], "trained_on": args.trained_on[chrom]})
        results.append(result)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    from tis_transformer.predictor.features import FEATURE_SETS

    sets = args.sets or list(FEATURE_SETS)
    results = []
    print("| chrom | features | ROC AUC | PR AUC | ROC AUC (ATG) | PR AUC (ATG) | top-k | top-1 | fit s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for chrom in args.chromosomes:
        for feature_set in sets:
            for r in run_one(chrom, feature_set, args):
                results.append(r)
                print(f"| {chrom} | {r['feature_set']} | {r['roc_auc']:.5f} | {r['pr_auc']:.4f} "
                      f"| {r['roc_auc_atg']:.4f} | {r['pr_auc_atg']:.4f} | {r['top_k']:.3f} | {r['top_1']:.3f} | {r['fit_s']} |",
                      flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
