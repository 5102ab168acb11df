import os
import stat
from pathlib import Path

import numpy as np
import pytest

from tis_transformer.predictor.orfs import TABLE_COLUMNS
from tis_transformer.predictor.read import InputError, load_npy, read_records
from tis_transformer.predictor.tokens import encode
from tis_transformer.predictor.write import OutputError, format_from_path, write_outputs, write_results

SEED_RESULTS = Path(__file__).parent / "data" / "seed_results_example.npy"  # the original tool's results

# 1-based: C1 C2 A3 T4 G5 G6 C7 C8 T9 A10 A11 G12 G13. Site 3 opens ATG GCC
# TAA (ends at 11); site 11 is the near-cognate AGG, one codon before the end, no stop;
# 12 (GG) is scored high too but holds no whole start codon, so it is never a site.
TOKENS = encode("CCATGGCCTAAGG")
PROBS = np.full(TOKENS.size, 0.01, dtype=np.float32)
PROBS[2] = 0.9
PROBS[10] = 0.625
PROBS[11] = 0.7


def results():
    yield "tx1", TOKENS, PROBS
    yield "tx2", encode("ATGTAG"), np.array([0.55, 0, 0, 0, 0, 0], dtype=np.float32)


def read_lines(path):
    return Path(path).read_text().splitlines()


# -------------------------------------------------------------- the formats


@pytest.mark.parametrize(
    "path, expected",
    [
        ("out.npy", "npy"),
        ("out.tsv", "tsv"),
        ("out.TAB", "tsv"),
        ("out.txt", "tsv"),
        ("out.gff", "gff3"),
        ("out.gff3", "gff3"),
        ("dir.x/out.bed", "bed"),
        (None, "tsv"),
    ],
)
def test_format_from_suffix(path, expected):
    assert format_from_path(path, None) == expected


def test_explicit_format_wins():
    assert format_from_path("out.tsv", "bed") == "bed"
    assert format_from_path("out", "GFF") == "gff3"
    assert format_from_path(None, "gff3") == "gff3"


def test_unknown_suffix():
    with pytest.raises(OutputError, match=r"out.csv: cannot tell the output format from the suffix '.csv'"):
        format_from_path("out.csv", None)


def test_unknown_format():
    with pytest.raises(OutputError, match=r"unknown output format 'xml'"):
        format_from_path("out.tsv", "xml")


def test_npy_to_stdout_is_refused():
    with pytest.raises(OutputError, match="npy output needs a file path"):
        format_from_path(None, "npy")


def test_output_error_is_an_input_error():
    assert issubclass(OutputError, InputError)


# ------------------------------------------------------------------- tables


def test_tsv(tmp_path):
    out = tmp_path / "sites.tsv"
    write_results(str(out), None, results())
    assert read_lines(out) == [
        "\t".join(TABLE_COLUMNS),
        "tx1\t3\t0.9\tATG\t11\t9\t2\ttrue\tMA",
        "tx1\t11\t0.625\tAGG\t13\t3\t1\tfalse\tM",
        "tx2\t1\t0.55\tATG\t6\t6\t1\ttrue\tM",
    ]


def test_tsv_top_k(tmp_path):
    out = tmp_path / "sites.tsv"
    write_results(str(out), "tsv", results(), top_k=1)
    assert [line.split("\t")[:2] for line in read_lines(out)[1:]] == [["tx1", "3"], ["tx2", "1"]]


def test_gff3(tmp_path):
    out = tmp_path / "sites.gff3"
    write_results(str(out), None, results(), threshold=0.6)
    assert read_lines(out) == [
        "##gff-version 3",
        "tx1\ttis-transformer\tORF\t3\t11\t0.9\t+\t.\t"
        "ID=tx1:3;start_codon=ATG;stop_found=true;orf_length_aa=2",
        "tx1\ttis-transformer\tORF\t11\t13\t0.625\t+\t.\t"
        "ID=tx1:11;start_codon=AGG;stop_found=false;orf_length_aa=1",
    ]


def test_gff3_escapes_reserved_characters(tmp_path):
    out = tmp_path / "sites.gff3"
    write_results(str(out), None, [("a;b=c,d", TOKENS, PROBS)], top_k=1)
    seqid, *_, attributes = read_lines(out)[1].split("\t")
    assert seqid == "a%3Bb%3Dc%2Cd"
    assert attributes.startswith("ID=a%3Bb%3Dc%2Cd:3;")


def test_bed(tmp_path):
    out = tmp_path / "sites.bed"
    write_results(str(out), None, results())
    assert read_lines(out) == [
        # BED12: thick = the ORF, one block
        "tx1	2	11	tx1:3	900	+	2	11	0	1	9,	0,",
        "tx1	10	13	tx1:11	625	+	10	13	0	1	3,	0,",
        "tx2	0	6	tx2:1	550	+	0	6	0	1	6,	0,",
    ]


def test_no_sites_still_writes_the_header(tmp_path):
    out = tmp_path / "sites.tsv"
    write_results(str(out), None, [("tx", TOKENS, np.zeros(TOKENS.size, np.float32))])
    assert read_lines(out) == ["\t".join(TABLE_COLUMNS)]


def test_stdout(capsys):
    write_results(None, None, [("sequence", TOKENS, PROBS)], top_k=1)
    assert capsys.readouterr().out == "\t".join(TABLE_COLUMNS) + "\nsequence\t3\t0.9\tATG\t11\t9\t2\ttrue\tMA\n"


def test_stdout_in_another_format(capsys):
    write_results(None, "bed", [("sequence", TOKENS, PROBS)], top_k=1)
    assert capsys.readouterr().out == "sequence\t2\t11\tsequence:3\t900\t+\t2\t11\t0\t1\t9,\t0,\n"


