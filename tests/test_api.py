import numpy as np
import pytest

from tis_transformer import Prediction, Predictor, predict
from tis_transformer.predictor.read import InputError, read_records

from conftest import EXAMPLE_FASTA


@pytest.fixture(scope="module")
def predictor():
    return Predictor(device="cpu", threads=1)


def test_a_string_in_sites_out(predictor):
    (result,) = predict("gccaccAUGGCGUCUUAA", top_k=1, predictor=predictor)
    assert isinstance(result, Prediction) and result.id == "sequence_1"
    assert result.sequence == "GCCACCATGGCGTCTTAA"
    assert result.probabilities.shape == (18,) and result.probabilities.dtype == np.float32
    (site,) = result.sites
    assert (site.position, site.start_codon, site.protein, site.stop_found) == (7, "ATG", "MAS", True)


def test_records_compare_isoforms_as_the_command_line_does(predictor, tmp_path):
    from tis_transformer.__main__ import main
    from tis_transformer.predictor.read import load_npy

    records = [(name, "".join("ATCGN"[t] for t in tokens)) for name, tokens in read_records(str(EXAMPLE_FASTA))]
    together = predict(records, predictor=predictor)
    out = tmp_path / "cli.npy"
    assert main(["impute", str(EXAMPLE_FASTA), "-o", str(out), "-q", "--threads", "1"]) == 0
    for result, row in zip(together, load_npy(out)):
        assert result.id == row[0][1:]
        np.testing.assert_allclose(result.probabilities, row[2], atol=1e-6)
    alone = predict(records, alone=True, predictor=predictor)
    assert [r.id for r in alone] == [name for name, _ in records]
    for result, (_, sequence) in zip(alone, records):
        (single,) = predict([("x", sequence)], alone=True, predictor=predictor)
        np.testing.assert_allclose(result.probabilities, single.probabilities, atol=1e-6)


def test_a_file_or_seqrecords_in_as_impute_reads_them(predictor):
    from pathlib import Path

    from Bio import SeqIO

    expected = predict([(n, "".join("ATCGN"[t] for t in tok)) for n, tok in read_records(str(EXAMPLE_FASTA))],
                       predictor=predictor)
    for given in (Path(EXAMPLE_FASTA), str(EXAMPLE_FASTA), list(SeqIO.parse(str(EXAMPLE_FASTA), "fasta"))):
        got = predict(given, predictor=predictor)
        assert [r.id for r in got] == [r.id for r in expected]
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a.probabilities, b.probabilities)
    (one,) = predict(next(SeqIO.parse(str(EXAMPLE_FASTA), "fasta")), predictor=predictor)  # a record, not its letters
    assert one.id == expected[0].id and np.array_equal(one.probabilities, expected[0].probabilities)


def test_a_path_must_exist_and_a_folder_is_no_input(predictor, tmp_path, monkeypatch):
    from pathlib import Path

    with pytest.raises(InputError, match="ATGATG: no such file"):
        predict(Path(tmp_path / "ATGATG"), predictor=predictor)
    (tmp_path / "ATGGCCTAA").mkdir()
    monkeypatch.chdir(tmp_path)
    (result,) = predict("ATGGCCTAA", top_k=1, predictor=predictor)  # the sequence, not the folder of that name
    assert result.sequence == "ATGGCCTAA"


@pytest.mark.parametrize("bad,message", [([], "no sequences"), ("ACGJ", "invalid nucleotide 'J' at position 4"),
                                         ([("a", "ACGT"), ("a", "ACGT")], "duplicate id"), ("", "empty sequence"),
                                         ([("a", "ATG", "x")], "record 1: .* pair, not 3 values")])
def test_bad_input(predictor, bad, message):
    with pytest.raises(InputError, match=message):
        predict(bad, predictor=predictor)


def test_a_tuple_of_sequences_is_sequences(predictor):
    # an (id, sequence) pair goes inside a list; a bare tuple is an iterable of sequences like any other
    results = predict(("GCCACCATGGCGTCTTAA", "ATGAAATAG"), top_k=1, predictor=predictor)
    assert [r.id for r in results] == ["sequence_1", "sequence_2"]
    with pytest.raises(InputError, match=r"invalid nucleotide 'x' .*pair goes inside a list: \[\(id, sequence\)\]"):
        predict(("tx1", "ATGAAATAG"), predictor=predictor)


def test_a_mistyped_file_name_is_named_as_one(predictor):
    with pytest.raises(InputError, match=r"^'nosuch.fa': no such file, and not a nucleotide sequence \(invalid "):
        predict("nosuch.fa", predictor=predictor)


def test_biopython_seqs_and_a_dict_are_sequences(predictor):
    from Bio.Seq import MutableSeq, Seq
    # a Seq iterates letter by letter: it was once read as 18 one-letter sequences
    (result,) = predict(Seq("GCCACCATGGCGTCTTAA"), top_k=1, predictor=predictor)
    assert result.sequence == "GCCACCATGGCGTCTTAA" and result.sites[0].protein == "MAS"
    results = predict([Seq("GCCACCATGGCGTCTTAA"), ("b", MutableSeq("ATGAAATAG"))], top_k=1, predictor=predictor)
    assert [r.id for r in results] == ["sequence_1", "b"]
    # a dict maps ids to sequences (its keys alone were once read as sequences)
    results = predict({"CAT": "GCCACCATGGCGTCTTAA", "TAG": "ATGAAATAG"}, top_k=1, predictor=predictor)
    assert [r.id for r in results] == ["CAT", "TAG"] and results[0].sequence == "GCCACCATGGCGTCTTAA"


@pytest.mark.parametrize("options,message", [
    ({"threshold": 2}, "threshold must be a number from 0 to 1, not 2"),
    ({"threshold": float("nan")}, "threshold must be"), ({"threshold": "0.5"}, "threshold must be"),
    ({"top_k": 0}, "top_k must be a whole number of at least 1, not 0"), ({"top_k": -1}, "top_k must"),
    ({"top_k": 1.5}, "top_k must"), ({"top_k": 1, "threshold": 0.1}, "threshold or top_k, not both"),
    ({"device": "tpu"}, "device must be 'cpu', 'cuda' or 'auto', not 'tpu'"), ({"threads": -1}, "threads must")])
def test_options_out_of_range_are_refused_as_on_the_command_line(predictor, options, message):
    with pytest.raises(ValueError, match=message):
        predict("GCCACCATGGCGTCTTAA", predictor=predictor, **options)
    # the edges of each range are allowed
    assert predict("GCCACCATGGCGTCTTAA", predictor=predictor, threshold=np.float32(1.0))[0].sites == []
    assert len(predict("GCCACCATGGCGTCTTAA", predictor=predictor, threshold=0)[0].sites) == 1
    assert len(predict("GCCACCATGGCGTCTTAA", predictor=predictor, top_k=np.int64(1))[0].sites) == 1
    assert len(predict("GCCACCATGGCGTCTTAA", predictor=predictor, device="CPU", top_k=1)[0].sites) == 1
