"""The ``crossval`` command: K models, each tested on the files it never saw; their predictions and metrics.

Every data file is predicted once, by the model of the fold that held it
out, so a whole annotation (a proteome being re-annotated, say) gets
predictions free of training leakage: ``OUT_DIR/predictions/FILE.tsv``, the
site table of ``impute``. ``OUT_DIR/metrics.tsv`` has each held-out file's
metrics; ``OUT_DIR/fold_K/model.onnx`` is each fold's model with its card.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from tis_transformer.cli.evaluate import COLUMNS
from tis_transformer.predictor.input_files import data_name
from tis_transformer.predictor.read import InputError
from tis_transformer.training.data import find_data_files
from tis_transformer.training.datasets import check_distinct_names, Dataset, load_dataset
from tis_transformer.training.folds import plan_folds
from tis_transformer.training.presets import resolve

log = logging.getLogger("tis_transformer")

LETTERS = np.frombuffer(b"ATCGN", dtype=np.uint8)  # token order of tis_transformer.predictor.tokens


def _fasta(data: Dataset, path: Path) -> None:
    """The transcripts of a data file as FASTA, the input ``impute`` reads."""
    with open(path, "w") as out:
        for i in range(len(data)):
            tokens = data.transcript(i)[0]
            out.write(f">{data.ids[i]}\n{LETTERS[tokens].tobytes().decode()}\n")


def _predict(model: Path, data: Dataset, out: Path) -> None:
    from tis_transformer.__main__ import build_parser
    from tis_transformer.cli.impute import run as impute

    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / (out.name[: -len(".tsv")] + ".fa")
        _fasta(data, fasta)
        if impute(build_parser().parse_args(["impute", str(fasta), str(model), "-o", str(out), "-q"])) != 0:
            raise InputError(f"{out}: predicting the held-out transcripts failed")


def run(args: argparse.Namespace) -> int:
    """Train one model per fold, predict and score each held-out file with the model that never saw it."""
    from tis_transformer.cli.train import check_options, run as train

    settings = resolve("train", args)
    settings.resolved = True
    check_options(settings, "train")
    files = find_data_files(args.data_path)
    check_distinct_names(files)
    out_dir = Path(args.output_dir)
    existing = next(p for p in [out_dir.absolute(), *out_dir.absolute().parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise InputError(f"{out_dir}: {existing} is not a writable folder")
    counts = {p: int(load_dataset(p).tis.size) for p in files}
    if not any(counts.values()):
        raise InputError(f"{args.data_path}: no annotated TIS in any file: give transcripts with their start sites")
    plans = plan_folds(counts, args.folds)
    # only a plan that can run gets its folder: a refused run leaves nothing behind
    (out_dir / "predictions").mkdir(parents=True, exist_ok=True)
    rows = []
    for number, plan in enumerate(plans, 1):
        fold_dir = out_dir / f"fold_{number}"
        fold_dir.mkdir(exist_ok=True)
        tests = ", ".join(p.name for p in plan["test"])
        log.info("fold %d/%d: testing on %s, validating on %s (%d TISs held out)", number, len(plans), tests,
                 plan["val"].name, sum(counts[p] for p in plan["test"]))
        fold = argparse.Namespace(**vars(settings))
        fold.val_set, fold.test_set = str(plan["val"]), ",".join(str(p) for p in plan["test"])
        fold.output = str(fold_dir / "model.onnx")
        fold.name = f"fold_{number}"
        # the card's recipe: the crossval command and which files this fold held out
        fold.training_command = (f"tis-transformer {shlex.join(sys.argv[1:])} (fold {number}: validated on "
                                 f"{plan['val'].name}, tested on {tests})" if sys.argv[1:2] == ["crossval"] else "")
        if "log_dir" not in settings.typed:
            fold.log_dir = str(fold_dir / "runs")
        train(fold, "train")
        card = _card(fold_dir / "model.onnx")
        for path in plan["test"]:
            stem = data_name(path)
            _predict(fold_dir / "model.onnx", load_dataset(path), out_dir / "predictions" / f"{stem}.tsv")
            rows.append({"fold": number, "file": path.name, "validated_on": plan["val"].name,
                         **{c: card["metrics"][stem][c] for c in COLUMNS}})
    _write_metrics(out_dir / "metrics.tsv", rows)
    log.info("held-out predictions in %s, metrics in %s", out_dir / "predictions", out_dir / "metrics.tsv")
    return 0


def _card(model: Path) -> dict:
    import json

    return json.loads(model.with_suffix(".json").read_text())


def _write_metrics(path: Path, rows: list) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["fold", "file", "validated_on", *COLUMNS], delimiter="\t")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})


__all__ = ["run"]
