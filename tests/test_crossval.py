"""Folds balanced by TIS count, and the ``crossval`` command on a tiny setup with the smoke preset (issue 19)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tis_transformer.predictor.read import InputError
from tis_transformer.training.folds import balanced_folds, plan_folds


def test_folds_balance_tis_counts_greedily_and_are_stable():
    counts = {"a": 900, "b": 500, "c": 400, "d": 300, "e": 100, "Y": 20}
    folds = balanced_folds(counts, 2)
    # a 900 | b 500; c 400 to the lighter (900 | 900); d 300 to the one of fewer files; e, Y to the lighter
    assert folds == [["a", "d"], ["b", "c", "e", "Y"]]  # 1200 against 1020
    assert balanced_folds(counts, 2) == folds
    assert balanced_folds(counts, 3) == [["a"], ["b", "e", "Y"], ["c", "d"]]  # 900, 620, 700


def test_each_fold_validates_on_its_smallest_training_file_with_tiss():
    counts = {"a": 900, "b": 500, "c": 400, "d": 300, "empty": 0, "Y": 20}
    for plan in plan_folds(counts, 2):
        outside = [n for n in counts if n not in plan["test"]]
        assert plan["val"] == min((n for n in outside if counts[n]), key=counts.get)
        assert set(plan["train"]) | {plan["val"]} == set(outside)
    with pytest.raises(InputError, match="--folds must be between 2 and the number of data files"):
        plan_folds(counts, 7)
    with pytest.raises(InputError, match="need 2: use fewer --folds"):
        plan_folds({"a": 5, "b": 4, "c": 3}, 2)  # b and c together leave only a


@pytest.mark.train
@pytest.mark.slow
def test_crossval_predicts_every_file_with_the_model_that_never_saw_it(small_split, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("lightning")
    from conftest import subset

    from tis_transformer.__main__ import main
    from tis_transformer.training.datasets import load_dataset, save_dataset

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    train = load_dataset(small_split / "train.npz")
    halves = np.array_split(np.arange(len(train)), 2)
    # dotted names: results were once keyed by the name's first part, so hs.chrA's row held hs.chrB's scores
    for name, part in zip(("hs.chrA", "hs.chrB"), halves):
        save_dataset(subset(train, part.tolist()), data_dir / f"{name}.npz")
    for name in ("val", "test"):
        save_dataset(load_dataset(small_split / f"{name}.npz"), data_dir / f"hs.chr_{name}.npz")
    out = tmp_path / "cv"
    # a plan that cannot run leaves no folder behind
    assert main(["crossval", str(data_dir), "--folds", "5", "-o", str(out), "--preset", "smoke"]) == 1
    assert not out.exists()
    assert main(["crossval", str(data_dir), "--folds", "2", "-o", str(out), "--preset", "smoke",
                 "--no_progress_bar"]) == 0
    with open(out / "metrics.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert sorted(r["file"] for r in rows) == ["hs.chrA.npz", "hs.chrB.npz", "hs.chr_test.npz", "hs.chr_val.npz"]
    for row in rows:
        assert 0.0 <= float(row["pr_auc"]) <= 1.0 and int(row["tis"]) > 0
        assert int(row["transcripts"]) == len(load_dataset(data_dir / row["file"]))
        card = json.loads((out / f"fold_{row['fold']}" / "model.json").read_text())
        seen = [Path(p).name for p in card["trained_on"] + card["validated_on"]]
        assert row["file"] not in seen and row["validated_on"] in seen  # scored by a model that never saw it
        assert row["file"] in [Path(p).name for p in card["held_out"]]
    predicted = sorted(p.name for p in (out / "predictions").iterdir())
    assert predicted == ["hs.chrA.tsv", "hs.chrB.tsv", "hs.chr_test.tsv", "hs.chr_val.tsv"]
    ids = {line.split("\t")[0] for line in (out / "predictions" / "hs.chrA.tsv").read_text().splitlines()
           if line and not line.startswith(("#", "transcript_id"))}
    assert ids <= set(load_dataset(data_dir / "hs.chrA.npz").ids)


def test_folds_below_two_are_refused_by_the_parser(tmp_path, capsys):
    from tis_transformer.__main__ import main

    pytest.importorskip("torch")
    with pytest.raises(SystemExit) as stop:
        main(["crossval", str(tmp_path), "--folds", "1"])
    assert stop.value.code == 2 and "must be at least 2" in capsys.readouterr().err
