import gzip

import numpy as np
import pytest

from tis_transformer.__main__ import main
from tis_transformer.training.datasets import concatenate, load_dataset, read_fasta, read_original, save_dataset

from conftest import CHROMOSOMES, needs_shared


def test_npz_round_trips_the_original_file_exactly(tmp_path, chry):
    save_dataset(chry, tmp_path / "chrY.npz")
    loaded = load_dataset(tmp_path / "chrY.npz")
    with gzip.open(CHROMOSOMES / "chrY.npy.gz", "rb") as handle:
        rows = np.load(handle, allow_pickle=True)
    assert len(loaded) == len(rows)
    for i, (array, transcript_id) in enumerate(rows):
        tokens, labels = loaded.transcript(i)
        assert loaded.ids[i] == transcript_id
        assert np.array_equal(tokens, array[:, 0])
        assert np.array_equal(labels, array[:, 1])


def test_npz_is_loaded_without_pickle(tmp_path, chry):
    save_dataset(chry, tmp_path / "d.npz")
    with np.load(tmp_path / "d.npz", allow_pickle=False) as data:
        assert data["tokens"].dtype == np.uint8
        assert data["ids"].dtype.kind == "U"


def test_prepare_command(tmp_path, capsys):
    needs_shared(CHROMOSOMES / "chrY.npy.gz")
    assert main(["prepare", str(CHROMOSOMES / "chrY.npy.gz"), str(tmp_path / "y.npz")]) == 0
    assert "816 transcripts, 1097011 nt, 145 TISs" in capsys.readouterr().out


def test_fasta_with_gencode_cds_headers(tmp_path):
    fasta = tmp_path / "t.fa"
    fasta.write_text(">ENST1.1|ENSG1|-|-|T-201|T|12|UTR5:1-3|CDS:4-12|\nCCCATGAAA\nTAA\n"
                     ">ENST2.1|ENSG2|-|-|T-202|T|5|\nACGTA\n")
    data = read_fasta(fasta)
    assert data.ids.tolist() == ["ENST1.1", "ENST2.1"]
    assert np.flatnonzero(data.transcript(0)[1]).tolist() == [3]
    assert not data.transcript(1)[1].any()


def test_fasta_with_tis_table(tmp_path):
    fasta = tmp_path / "t.fa"
    fasta.write_text(">a\nATGATGCCC\n>b\nCCCC\n")
    table = tmp_path / "tis.tsv"
    table.write_text("a\t1\na\t4\n")
    data = read_fasta(fasta, table)
    assert np.flatnonzero(data.transcript(0)[1]).tolist() == [0, 3]
    table.write_text("b\t9\n")
    with pytest.raises(ValueError, match="outside 1..4"):
        read_fasta(fasta, table)


def test_concatenate_keeps_transcripts(chry):
    from conftest import subset

    a, b = subset(chry, [0, 1]), subset(chry, [2, 3, 4])
    joined = concatenate([a, b])
    assert len(joined) == 5
    for i in range(5):
        assert np.array_equal(joined.transcript(i)[1], chry.transcript(i)[1])


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected a prepared"):
        load_dataset(tmp_path / "x.csv")


def test_a_results_file_or_a_crafted_pickle_is_refused_without_running_code(tmp_path):
    from conftest import SEED_RESULTS

    from tis_transformer.predictor.read import InputError

    with pytest.raises(InputError, match="a results file .* holds no TIS labels"):
        read_original(SEED_RESULTS)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    rows = np.empty((1, 2), dtype=object)
    rows[0, 0], rows[0, 1] = Payload(), "t1"
    np.save(tmp_path / "crafted.npy", rows, allow_pickle=True)
    with pytest.raises(InputError):
        read_original(tmp_path / "crafted.npy")
    assert not marker.exists()
    bad = np.empty((1, 2), dtype=object)
    bad[0, 0], bad[0, 1] = np.array([[0, 0], [7, 1]], dtype=np.int16), "t1"
    np.save(tmp_path / "bad.npy", bad, allow_pickle=True)
    with pytest.raises(InputError, match="row 1 \\(t1\\): tokens must be 0-4"):
        read_original(tmp_path / "bad.npy")


def test_a_fasta_without_any_tis_is_written_with_a_warning(tmp_path, caplog):
    fasta = tmp_path / "t.fa"
    fasta.write_text(">a\nATGATGCCC\n>b\nCCCC\n")
    with caplog.at_level("WARNING", logger="tis_transformer"):
        assert main(["prepare", str(fasta), str(tmp_path / "t.npz")]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"{fasta}: no annotated TIS (no CDS:START-END header field, no --tis_table); nothing to train or evaluate on"]
    assert len(load_dataset(tmp_path / "t.npz")) == 2


