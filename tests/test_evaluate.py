import json

import numpy as np
import pytest

from tis_transformer.__main__ import main
from tis_transformer.cli.evaluate import markdown_table, score_dataset
from tis_transformer.training.datasets import from_arrays, save_dataset


def test_score_dataset_pools_every_position():
    # two transcripts: the TIS of the first at its ATG, none in the second
    data = from_arrays(["a", "b"], [np.array([2, 0, 1, 3, 2]), np.array([0, 1, 3])],
                       [np.array([0, 1, 0, 0, 0]), np.array([0, 0, 0])])
    perfect = [np.array([0.1, 0.9, 0.1, 0.1, 0.1]), np.array([0.2, 0.1, 0.1])]
    result = score_dataset(data, perfect)
    assert result["positions"] == 8 and result["tis"] == 1 and result["transcripts"] == 2
    assert result["roc_auc"] == pytest.approx(1.0) and result["pr_auc"] == pytest.approx(1.0)
    assert result["roc_auc_atg"] == pytest.approx(1.0) and result["top_k"] == pytest.approx(1.0)
    wrong = [np.array([0.1, 0.2, 0.1, 0.1, 0.1]), np.array([0.9, 0.1, 0.1])]
    result = score_dataset(data, wrong)
    assert result["top_k"] == 0.0 and result["pr_auc_atg"] == pytest.approx(0.5)


def test_evaluate_command_with_shipped_model(tmp_path, chry, capsys):
    from conftest import subset

    save_dataset(subset(chry, list(range(0, 816, 20))), tmp_path / "chrYsub.npz")
    assert main(["evaluate", "human", str(tmp_path / "chrYsub.npz"), "--json", str(tmp_path / "m.json"), "-q"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| data | transcripts | tis | roc_auc")
    result = json.loads((tmp_path / "m.json").read_text())["results"]["chrYsub"]
    assert result["transcripts"] == 41
    assert result["roc_auc"] > 0.9  # the shipped model has learned something real


def test_evaluate_alone_scores_with_the_alone_variant(tmp_path, chry, capsys, caplog):
    from conftest import subset

    from tis_transformer.cli.evaluate import score_dataset
    from tis_transformer.predictor.registry import MODELS_DIR
    from tis_transformer.predictor.runner import Predictor

    data = subset(chry, list(range(0, 816, 20)))
    save_dataset(data, tmp_path / "chr13.npz")  # named like a file human was trained on
    with caplog.at_level("WARNING", logger="tis_transformer"):
        assert main(["evaluate", "human", str(tmp_path / "chr13.npz"), "--alone", "--json",
                     str(tmp_path / "m.json"), "-q"]) == 0
    assert "lists chr13 among its training files: these metrics are not held out" in caplog.text
    written = json.loads((tmp_path / "m.json").read_text())
    variant = Predictor(str(MODELS_DIR / "human.alone.onnx"), device="cpu", threads=1)
    tokens = [data.transcript(i)[0] for i in range(len(data))]
    expected = score_dataset(data, variant.predict(tokens))
    assert written["alone"] is True and written["results"]["chr13"] == pytest.approx(expected)
    assert "| top_k | top_1 |" in capsys.readouterr().out


def test_the_trained_on_warning_reads_paths_as_cards_of_trained_models_record_them(caplog):
    from tis_transformer.cli.evaluate import _warn_if_trained_on

    card = {"trained_on": json.dumps(["../data/chr13.npz", "data/chr18.npy.gz"]),
            "validated_on": json.dumps(["/abs/chrY.npz"])}
    with caplog.at_level("WARNING", logger="tis_transformer"):
        _warn_if_trained_on(card, ["x/chr13.npz", "chr18.npz", "chrY.npy.gz", "chr20.npz"])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and "chr13 among its training files" in lines[0] and "chr18 among" in lines[1]
    assert "chrY as its validation file" in lines[2]


def test_markdown_table_formats_numbers():
    table = markdown_table({"x": {"transcripts": 1200, "tis": 3, "roc_auc": 0.5, "pr_auc": 0.25,
                                  "roc_auc_atg": 0.5, "pr_auc_atg": 0.1, "top_k": 0.0, "top_1": 0.5}})
    assert "| x | 1,200 | 3 | 0.5000 | 0.2500 |" in table and table.splitlines()[0].endswith("| top_k | top_1 |")


def test_evaluate_never_writes_over_its_inputs_and_checks_before_scoring(tmp_path, chry, capsys):
    from conftest import subset

    data = tmp_path / "chrYsub.npz"
    save_dataset(subset(chry, list(range(0, 816, 50))), data)
    untouched = data.read_bytes()
    for json_path, message in [(data, "the output would overwrite the input"),
                               (tmp_path / "no_folder" / "m.json", "no such directory"),
                               (tmp_path, "cannot write: is a directory")]:
        assert main(["evaluate", "human", str(data), "--json", str(json_path), "-q"]) == 1
        assert message in capsys.readouterr().err
    assert data.read_bytes() == untouched and sorted(p.name for p in tmp_path.iterdir()) == ["chrYsub.npz"]
    import shutil
    from tis_transformer.predictor.registry import MODELS_DIR
    copy = tmp_path / "m"
    copy.mkdir()
    for name in ("human.onnx", "human.json", "human.alone.onnx", "human.alone.json"):
        shutil.copy(MODELS_DIR / name, copy / name)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    for json_path in ("human.alone.onnx", "human.json", "human.alone.json"):
        assert main(["evaluate", str(copy / "human.onnx"), str(data), "--json", str(copy / json_path), "-q"]) == 1
        assert "a file of the model; choose another name" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert main(["evaluate", "human", str(data), "--json", str(MODELS_DIR / "new.json"), "-q"]) == 1
    assert "folder of the shipped models" in capsys.readouterr().err and not (MODELS_DIR / "new.json").exists()
    noncoding = tmp_path / "noncoding.npz"
    save_dataset(subset(chry, [i for i in range(816) if not chry.transcript(i)[1].any()][:5]), noncoding)
    assert main(["evaluate", "human", str(noncoding), "-q"]) == 1
    assert "noncoding.npz: no annotated TIS, nothing to score a model on" in capsys.readouterr().err


def test_files_with_dotted_names_each_get_their_row(tmp_path, chry, capsys):
    # rows were once keyed by the name's first part: hs.chrA's row was replaced by hs.chrB's
    from conftest import subset

    first, second = tmp_path / "hs.chrA.npz", tmp_path / "hs.chrB.npz"
    save_dataset(subset(chry, list(range(0, 400, 4))), first)
    save_dataset(subset(chry, list(range(400, 816, 4))), second)
    assert main(["evaluate", "human", str(first), str(second), "-q", "--json", str(tmp_path / "m.json")]) == 0
    results = json.loads((tmp_path / "m.json").read_text())["results"]
    assert sorted(results) == ["hs.chrA", "hs.chrB"]
    assert results["hs.chrA"]["transcripts"] == 100 and results["hs.chrB"]["transcripts"] == 104
    copy = tmp_path / "other"
    copy.mkdir()
    save_dataset(subset(chry, [0, 1, 2, 3]), copy / "hs.chrA.npz")
    assert main(["evaluate", "human", str(first), str(copy / "hs.chrA.npz"), "-q"]) == 1
    assert "two data files named 'hs.chrA'" in capsys.readouterr().err