# ---------------------------------------------------------------------- npy


def test_npy_layout(tmp_path):
    out = tmp_path / "out.npy"
    write_results(str(out), None, results())
    saved = np.load(out, allow_pickle=True)  # written just above, trusted
    assert saved.shape == (2, 3) and saved.dtype == object
    assert saved[0, 0] == ">tx1"
    assert saved[0, 1].dtype == np.int64 and saved[0, 1].tolist() == TOKENS.tolist()
    assert saved[0, 2].dtype == np.float32 and np.array_equal(saved[0, 2], PROBS)


def test_npy_reads_back_safely(tmp_path):
    out = tmp_path / "out.npy"
    write_results(str(out), "npy", results())
    assert [name for name, _ in read_records(str(out))] == ["tx1", "tx2"]
    assert load_npy(out)[1, 2].dtype == np.float32


def test_npy_empty(tmp_path):
    out = tmp_path / "out.npy"
    write_results(str(out), "npy", iter(()))
    assert np.load(out, allow_pickle=True).shape == (0, 3)


@pytest.mark.skipif(not SEED_RESULTS.exists(), reason="shared reference results absent")
def test_npy_layout_matches_the_original(tmp_path):
    reference = np.load(SEED_RESULTS, allow_pickle=True)  # shared data, trusted
    out = tmp_path / "out.npy"
    write_results(str(out), None, ((row[0][1:], row[1], row[2]) for row in reference))
    saved = np.load(out, allow_pickle=True)
    assert saved.shape == reference.shape and saved.dtype == reference.dtype
    for mine, theirs in zip(saved, reference):
        assert [type(value) for value in mine] == [type(value) for value in theirs]
        assert mine[0] == theirs[0]
        assert mine[1].dtype == theirs[1].dtype and np.array_equal(mine[1], theirs[1])
        assert mine[2].dtype == theirs[2].dtype and np.array_equal(mine[2], theirs[2])


# ------------------------------------------------------------------ atomicity


def failing_results():
    yield "tx1", TOKENS, PROBS
    raise InputError("input.fa: record 'tx2': invalid nucleotide 'X' at position 3")


@pytest.mark.parametrize("name", ["out.tsv", "out.gff3", "out.bed", "out.npy"])
def test_failure_leaves_no_file(tmp_path, name):
    with pytest.raises(InputError, match="record 'tx2'"):
        write_results(str(tmp_path / name), None, failing_results())
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_an_existing_file(tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("old\n")
    with pytest.raises(InputError):
        write_results(str(out), None, failing_results())
    assert out.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [out]


def test_interrupt_leaves_no_file(tmp_path):
    def interrupted():
        yield "tx1", TOKENS, PROBS
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_results(str(tmp_path / "out.bed"), None, interrupted())
    assert list(tmp_path.iterdir()) == []


def test_success_leaves_only_the_output_with_a_normal_mode(tmp_path):
    out = tmp_path / "out.tsv"
    write_results(str(out), None, results())
    assert list(tmp_path.iterdir()) == [out]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_missing_output_directory(tmp_path):
    with pytest.raises(OutputError, match=r"out.tsv: cannot write"):
        write_results(str(tmp_path / "missing" / "out.tsv"), None, results())


def test_output_onto_a_directory(tmp_path):
    target = tmp_path / "taken.tsv"
    target.mkdir()
    with pytest.raises(OutputError, match=r"taken.tsv: is a folder; give a file path"):
        write_results(str(target), None, results())
    assert [path.name for path in tmp_path.iterdir()] == ["taken.tsv"]


def test_table_formats_stream(capsys):
    # Rows of a transcript are out before the next transcript is asked for.
    written_before = []

    def lazy():
        for item in results():
            written_before.append(capsys.readouterr().out)
            yield item

    write_results(None, "tsv", lazy())
    assert written_before[0] == "\t".join(TABLE_COLUMNS) + "\n"
    assert written_before[1].splitlines() == [
        "tx1\t3\t0.9\tATG\t11\t9\t2\ttrue\tMA",
        "tx1\t11\t0.625\tAGG\t13\t3\t1\tfalse\tM",
    ]


def test_an_id_starting_with_a_hash_survives_table_and_bed_readers(tmp_path, caplog):
    # bedtools and pandas(comment="#") dropped the line of a transcript named '#hash'
    import shutil
    import subprocess

    sequence = "GCCACCATGGCTGCTAAAGGCTGGTAAGCC"
    tokens = encode(sequence)
    results = [("#hash", tokens, np.full(len(tokens), 0.2, dtype=np.float32)),
               ("ok", tokens, np.full(len(tokens), 0.2, dtype=np.float32))]
    targets = [(str(tmp_path / "s.tsv"), None), (str(tmp_path / "s.bed"), None), (str(tmp_path / "s.gff3"), None)]
    with caplog.at_level("WARNING", logger="tis_transformer"):
        write_outputs(targets, iter(results), top_k=1)
    assert [r.getMessage() for r in caplog.records].count(
        "ids that start with '#' are written with %23 for it in bed, tsv outputs (#hash as %23hash): their readers "
        "take lines that start with '#' for comments") == 1
    rows = [line for line in (tmp_path / "s.tsv").read_text().splitlines() if not line.startswith("#")]
    assert [row.split("\t")[0] for row in rows[1:]] == ["%23hash", "ok"]
    assert "\n%23hash\t" in (tmp_path / "s.gff3").read_text()  # GFF3 escapes it as its spec says
    bedtools = shutil.which("bedtools")
    if bedtools:
        result = subprocess.run([bedtools, "sort", "-i", str(tmp_path / "s.bed")], check=True, capture_output=True,
                                text=True)
        assert sorted(line.split("\t")[0] for line in result.stdout.splitlines()) == ["%23hash", "ok"]
