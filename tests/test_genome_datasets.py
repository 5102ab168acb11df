"""``prepare --genome G.fa --annotation A OUT_DIR``: per-chromosome training data from a genome and its annotation.

Checked against gffread on the genome fixtures (real chrY transcripts on
both strands, one start codon split by an intron): every transcript's
sequence equals ``gffread -w``'s, and the labelled TIS is where the CDS of
``gffread -x`` begins inside it.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tis_transformer.__main__ import main
from tis_transformer.predictor.tokens import decode
from tis_transformer.training.datasets import load_dataset

from test_genome import ANNOTATIONS, DATA, GENOME, fasta, tool, tool_inputs, truth


def prepare(out: Path, annotation: Path, *options: str, genome: Path = GENOME) -> int:
    return main(["prepare", "--genome", str(genome), "--annotation", str(annotation), str(out), "-q", *options])


def read_folder(out: Path) -> dict[str, tuple[str, list[int]]]:
    """{transcript id: (sequence, 0-based TIS positions)} over every file of a prepared folder."""
    found = {}
    for path in sorted(out.glob("*.npz")):
        data = load_dataset(path)
        for i in range(len(data)):
            tokens, labels = data.transcript(i)
            found[str(data.ids[i])] = (decode(tokens), np.flatnonzero(labels).tolist())
    return found


@pytest.mark.parametrize("kind", ANNOTATIONS)
def test_sequences_and_starts_equal_gffread(tmp_path, kind):
    gffread = tool("gffread")
    genome, annotation = tool_inputs(tmp_path, kind)
    for flag, name in (("-w", "t.fa"), ("-x", "cds.fa")):
        subprocess.run([gffread, flag, str(tmp_path / name), "-g", str(genome), str(annotation)], check=True,
                       capture_output=True)
    transcripts = {k: v.upper() for k, v in fasta(tmp_path / "t.fa").items()}
    cds = {k: v.upper() for k, v in fasta(tmp_path / "cds.fa").items()}
    # the annotation as shipped (RefSeq names its sequences 1 and 2, the genome chr1 and chr2)
    assert prepare(tmp_path / "out", DATA / ANNOTATIONS[kind]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["chr1.npz", "chr2.npz"]
    ours = read_folder(tmp_path / "out")
    assert {k: s for k, (s, _) in ours.items()} == transcripts and len(ours) == 11
    expected = {k: [transcripts[k].index(c)] for k, c in cds.items()}
    assert {k: tis for k, (_, tis) in ours.items() if tis} == expected
    assert len(expected) == (0 if kind == "stringtie" else 8)
    # and as the fixtures were built: 1-based CDS starts on the transcripts, non-coding ones unlabelled
    column = {"ensembl": "transcript_id", "refseq": "refseq_id", "stringtie": "stringtie_id"}[kind]
    if kind != "stringtie":
        assert {row[column]: [int(row["cds_start"]) - 1] if row["cds_start"] else [] for row in truth()} == \
            {k: tis for k, (_, tis) in ours.items()}


def test_both_strands_and_a_split_start_codon_are_atg(tmp_path):
    assert prepare(tmp_path / "out", DATA / "ensembl.gtf") == 0
    ours = read_folder(tmp_path / "out")
    strands = {row["transcript_id"]: row["strand"] for row in truth() if row["cds_start"]}
    assert set(strands.values()) == {"+", "-"}
    for transcript_id in strands:
        sequence, (tis,) = ours[transcript_id]
        assert sequence[tis:tis + 3] == "ATG"


def test_train_reads_the_folder(tmp_path):
    pytest.importorskip("torch")
    from tis_transformer.training.data import TranscriptData

    genome = tmp_path / "genome.fa.gz"
    genome.write_bytes(gzip.compress(GENOME.read_bytes()))
    assert prepare(tmp_path / "data", DATA / "refseq.gff3", genome=genome) == 0
    data = TranscriptData(str(tmp_path / "data"), ["chr2.npz"], [], max_tokens=4096, max_per_batch=8, features=True)
    data.setup()
    assert len(data.sets["train"]) == 6 and len(data.sets["val"]) == 5
    assert data.sets["train"].tis.size + data.sets["val"].tis.size == 8
    assert data.tables.hexamers is not None and np.isfinite(data.tables.hexamers).all()


def test_biotypes_and_an_existing_empty_folder(tmp_path, capsys):
    out = tmp_path / "coding"
    out.mkdir()
    (out / "README").write_text("kept\n")
    assert main(["prepare", "--genome", str(GENOME), "--annotation", str(DATA / "ensembl.gtf"), str(out),
                 "--biotypes", "protein_coding"]) == 0
    assert "8 transcripts, " in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["README", "chr1.npz", "chr2.npz"]
    assert all(tis for _, tis in read_folder(out).values())


def test_errors_are_one_line_and_leave_nothing(tmp_path, capsys):
    extra = tmp_path / "extra.gtf"
    extra.write_text((DATA / "ensembl.gtf").read_text()
                     + 'chrZ\tx\texon\t1\t90\t.\t+\t.\tgene_id "gz"; transcript_id "tz";\n')
    past_end = tmp_path / "past_end.gtf"
    past_end.write_text((DATA / "ensembl.gtf").read_text()
                        + 'chr2\tx\texon\t100\t900000\t.\t+\t.\tgene_id "g"; transcript_id "t";\n')
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    used = tmp_path / "used"
    used.mkdir()
    (used / "old.npz").write_bytes(b"")
    cases = [
        ([str(tmp_path / "nope.fa"), str(DATA / "ensembl.gtf"), "out"], "nope.fa: no such file"),
        ([str(GENOME), str(tmp_path / "nope.gtf"), "out"], "nope.gtf: no such file"),
        ([str(GENOME), str(extra), "out"], "1 transcripts of " + str(extra) + " lie on 1 sequences missing from"),
        ([str(GENOME), str(past_end), "out"], "transcript 't' ends at 900000, past the end of chr2"),
        ([str(GENOME), str(DATA / "ensembl.gtf"), "out", "--biotypes", "snoRNA"], "no transcript of biotype snoRNA"),
        ([str(GENOME), str(DATA / "ensembl.gtf"), str(a_file)], "exists and is not a folder"),
        ([str(GENOME), str(DATA / "ensembl.gtf"), str(used)], "already holds dataset files (old.npz)"),
        ([str(GENOME), str(DATA / "ensembl.gtf"), str(tmp_path / "no" / "out")], "does not exist"),
        ([str(DATA / "ensembl.gtf"), str(DATA / "ensembl.gtf"), "out"], "not a FASTA file"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for (genome, annotation, out, *options), message in cases:
        out = str(tmp_path / out) if out == "out" else out
        status = main(["prepare", "--genome", genome, "--annotation", annotation, out, "-q", *options])
        err = capsys.readouterr().err
        assert status == 1 and message in err and len(err.strip().splitlines()) == 1, err
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output folder, no staging folder
        assert [p.name for p in used.iterdir()] == ["old.npz"]
    for argv, message in [
        (["prepare", "--genome", str(GENOME), str(tmp_path / "x")], "--genome and --annotation go together"),
        (["prepare", "--genome", str(GENOME), "--annotation", str(DATA / "ensembl.gtf")], "takes one OUT_DIR"),
        (["prepare", "--genome", str(GENOME), "--annotation", str(DATA / "ensembl.gtf"), "a", "b"], "takes one OUT_DIR"),
        (["prepare", str(GENOME)], "prepare needs INPUT and OUTPUT.npz"),
    ]:
        assert main(argv) == 1 and message in capsys.readouterr().err


def test_a_cds_open_at_its_5_end_gets_no_label(tmp_path):
    # Ensembl leaves the start_codon feature off a CDS tagged cds_start_NF
    gtf = tmp_path / "start_nf.gtf"
    gtf.write_text("".join(line for line in (DATA / "ensembl.gtf").read_text().splitlines(keepends=True)
                           if not (line.split("\t")[2:3] == ["start_codon"] and '"ENST00000629237"' in line)))
    # RefSeq marks a partial CDS by a range open at its 5' end: end_range on the minus strand
    gff3 = tmp_path / "partial.gff3"
    lines = []
    for line in (DATA / "refseq.gff3").read_text().splitlines(keepends=True):
        fields = line.split("\t")
        if len(fields) == 9 and fields[2] == "CDS" and "Parent=rna-NM_000003.1" in fields[8]:
            line = line.rstrip("\n") + f";partial=true;end_range={fields[4]},.\n"
        lines.append(line)
    gff3.write_text("".join(lines))
    for annotation, transcript_id in ((gtf, "ENST00000629237"), (gff3, "rna-NM_000003.1")):
        out = tmp_path / annotation.stem
        assert prepare(out, annotation) == 0
        labelled = {k for k, (_, tis) in read_folder(out).items() if tis}
        assert len(labelled) == 7 and transcript_id not in labelled
        assert transcript_id in read_folder(out)
    # Ensembl's GFF3 has no cds_start_NF tag: a CDS open at its 5' end shows as a first piece of phase 1 or 2
    pieces = [line.split("\t") for line in (DATA / "refseq.gff3").read_text().splitlines()
              if line.split("\t")[2:3] == ["CDS"] and "Parent=rna-NM_000003.1" in line]
    assert len(pieces) > 1 and pieces[0][6] == "-"
    five_prime = max(pieces, key=lambda f: int(f[4]))
    three_prime = min(pieces, key=lambda f: int(f[4]))
    for name, piece, labelled_after in (("phase5", five_prime, False), ("phase3", three_prime, True)):
        edited = (DATA / "refseq.gff3").read_text().replace(
            "\t".join(piece), "\t".join([*piece[:7], "2", piece[8]]))
        assert edited != (DATA / "refseq.gff3").read_text()
        (tmp_path / f"{name}.gff3").write_text(edited)
        assert prepare(tmp_path / name, tmp_path / f"{name}.gff3") == 0
        assert bool(read_folder(tmp_path / name)["rna-NM_000003.1"][1]) is labelled_after
    # a plus-strand CDS with an end_range is open at its 3' end only: still labelled
    plus = tmp_path / "plus.gff3"
    plus.write_text((DATA / "refseq.gff3").read_text().replace(
        "Parent=rna-NM_000001.1", "Parent=rna-NM_000001.1;end_range=9,."))
    assert prepare(tmp_path / "plus", plus) == 0
    assert read_folder(tmp_path / "plus")["rna-NM_000001.1"][1] == [0]