def test_prepare_refuses_in_one_line_and_never_writes_over_an_input(tmp_path, capsys):
    fasta = tmp_path / "t.fa"
    fasta.write_text(">a|CDS:1-6|\nATGTAA\n>b\nCCCC\n")
    table = tmp_path / "tis.tsv.gz"
    with gzip.open(table, "wt") as handle:
        handle.write("a\t1\nzz\t2\n")
    out = tmp_path / "t.npz"
    assert main(["prepare", str(fasta), str(out), "--tis_table", str(table)]) == 0  # a gzipped table reads
    assert np.flatnonzero(load_dataset(out).transcript(0)[1]).tolist() == [0]
    capsys.readouterr()  # its warning about zz (test_a_tis_table_naming_transcripts_not_in_the_fasta_is_a_warning)
    (tmp_path / "dup.fa").write_text(">a\nATG\n>a\nCCC\n")
    (tmp_path / "bad.fa").write_text(">a\nATGXTAA\n")
    (tmp_path / "binary.fa").write_bytes(b">a\n\xf9\xfa\n")
    (tmp_path / "empty_record.fa").write_text(">a\nATG\n>b\n>c\nCCC\n")
    (tmp_path / "backwards.fa").write_text(">a|CDS:5-3|\nCCCCATG\n")
    (tmp_path / "a.gtf").write_text('chr1\tENSEMBL\texon\t1\t9\t.\t+\t.\ttranscript_id "a";\n')
    (tmp_path / "versioned.tsv").write_text("q\t1\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for args, message in [
        ([str(out), str(tmp_path / "u.npz")], "already a prepared dataset"),
        ([str(tmp_path / "dup.fa"), str(tmp_path / "u.npz")], "transcript 'a' appears twice"),
        ([str(tmp_path / "bad.fa"), str(tmp_path / "u.npz")], "invalid nucleotide 'X' at position 4"),
        ([str(tmp_path / "binary.fa"), str(tmp_path / "u.npz")], "not a FASTA file (binary"),
        ([str(tmp_path / "empty_record.fa"), str(tmp_path / "u.npz")], "record 'b': empty sequence"),
        ([str(tmp_path / "backwards.fa"), str(tmp_path / "u.npz")], "a: CDS:5-3 ends before it starts"),
        ([str(tmp_path / "a.gtf"), str(tmp_path / "u.npz")], "not a FASTA file: line 1 starts with 'chr1"),
        ([str(fasta), str(tmp_path / "u.npz"), "--tis_table", str(tmp_path / "versioned.tsv")],
         "none of its 1 transcript ids is in"),
        ([str(fasta), str(tmp_path / "u.npz"), "--tis_table", str(fasta)], "expected 'transcript_id<TAB>position'"),
        ([str(fasta), str(tmp_path / "nowhere" / "u.npz")], "no such directory"),
    ]:
        assert main(["prepare", *args]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "not FASTA (" not in err, (args, err)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    link = tmp_path / "link.npz"
    link.symlink_to(fasta)
    assert main(["prepare", str(fasta), str(link)]) == 1
    assert "would overwrite the input" in capsys.readouterr().err and fasta.read_text().startswith(">a|CDS")


def test_a_tis_table_naming_transcripts_not_in_the_fasta_is_a_warning(tmp_path, caplog):
    fasta = tmp_path / "t.fa"
    fasta.write_text(">a|CDS:4-6|\nATGTAA\n")
    table = tmp_path / "tis.tsv"
    table.write_text("a\t1\nx\t1\ny\t1\n")
    with caplog.at_level("WARNING", logger="tis_transformer"):
        assert main(["prepare", str(fasta), str(tmp_path / "t.npz"), "--tis_table", str(table)]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"{table}: 2 of its 3 transcript ids are not in {fasta} (first: x)",
        f"{fasta}: the TISs come from {table}; the CDS: fields of 1 headers are not read"]
    assert np.flatnonzero(load_dataset(tmp_path / "t.npz").transcript(0)[1]).tolist() == [0]


def test_a_tis_table_matching_no_transcript_is_refused(tmp_path, capsys):
    # GENCODE FASTA ids carry versions (ENST1.2); tables often do not
    fasta = tmp_path / "t.fa"
    fasta.write_text(">ENST1.2|ENSG1|\nATGTAA\n>ENST2.1|ENSG2|\nCCCATG\n")
    table = tmp_path / "tis.tsv"
    table.write_text("ENST1\t1\nENST2\t4\n")
    assert main(["prepare", str(fasta), str(tmp_path / "t.npz"), "--tis_table", str(table)]) == 1
    err = capsys.readouterr().err
    assert "none of its 2 transcript ids is in" in err and "version suffixes" in err
    assert not (tmp_path / "t.npz").exists()


def test_a_tis_table_off_by_some_nucleotides_is_refused_with_the_shift(tmp_path, chry, capsys):
    # a 0-based table (or one naming the CDS's last nucleotide) once trained a model on noise without a word
    from tis_transformer.predictor.tokens import decode
    from conftest import subset

    part = subset(chry, list(range(0, 816, 2)))
    fasta, rows = tmp_path / "t.fa", []
    with open(fasta, "w") as handle:
        for i in range(len(part)):
            tokens, labels = part.transcript(i)
            handle.write(f">{part.ids[i]}\n{decode(tokens)}\n")
            # TISs at least 3 nt from either end, so that every shifted position is in the transcript
            rows += [(part.ids[i], int(p) + 1) for p in np.flatnonzero(labels) if 3 <= p < len(tokens) - 5]
    assert len(rows) >= 20
    for shift, hint in ((0, None), (-1, "moved by +1 nt"), (2, "moved by -2 nt")):
        table = tmp_path / f"tis{shift}.tsv"
        table.write_text("".join(f"{name}\t{position + shift}\n" for name, position in rows))
        out = tmp_path / f"t{shift}.npz"
        status = main(["prepare", str(fasta), str(out), "--tis_table", str(table)])
        err = capsys.readouterr().err
        if hint is None:
            assert status == 0 and out.exists()
        else:
            assert status == 1 and not out.exists() and len(err.strip().splitlines()) == 1
            assert f"of {len(rows)} TISs lie at ATG or a codon one letter from it; {hint}" in err, err
