"""The ``impute`` command end to end with the shipped model."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tis_transformer.__main__ import main
from tis_transformer.predictor.read import load_npy, read_records

from conftest import CHROMOSOMES, EXAMPLE_FASTA, ROOT, SEED_RESULTS, needs_shared

EXAMPLE_IDS = ["ENST00000410304", "ENST00000506552", "ENST00000455694"]


def run_cli(*args, cwd=None):
    """Run the installed command in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "tis_transformer", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_fasta_to_npy_in_the_original_layout(tmp_path):
    out = tmp_path / "example.npy"
    assert main(["impute", str(EXAMPLE_FASTA), "-o", str(out), "-q"]) == 0
    rows = load_npy(out)  # our own safe loader reads it back
    reference = np.load(SEED_RESULTS, allow_pickle=True)
    assert rows.shape == reference.shape == (3, 3)
    for ours, theirs in zip(rows, reference):
        assert ours[0] == theirs[0]
        assert np.array_equal(ours[1], theirs[1])
        assert ours[2].dtype == np.float32 and ours[2].shape == theirs[2].shape
        assert np.all((ours[2] >= 0) & (ours[2] <= 1))


def table_lines(text):
    """The lines of a table output after its comment header."""
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_default_output_is_the_site_table_in_working_directory(tmp_path):
    result = run_cli("impute", str(EXAMPLE_FASTA), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path) == ["example.tsv"]
    text = (tmp_path / "example.tsv").read_text()
    assert text.startswith("# tis-transformer: ") and "# model: human\n" in text
    assert "# mode: isoform comparison across the input\n" in text
    assert table_lines(text)[0].startswith("transcript_id\tposition\t")
    assert "on CPU" in result.stderr
    # the closing line counts the sites, and says what to do when there are none
    assert "sites reported in" in result.stderr.splitlines()[-2]
    assert "--top_k 1 reports each transcript's best start" in result.stderr.splitlines()[-1]


def test_default_multiqc_output_is_named_for_multiqc(tmp_path):
    from tis_transformer.cli.impute import default_output

    assert default_output("reads/sample.fa.gz", "multiqc") == "sample_mqc.tsv"
    assert default_output("sample.fasta", "positions") == "sample.positions.tsv"
    assert default_output("sample.fa", None) == "sample.tsv"


