"""Ensembles: several models given to ``impute`` (or ``predict``) give the mean of their probabilities.

Each ensemble run is checked against single runs of its members through the
same command, read back from the ``.npy`` output: the shipped ``human_chr13``
and ``human_chr18`` (reading-frame features, trees and isoform columns of their
own), and the untrained tokens-only network of the Galaxy tests beside them.
"""

from __future__ import annotations

import numpy as np
import pytest

from tis_transformer import predict
from tis_transformer.__main__ import main
from tis_transformer.predictor.ensemble import Ensemble, open_models
from tis_transformer.predictor.read import InputError, load_npy

from conftest import ROOT

FASTA = ROOT / "galaxy" / "test-data" / "transcripts.fasta"
TINY = ROOT / "galaxy" / "test-data" / "tiny_random.onnx"
GENOME = ROOT / "tests" / "data" / "genome" / "genome.fa"
GTF = ROOT / "tests" / "data" / "genome" / "ensembl.gtf"


def probabilities(path) -> dict[str, np.ndarray]:
    return {row[0][1:]: np.asarray(row[2]) for row in load_npy(path)}


def impute(tmp_path, name: str, models: list, *options: str, genome: bool = False) -> dict[str, np.ndarray]:
    out = tmp_path / f"{name}.npy"
    source = ["--genome", str(GENOME), "--annotation", str(GTF)] if genome else [str(FASTA)]
    assert main(["impute", *source, *map(str, models), "-o", str(out), "-q", "--threads", "1", *options]) == 0
    return probabilities(out)


@pytest.mark.parametrize("options", [(), ("--alone",)])
def test_two_shipped_models_average_their_single_runs(tmp_path, options):
    chr13 = impute(tmp_path, "chr13", ["human_chr13"], *options)
    chr18 = impute(tmp_path, "chr18", ["human_chr18"], *options)
    both = impute(tmp_path, "both", ["human_chr13", "human_chr18"], *options)
    assert list(both) == list(chr13) == list(chr18) and len(both) == 4
    for name, mean in both.items():
        by_hand = (chr13[name].astype(np.float64) + chr18[name]) / 2
        assert mean.dtype == np.float32
        np.testing.assert_allclose(mean, by_hand, rtol=1e-6, atol=1e-9)
        # the members differ, so the mean is no copy of either
        assert not np.allclose(chr13[name], chr18[name])


def test_models_may_follow_options(tmp_path, capsys):
    # `impute IN --alone a.onnx b.onnx`: models after an option are still models; an unknown option is still refused
    before = impute(tmp_path, "before", ["human_chr13", "human_chr18"], "--alone")
    after = tmp_path / "after.npy"
    assert main(["impute", str(FASTA), "--alone", "human_chr13", "-o", str(after), "-q", "human_chr18"]) == 0
    for name, got in probabilities(after).items():
        assert np.array_equal(got, before[name])
    with pytest.raises(SystemExit):
        main(["impute", str(FASTA), "human_chr13", "--alone", "--bogus", "-o", str(tmp_path / "no.npy")])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert not (tmp_path / "no.npy").exists()


def test_a_model_with_itself_is_the_model(tmp_path):
    alone = impute(tmp_path, "one", ["human_chr13"])
    twice = impute(tmp_path, "twice", ["human_chr13", "human_chr13"])
    for name in alone:
        assert np.array_equal(alone[name], twice[name])


def test_genome_mode_ensemble(tmp_path):
    chr13 = impute(tmp_path, "chr13", ["human_chr13"], genome=True)
    chr18 = impute(tmp_path, "chr18", ["human_chr18"], genome=True)
    both = impute(tmp_path, "both", ["human_chr13", "human_chr18"], genome=True)
    assert len(both) == 11
    for name, mean in both.items():
        np.testing.assert_allclose(mean, (chr13[name].astype(np.float64) + chr18[name]) / 2, rtol=1e-6, atol=1e-9)


def test_models_with_different_inputs_combine(tmp_path):
    # human reads features, trees and isoform columns; the tiny network reads tokens only
    human = impute(tmp_path, "human", ["human"])
    tiny = impute(tmp_path, "tiny", [TINY])
    both = impute(tmp_path, "both", ["human", TINY])
    for name, mean in both.items():
        np.testing.assert_allclose(mean, (human[name].astype(np.float64) + tiny[name]) / 2, rtol=1e-6, atol=1e-9)


def test_headers_and_report_name_every_model(tmp_path):
    table, gff3, report = tmp_path / "s.tsv", tmp_path / "s.gff3", tmp_path / "r.html"
    assert main(["impute", str(FASTA), "human_chr13", str(TINY), "-o", str(table), "-o", str(gff3),
                 "--report", str(report), "-q", "--threads", "1"]) == 0
    assert "# model: mean of 2 models: human_chr13, tiny_random\n" in table.read_text()
    assert "#!model mean of 2 models: human_chr13, tiny_random\n" in gff3.read_text()
    html = report.read_text()
    assert "human_chr13.onnx" in html and "tiny_random.onnx" in html

    genome_table = tmp_path / "g.tsv"
    assert main(["impute", "--genome", str(GENOME), "--annotation", str(GTF), "human_chr13", "human_chr18",
                 "--top_k", "1", "-o", str(genome_table), "-q", "--threads", "1"]) == 0
    assert "# model: mean of 2 models: human_chr13, human_chr18\n" in genome_table.read_text()


def test_python_api_takes_a_list_of_models():
    sequence = FASTA.read_text().split(">")[2].split("\n", 1)[1].replace("\n", "")
    (first,) = predict(sequence, model="human_chr13", alone=True, threads=1)
    (second,) = predict(sequence, model="human_chr18", alone=True, threads=1)
    (mean,) = predict(sequence, model=["human_chr13", "human_chr18"], alone=True, threads=1)
    np.testing.assert_allclose(mean.probabilities, (first.probabilities.astype(np.float64) + second.probabilities) / 2,
                               rtol=1e-6, atol=1e-9)
    assert mean.sites == [s for s in mean.sites if s.probability >= 0.5]
    ensemble = open_models(["human_chr13", "human_chr18"], device="cpu", threads=1)
    assert isinstance(ensemble, Ensemble) and ensemble.reads_isoforms
    assert [m.label for m in ensemble.members] == ["human_chr13", "human_chr18"]
    # a list of one is that model
    assert open_models(["human_chr13"], device="cpu", threads=1).label == "human_chr13"


def test_a_missing_member_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "out.tsv"
    assert main(["impute", str(FASTA), "human", str(tmp_path / "nope.onnx"), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "nope.onnx: no such model file or shipped model" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(InputError, match="expected a shipped model name"):
        open_models(["human", 3])


def test_an_ensemble_of_models_with_one_name_labels_each_by_its_folder(tmp_path):
    import shutil

    from tis_transformer.predictor.ensemble import open_models

    for fold in ("fold_1", "fold_2"):
        (tmp_path / fold).mkdir()
        shutil.copy(TINY, tmp_path / fold / "model.onnx")
    ensemble = open_models([str(tmp_path / "fold_1" / "model.onnx"), str(tmp_path / "fold_2" / "model.onnx")],
                           device="cpu")
    assert ensemble.label == "mean of 2 models: fold_1/model, fold_2/model"