def test_default_output_never_replaces_the_input(tmp_path):
    # data loss: `impute mydata.npy` once wrote its results over its own labelled input
    source = tmp_path / "mydata.npy"
    rows = np.empty((1, 2), dtype=object)
    rows[0, 0], rows[0, 1] = np.array([[0, 1], [1, 0], [3, 0], [0, 0]] * 10, dtype=np.int16), "tx"
    np.save(source, rows, allow_pickle=True)
    before = source.read_bytes()
    result = run_cli("impute", str(source), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert source.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["mydata.npy", "mydata.tsv"]
    for output in ("mydata.npy", "npy:mydata.npy", f"tsv:{source}"):
        result = run_cli("impute", "mydata.npy", "-o", output, cwd=tmp_path)
        assert result.returncode == 1 and "would overwrite the input" in result.stderr
        assert source.read_bytes() == before


@pytest.mark.parametrize("suffix,first", [(".tsv", "# tis-transformer: "), (".gff3", "##gff-version 3"),
                                          (".bed", "# tis-transformer: ")])
def test_table_formats_by_suffix(tmp_path, suffix, first):
    out = tmp_path / f"sites{suffix}"
    assert main(["impute", str(EXAMPLE_FASTA), "-o", str(out), "--top_k", "2", "-q"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith(first) and any(line.startswith("#") and "model" in line for line in lines)
    body = [line for line in lines if not line.startswith(("#", "transcript_id"))]
    assert len(body) == 6  # two per transcript
    assert {line.split("\t")[0] for line in body} == set(EXAMPLE_IDS)


def test_sequence_prints_table_to_stdout(capsys):
    assert main(["impute", "gggccaccAUGGCGUCUUAAgg", "--top_k", "1"]) == 0
    lines = table_lines(capsys.readouterr().out)
    assert lines[0].split("\t")[:3] == ["transcript_id", "position", "probability"]
    assert len(lines) == 2 and lines[1].startswith("sequence\t")


def test_threshold_selects_sites(tmp_path):
    out = tmp_path / "all.tsv"
    assert main(["impute", str(EXAMPLE_FASTA), "-o", str(out), "--threshold", "0", "-q"]) == 0
    from tis_transformer.predictor.orfs import start_codon_positions

    starts = sum(int(start_codon_positions(t).sum()) for _, t in read_records(str(EXAMPLE_FASTA)))
    assert len(table_lines(out.read_text())) == 1 + starts  # every start codon, nothing else


def test_npy_input_of_the_original_format(tmp_path):
    needs_shared(CHROMOSOMES / "chrY.npy.gz")
    import gzip

    with gzip.open(CHROMOSOMES / "chrY.npy.gz", "rb") as handle:
        rows = np.load(handle, allow_pickle=True)[:5]
    source = tmp_path / "five.npy"
    np.save(source, rows, allow_pickle=True)
    out = tmp_path / "five_out.npy"
    assert main(["impute", str(source), "-o", str(out), "-q"]) == 0
    results = load_npy(out)
    assert [r[0] for r in results] == [">" + str(r[1]) for r in rows]
    assert all(len(r[2]) == len(x[0]) for r, x in zip(results, rows))


def test_long_transcript_is_predicted(tmp_path):
    needs_shared(CHROMOSOMES / "chr22.npy.gz")
    from tis_transformer.training.datasets import read_original
    from tis_transformer.predictor.tokens import decode

    data = read_original(CHROMOSOMES / "chr22.npy.gz")
    longest = int(np.argmax(data.lengths))
    fasta = tmp_path / "long.fa"
    fasta.write_text(f">{data.ids[longest]}\n{decode(data.transcript(longest)[0])}\n")
    out = tmp_path / "long.npy"
    assert main(["impute", str(fasta), "-o", str(out), "-q"]) == 0
    (row,) = load_npy(out)
    assert len(row[2]) == 49_287 > 30_000
    assert np.isfinite(row[2]).all()


@pytest.mark.parametrize("content,message", [
    ("", "no records"),
    ("just some text\n", "not a FASTA file"),
    (">a\nACGT\n>a\nACGT\n", "duplicate id"),
    (">a\n\n>b\nACGT\n", "empty sequence"),
    (">a\nACGTJ\n", "invalid nucleotide 'J' at position 5"),
])
def test_bad_input_one_line_error_and_no_output(tmp_path, content, message):
    source = tmp_path / "in.fa"
    source.write_text(content)
    out = tmp_path / "out.tsv"
    result = run_cli("impute", str(source), "-o", str(out))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("tis-transformer: error: ")
    assert not out.exists() and os.listdir(tmp_path) == ["in.fa"]


def test_missing_and_corrupt_model(tmp_path):
    result = run_cli("impute", "ACGTACGT", str(tmp_path / "nope.onnx"))
    assert result.returncode != 0 and "no such model" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    result = run_cli("impute", "ACGTACGT", str(bad))
    assert result.returncode != 0 and "not a usable ONNX model" in result.stderr
    assert "Traceback" not in result.stderr


def test_cuda_request_without_gpu_is_a_clear_error():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("a CUDA provider is present")
    result = run_cli("impute", "ACGTACGT", "--device", "cuda")
    assert result.returncode != 0 and "onnxruntime-gpu" in result.stderr


HEAVY = ("torch", "lightning", "performer_pytorch", "lightgbm", "onnx", "onnxscript")


def test_prediction_never_imports_the_training_stack(tmp_path):
    """A whole impute (transcript and genome mode, every output, the report) and the Python API, in one process,
    load none of the training extra's packages, whether or not they are installed."""
    genome = ROOT / "tests" / "data" / "genome"
    code = (
        "import sys\n"
        "from tis_transformer.__main__ import main\n"
        "from tis_transformer import predict\n"
        f"assert main(['impute', {str(EXAMPLE_FASTA)!r}, '-o', {str(tmp_path / 'x.tsv')!r}, '-o', "
        f"{str(tmp_path / 'x.bed')!r}, '-o', {str(tmp_path / 'x.npy')!r}, '--report', {str(tmp_path / 'r.html')!r}, "
        "'-q']) == 0\n"
        f"assert main(['impute', '--genome', {str(genome / 'genome.fa')!r}, '--annotation', "
        f"{str(genome / 'ensembl.gtf')!r}, '-o', {str(tmp_path / 'g.gtf')!r}, '--top_k', '1', '-q']) == 0\n"
        "assert main(['models']) == 0\n"
        "assert predict('GCCACCATGGCGTCTTAA', top_k=1)[0].sites\n"
        f"leaked = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_version_and_models_commands():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("tis-transformer ")
    result = run_cli("models")
    assert result.returncode == 0 and "human (default)" in result.stdout and "sha256" in result.stdout


def test_records_are_read_lazily_from_fasta():
    assert [name for name, _ in read_records(str(EXAMPLE_FASTA))] == EXAMPLE_IDS


def test_several_outputs_from_one_run(tmp_path):
    args = ["impute", str(EXAMPLE_FASTA), "--top_k", "1", "-q", "-o", str(tmp_path / "s.tsv"),
            "-o", f"gff3:{tmp_path / 's.gff'}", "-o", f"positions:{tmp_path / 'p.txt'}",
            "-o", str(tmp_path / "r.npy")]
    assert main(args) == 0
    assert len(table_lines((tmp_path / "s.tsv").read_text())) == 4
    assert (tmp_path / "s.gff").read_text().startswith("##gff-version 3\n#!tis-transformer ")
    positions = table_lines((tmp_path / "p.txt").read_text())
    assert positions[0] == "transcript_id\tposition\tnucleotide\tprobability"
    assert len(positions) == 1 + 99 + 414 + 989
    assert positions[1].split("\t")[:3] == ["ENST00000410304", "1", "G"]
    rows = load_npy(tmp_path / "r.npy")
    # the per-nucleotide table and the npy hold the same probabilities
    first = np.array([float(line.split("\t")[3]) for line in positions[1:100]])
    assert np.allclose(first, rows[0][2], rtol=1e-5, atol=1e-12)


def test_failed_run_writes_none_of_several_outputs(tmp_path):
    source = tmp_path / "in.fa"
    source.write_text(">a\nACGT\n>b\nACGTZ\n")
    result = run_cli("impute", str(source), "-o", str(tmp_path / "a.tsv"), "-o", str(tmp_path / "b.npy"))
    assert result.returncode != 0 and "invalid nucleotide 'Z'" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.fa"]


def _chry_isoform_pair():
    """Two chrY transcripts sharing the annotated start of the first, whose ORF there reads on longer."""
    from tis_transformer.predictor.isoforms import start_orfs
    from tis_transformer.training.datasets import read_original

    needs_shared(CHROMOSOMES / "chrY.npy.gz")
    data = read_original(CHROMOSOMES / "chrY.npy.gz")
    tokens = [data.transcript(i)[0] for i in range(len(data))]
    starts = {}
    for i, t in enumerate(tokens):
        for position, key, codons in zip(*start_orfs(t)):
            starts.setdefault(int(key), []).append((i, int(position), int(codons)))
    for i, t in enumerate(tokens):
        labels = data.transcript(i)[1]
        if not labels.any() or len(t) > 3000:
            continue
        tis = int(np.flatnonzero(labels)[0])
        positions, keys, codons = start_orfs(t)
        at = np.flatnonzero(positions == tis)
        if not len(at):
            continue
        siblings = [s for s in starts[int(keys[at[0]])]
                    if s[0] != i and s[2] < codons[at[0]] and len(tokens[s[0]]) < 3000]
        if siblings:
            return data.ids[i], t, data.ids[siblings[0][0]], tokens[siblings[0][0]], tis
    pytest.skip("no isoform pair on chrY")


def _write_fasta(path, records):
    from tis_transformer.predictor.tokens import decode

    path.write_text("".join(f">{name}\n{decode(t)}\n" for name, t in records))
    return path


def test_isoforms_in_the_input_inform_scores_unless_alone(tmp_path):
    coding_id, coding, sibling_id, sibling, tis = _chry_isoform_pair()
    unrelated = ("unrelated", np.tile(np.array([2, 3, 0, 1, 2], dtype=np.uint8), 60))  # CGATC repeats: no ATG
    pair = _write_fasta(tmp_path / "pair.fa", [(coding_id, coding), (sibling_id, sibling)])
    alone = _write_fasta(tmp_path / "alone.fa", [(coding_id, coding), unrelated])

    def scores(fasta, *options):
        out = tmp_path / f"{fasta.stem}{''.join(options)}.npy"
        assert main(["impute", str(fasta), "-o", str(out), "-q", *options]) == 0
        return {row[0][1:]: row[2] for row in load_npy(out)}

    with_sibling, without = scores(pair), scores(alone)
    # the sibling shares the annotated start: the coding transcript's score there moves, and only at ATGs
    moved = np.abs(with_sibling[coding_id] - without[coding_id])
    atg = np.zeros(len(coding), dtype=bool)
    atg[np.flatnonzero((coding[:-2] == 0) & (coding[1:-1] == 1) & (coding[2:] == 3))] = True
    assert moved[tis] > 1e-4 and not moved[~atg].any()
    # --alone: a transcript's scores do not depend on the rest of the input
    np.testing.assert_array_equal(scores(pair, "--alone")[coding_id], scores(alone, "--alone")[coding_id])
    assert np.abs(scores(pair, "--alone")[coding_id] - with_sibling[coding_id]).max() > 1e-4


def test_isoform_index_spans_the_whole_input_not_one_chunk():
    from tis_transformer.predictor.runner import Predictor

    coding_id, coding, sibling_id, sibling, _ = _chry_isoform_pair()
    predictor = Predictor(device="cpu", threads=1)
    assert predictor.reads_isoforms
    records = [(coding_id, coding), ("other", sibling[::-1].copy()), (sibling_id, sibling)]
    isoforms = predictor.isoform_index([t for _, t in records])
    with pytest.raises(TypeError, match="reads its input twice"):
        predictor.isoform_index(t for _, t in records)
    whole = list(predictor.predict_records(records, isoforms))
    chunked = list(predictor.predict_records(records, isoforms, chunk_nt=1))  # one record per chunk
    for (name, _, p), (name2, _, q) in zip(whole, chunked):
        assert name == name2
        np.testing.assert_allclose(p, q, atol=1e-6)


# ----------------------------------------------- what a new user ran into (issue 21)


def test_long_sequence_on_the_command_line():
    sequence = "GCCACC" + "ATGGCC" * 60 + "TAA"  # longer than a file name may be
    result = run_cli("impute", sequence, "--top_k", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert table_lines(result.stdout)[1].startswith("sequence\t")


def test_missing_file_named_with_iupac_letters(tmp_path):
    result = run_cli("impute", "BRCA", cwd=tmp_path)
    assert result.returncode == 1 and "'BRCA': no such file" in result.stderr
    assert "Traceback" not in result.stderr and os.listdir(tmp_path) == []


@pytest.mark.parametrize("signal_name,code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_termination_leaves_no_file(tmp_path, signal_name, code):
    import signal
    import time

    rng = np.random.default_rng(0)
    source = tmp_path / "long.fa"
    source.write_text(">long\n" + "".join(rng.choice(list("ACGT"), 1_200_000)) + "\n")
    process = subprocess.Popen([sys.executable, "-m", "tis_transformer", "impute", str(source), "-o",
                                str(tmp_path / "out.tsv"), "-o", str(tmp_path / "out.npy")],
                               stderr=subprocess.PIPE, text=True,
                               # a shell starts background jobs with SIGINT ignored, which children inherit
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # signal once the temporary outputs exist, i.e. mid-run (1.2 Mb keeps it running for seconds under load)
    deadline = time.monotonic() + 60
    while not any(name.endswith(".tmp") for name in os.listdir(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert os.listdir(tmp_path) == ["long.fa"]
    assert "Traceback" not in stderr


def test_output_through_a_symbolic_link_and_never_onto_a_read_only_file(tmp_path):
    (tmp_path / "link.tsv").symlink_to("real.tsv")
    assert main(["impute", str(EXAMPLE_FASTA), "-o", str(tmp_path / "link.tsv"), "--top_k", "1", "-q"]) == 0
    assert (tmp_path / "link.tsv").is_symlink() and len(table_lines((tmp_path / "real.tsv").read_text())) == 4
    locked = tmp_path / "locked.tsv"
    locked.write_text("keep me\n")
    locked.chmod(0o444)
    result = run_cli("impute", str(EXAMPLE_FASTA), "-o", str(locked))
    assert result.returncode == 1 and "read-only" in result.stderr  # refused even for root
    assert locked.read_text() == "keep me\n"


def test_standard_output_and_devices_are_written_not_replaced(tmp_path):
    for output in ("tsv:-", "tsv:/dev/stdout", "-"):
        result = run_cli("impute", str(EXAMPLE_FASTA), "-o", output, "--top_k", "1", "-q")
        assert result.returncode == 0, result.stderr
        assert len(table_lines(result.stdout)) == 4
    assert os.path.islink("/dev/stdout") or not os.path.isfile("/dev/stdout")


def test_standard_input():
    result = subprocess.run([sys.executable, "-m", "tis_transformer", "impute", "-", "--top_k", "1", "-q"],
                            input=EXAMPLE_FASTA.read_text(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "# input: standard input" in result.stdout
    assert [line.split("\t")[0] for line in table_lines(result.stdout)[1:]] == EXAMPLE_IDS


@pytest.mark.parametrize("output,message", [
    ("xlsx:out.tsv", "unknown output format 'xlsx'"),
    ("out.csv", "cannot tell the output format"),
    ("npy:-", "npy output needs a file"),
    ("out.gtf", "GTF output needs genome coordinates"),
    ("gtf:out.txt", "GTF output needs genome coordinates"),
    (".", ".: is a folder; give a file path"),
])
def test_unknown_output_format_is_refused(tmp_path, output, message):
    result = run_cli("impute", str(EXAMPLE_FASTA), "-o", output, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr and os.listdir(tmp_path) == []


@pytest.mark.parametrize("options,message", [
    (["--plot", "ENST00000410304"], "--plot draws transcripts in the report: give --report HTML too"),
    (["--biotypes", "protein_coding"], "--biotypes needs genome mode"),
])
def test_options_that_would_do_nothing_are_refused(tmp_path, options, message):
    result = run_cli("impute", str(EXAMPLE_FASTA), *options, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr and os.listdir(tmp_path) == []


def test_format_prefix_alias(tmp_path):
    assert main(["impute", str(EXAMPLE_FASTA), "-o", f"gff:{tmp_path / 'out.txt'}", "-q"]) == 0
    assert os.listdir(tmp_path) == ["out.txt"]
    assert (tmp_path / "out.txt").read_text().startswith("##gff-version 3\n")


@pytest.mark.parametrize("option,value", [("--threads", "-4"), ("--max_tokens", "0"), ("--max_tokens", "-5"),
                                          ("--top_k", "0"), ("--threshold", "1.5"), ("--threads", "two")])
def test_bad_options_are_refused_by_name(tmp_path, option, value):
    result = run_cli("impute", str(EXAMPLE_FASTA), option, value, cwd=tmp_path)
    assert result.returncode == 2 and f"argument {option}" in result.stderr
    assert "Traceback" not in result.stderr and os.listdir(tmp_path) == []
    # one line, with the prefix every other error has
    assert result.stderr.startswith("tis-transformer: error: argument ") and len(result.stderr.splitlines()) == 1
    assert result.stderr.rstrip().endswith("(see 'tis-transformer impute --help')")


def test_help_gives_examples_and_how_to_read_scores():
    result = run_cli("impute", "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "reading the scores:" in result.stdout


def test_damaged_npy_inputs_are_one_line_errors(tmp_path):
    damaged = tmp_path / "damaged.npy"
    damaged.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (3,"
                        + b" " * 40 + b"\n")
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros(0, dtype=np.int64))
    for path, message in ((damaged, "not a valid .npy file"), (empty, "empty sequence")):
        result = run_cli("impute", str(path), "-o", str(tmp_path / "out.tsv"))
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "out.tsv").exists()


def test_programming_errors_keep_their_traceback(monkeypatch):
    import tis_transformer.cli.impute as impute

    def broken(args):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(impute, "run", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["impute", "ACGT"])


# ------------------------------------------------------ found by review (issue 21 follow-up)


def test_the_report_never_replaces_an_input_the_model_or_an_output(tmp_path):
    source = tmp_path / "in.fa"
    source.write_text(EXAMPLE_FASTA.read_text())
    model = tmp_path / "mine.onnx"
    model.write_bytes((ROOT / "tis_transformer" / "models" / "human.onnx").read_bytes())
    for args, message in ((["-o", "-", "--report", str(source)], "would overwrite the input"),
                          # refused before the model opens: it is no HTML report
                          ([str(model), "-o", "-", "--report", str(model)], "not an HTML report"),
                          (["--report", "in.tsv"], "named both as an output and as the report")):
        result = run_cli("impute", str(source), *args, cwd=tmp_path)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
    assert source.read_text() == EXAMPLE_FASTA.read_text() and sorted(os.listdir(tmp_path)) == ["in.fa", "mine.onnx"]


def test_genome_mode_never_replaces_the_model_nor_writes_one_output_twice(tmp_path):
    genome = ROOT / "tests" / "data" / "genome"
    model = tmp_path / "mine.onnx"
    model.write_bytes((ROOT / "tis_transformer" / "models" / "human.onnx").read_bytes())
    base = ["impute", "--genome", str(genome / "genome.fa"), "--annotation", str(genome / "ensembl.gtf"), "--top_k", "1"]
    result = run_cli(*base, str(model), "-o", f"tsv:{model}")
    assert result.returncode == 1 and "would replace mine.onnx, a file of the model" in result.stderr
    (tmp_path / "link.tsv").symlink_to("real.tsv")
    for outputs in (["-o", "-", "-o", "-"], ["-o", str(tmp_path / "real.tsv"), "-o", f"bed:{tmp_path / 'link.tsv'}"]):
        result = run_cli(*base, *outputs)
        assert result.returncode == 1 and "named twice" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["link.tsv", "mine.onnx"]


def test_dev_stdout_is_standard_output_so_a_redirected_file_keeps_its_content(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n")
    with open(log, "a") as handle:
        result = subprocess.run([sys.executable, "-m", "tis_transformer", "impute", str(EXAMPLE_FASTA), "--top_k", "1",
                                 "-o", "tsv:/dev/stdout", "-q"], stdout=handle, stderr=subprocess.PIPE, text=True)
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier line" and len(table_lines(log.read_text())) == 1 + 4  # the earlier line, the table


def test_errors_on_standard_input_say_so():
    result = subprocess.run([sys.executable, "-m", "tis_transformer", "impute", "-"], input=">a\nACGZ\n",
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "error: standard input: record 'a': invalid nucleotide 'Z' at position 4" in result.stderr


def test_a_closed_pipe_stops_quietly():
    process = subprocess.Popen([sys.executable, "-m", "tis_transformer", "impute", str(EXAMPLE_FASTA), "-o",
                                "positions:-", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141 and b"Traceback" not in stderr and b"error" not in stderr


def test_messages_go_to_the_stderr_of_each_call(tmp_path, monkeypatch):
    # a caller that swaps sys.stderr between calls (pytest's capture, a notebook) must not get a closed stream
    import io
    import logging
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    assert main(["impute", str(EXAMPLE_FASTA), "-o", str(tmp_path / "a.npy")]) == 0
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    raised = []
    monkeypatch.setattr(logging, "raiseExceptions", True)
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: raised.append(record))
    assert main(["impute", str(EXAMPLE_FASTA), "-o", str(tmp_path / "b.npy")]) == 0
    assert not raised
    assert "transcripts" in second.getvalue() and "b.npy" in second.getvalue()


def test_no_output_replaces_a_file_of_the_model(tmp_path, capsys):
    # a copy of the shipped pair: the alone variant and both cards are read with the model on the next run
    import shutil
    from tis_transformer.predictor.registry import MODELS_DIR
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("human.onnx", "human.json", "human.alone.onnx", "human.alone.json"):
        shutil.copy(MODELS_DIR / name, folder / name)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    model, alone = str(folder / "human.onnx"), str(folder / "human.alone.onnx")
    for used, output in ((model, "npy:" + alone), (model, "tsv:" + str(folder / "human.json")),
                         (model, "tsv:" + str(folder / "human.alone.json")), (alone, "tsv:" + str(folder / "human.json"))):
        assert main(["impute", str(EXAMPLE_FASTA), used, "--alone", "-q", "-o", output]) == 1
        assert "a file of the model; choose another name" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert main(["impute", str(EXAMPLE_FASTA), "-q", "-o", str(MODELS_DIR / "out.tsv")]) == 1
    assert "cannot write into the folder of the shipped models" in capsys.readouterr().err
    assert not (MODELS_DIR / "out.tsv").exists()
