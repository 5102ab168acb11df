"""Genome mode: GTF/GFF3 + genome FASTA in, typed ORFs in genome coordinates out.

The fixtures in tests/data/genome (made by make_fixtures.py from real chrY
transcripts) are checked against real tools where they are installed:
``gffread -w`` (transcript sequences), ``bedtools getfasta -split -s`` (ORF
sequences of the BED12) and ``gffread -y`` (proteins of the GTF and GFF3).
"""

from __future__ import annotations

import csv
import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from Bio.Seq import Seq
from Bio.SeqIO.FastaIO import SimpleFastaParser

from tis_transformer.__main__ import main
from tis_transformer.predictor.genome.annotation import read_annotation
from tis_transformer.predictor.genome.sequences import blocks, genome_sequences, genome_to_transcript, pair_names, transcript_to_genome
from tis_transformer.predictor.genome.pipeline import TranscriptCache, build_transcripts
from tis_transformer.predictor.genome.orf_types import GeneCds, classify, reference_cds
from tis_transformer.predictor.read import InputError
from tis_transformer.predictor.tokens import decode

DATA = Path(__file__).parent / "data" / "genome"
GENOME = DATA / "genome.fa"
ANNOTATIONS = {"ensembl": "ensembl.gtf", "refseq": "refseq.gff3", "stringtie": "stringtie.gtf"}
ID_COLUMN = {"ensembl": "transcript_id", "refseq": "refseq_id", "stringtie": "stringtie_id"}


def truth() -> list[dict]:
    with open(DATA / "truth.tsv") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name}); .ci/run installs it")
    return path


def fasta(path) -> dict[str, str]:
    with open(path) as handle:
        return {title.split()[0]: sequence for title, sequence in SimpleFastaParser(handle)}


def tool_inputs(tmp: Path, kind: str) -> tuple[Path, Path]:
    """A copy of the genome (the tools write an index beside it) and the annotation, named as the genome names
    its sequences (gffread does not pair 1 with chr1)."""
    genome = tmp / "genome.fa"
    if not genome.exists():
        shutil.copy(GENOME, genome)
    annotation = tmp / ANNOTATIONS[kind]
    text = (DATA / ANNOTATIONS[kind]).read_text()
    if kind == "refseq":
        text = "\n".join("chr" + line if line[:2] in ("1\t", "2\t") else line for line in text.splitlines()) + "\n"
    annotation.write_text(text)
    return genome, annotation


def spliced(annotation: Path) -> dict[str, str]:
    transcripts, _ = read_annotation(annotation)
    with TranscriptCache() as cache:
        build_transcripts(GENOME, annotation, transcripts, cache)
        return {name: decode(tokens) for name, tokens in cache.records()}


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """One genome-mode run per annotation, every output format: {kind: folder}."""
    runs = {}
    for kind, name in ANNOTATIONS.items():
        out = tmp_path_factory.mktemp(kind)
        args = ["impute", "--genome", str(GENOME), "--annotation", str(DATA / name), "--top_k", "3", "-q"]
        for suffix in ("tsv", "bed", "gtf", "gff3"):
            args += ["-o", str(out / f"orfs.{suffix}")]
        assert main(args) == 0
        runs[kind] = out
    return runs


def table(folder: Path) -> list[dict]:
    return table_from(folder / "orfs.tsv")


# ------------------------------------------------------------ against tools


@pytest.mark.parametrize("kind", ANNOTATIONS)
def test_transcripts_equal_gffread(tmp_path, kind):
    gffread = tool("gffread")
    genome, annotation = tool_inputs(tmp_path, kind)
    subprocess.run([gffread, "-w", str(tmp_path / "t.fa"), "-g", str(genome), str(annotation)], check=True,
                   capture_output=True)
    theirs = {k: v.upper() for k, v in fasta(tmp_path / "t.fa").items()}
    ours = spliced(DATA / ANNOTATIONS[kind])
    assert len(ours) == len(truth()) == 11
    assert ours == theirs


@pytest.mark.parametrize("kind", ANNOTATIONS)
def test_bed12_orfs_translate_to_the_table_protein(tmp_path, predicted, kind):
    bedtools = tool("bedtools")
    genome, _ = tool_inputs(tmp_path, kind)
    result = subprocess.run([bedtools, "getfasta", "-fi", str(genome), "-bed", str(predicted[kind] / "orfs.bed"),
                             "-split", "-s", "-name"], check=True, capture_output=True, text=True)
    (tmp_path / "orfs.fa").write_text(result.stdout)
    sequences = {name.split("::")[0]: s for name, s in fasta(tmp_path / "orfs.fa").items()}
    rows = table(predicted[kind])
    assert len(rows) == 33 and len(sequences) == 33
    for row in rows:
        nucleotides = sequences[f"{row['transcript_id']}_{row['position']}"].upper()
        assert nucleotides[:3] == row["start_codon"]
        protein = str(Seq(nucleotides[: len(nucleotides) // 3 * 3]).translate())
        # a start codon is read as M, a near-cognate one too (CTG, ATA, ...); the tools translate it as a codon
        assert row["protein"][:1] == "M" and protein.rstrip("*")[1:] == row["protein"][1:]
        assert protein.endswith("*") == (row["stop_found"] == "true")


@pytest.mark.parametrize("kind", ANNOTATIONS)
@pytest.mark.parametrize("fmt", ["gtf", "gff3"])
def test_gffread_translates_the_orfs_to_the_table_protein(tmp_path, predicted, kind, fmt):
    gffread = tool("gffread")
    genome, _ = tool_inputs(tmp_path, kind)
    subprocess.run([gffread, "-y", str(tmp_path / "p.fa"), "-g", str(genome), str(predicted[kind] / f"orfs.{fmt}")],
                   check=True, capture_output=True)
    proteins = fasta(tmp_path / "p.fa")
    rows = [row for row in table(predicted[kind]) if row["orf_length_aa"] != "0"]
    assert rows
    for row in rows:
        protein = proteins[f"{row['transcript_id']}_{row['position']}"].rstrip(".*")
        assert row["protein"][:1] == "M" and protein[1:] == row["protein"][1:]  # near-cognate starts read as M


# ------------------------------------------------------------- the table


@pytest.mark.parametrize("kind", ["ensembl", "refseq"])
def test_annotated_cds_is_typed_annotated(predicted, kind):
    rows = table(predicted[kind])
    expected = {t[ID_COLUMN[kind]]: t for t in truth()}
    hits = 0
    for row in rows:
        known = expected[row["transcript_id"]]
        assert row["cds_position"] == known["cds_start"]
        if known["cds_start"] and row["position"] == known["cds_start"]:
            hits += 1
            assert row["orf_type"] == "annotated_CDS"
            assert row["orf_end"] == known["cds_end"]
        if not known["cds_start"]:
            assert row["orf_type"] in ("lncRNA_ORF", "noncoding_isoform_ORF")
    assert hits >= 6  # the model finds most of the 8 annotated starts among its best 3
    biotypes = {row["transcript_id"]: row["orf_type"] for row in rows if row["transcript_biotype"] == "lncRNA"
                or row["transcript_biotype"] == "lnc_RNA"}
    assert set(biotypes.values()) == {"lncRNA_ORF"}


def test_table_columns_on_the_minus_strand(predicted):
    rows = table(predicted["ensembl"])
    minus = [row for row in rows if row["strand"] == "-" and row["stop_found"] == "true"]
    assert minus
    for row in minus:
        # the start codon's first nucleotide is the ORF's highest coordinate on the minus strand
        assert int(row["tis_coordinate"]) > int(row["stop_coordinate"])
    assert {row["gene_name"] for row in rows} >= {"FIXG1", "FIXG2"}
    assert {row["chrom"] for row in rows} == {"chr1", "chr2"}


def test_stringtie_has_no_names_and_lncrna_orfs(predicted):
    rows = table(predicted["stringtie"])
    assert {row["gene_name"] for row in rows} == {""}
    assert {row["orf_type"] for row in rows} == {"lncRNA_ORF"}


def test_the_galaxy_test_data_are_these_fixtures():
    # make_fixtures.py writes both; the Galaxy tests assert on coordinates of these transcripts
    galaxy = DATA.parents[2] / "galaxy" / "test-data"
    assert (galaxy / "genome.fa").read_bytes() == GENOME.read_bytes()
    assert gzip.decompress((galaxy / "genome.fa.gz").read_bytes()) == GENOME.read_bytes()
    assert (galaxy / "genome_annotation.gtf").read_text() == (DATA / "ensembl.gtf").read_text()
    assert (galaxy / "genome_annotation.gff3").read_text() == (DATA / "refseq.gff3").read_text()


def test_an_annotation_without_cds_says_what_orf_type_means_then(tmp_path):
    for name, warned in (("stringtie.gtf", True), ("ensembl.gtf", False)):
        result = subprocess.run([sys.executable, "-m", "tis_transformer", "impute", "--genome", str(GENOME),
                                 "--annotation", str(DATA / name), "--top_k", "1", "-o", str(tmp_path / "o.tsv"),
                                 "-q"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and (f"{name} has no CDS features" in result.stderr) == warned


def test_order_is_genome_then_start(predicted):
    rows = table(predicted["ensembl"])
    keys = [(row["chrom"], min(int(row["tis_coordinate"]), int(row["stop_coordinate"] or row["tis_coordinate"])))
            for row in rows]
    chroms = [chrom for chrom, _ in keys]
    assert chroms == sorted(chroms)
    seen = []
    for row in rows:
        if row["transcript_id"] not in seen:
            seen.append(row["transcript_id"])
    transcripts = {t.transcript_id: t for t in read_annotation(DATA / "ensembl.gtf")[0]}
    starts = [(transcripts[t].chrom, int(transcripts[t].exons[0, 0])) for t in seen]
    assert starts == sorted(starts)


def test_bed12_is_well_formed(predicted):
    for line in (predicted["ensembl"] / "orfs.bed").read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        assert len(f) == 12
        start, end, count = int(f[1]), int(f[2]), int(f[9])
        sizes = [int(x) for x in f[10].rstrip(",").split(",")]
        offsets = [int(x) for x in f[11].rstrip(",").split(",")]
        assert (int(f[6]), int(f[7])) == (start, end) and 0 <= int(f[4]) <= 1000
        assert len(sizes) == len(offsets) == count and offsets[0] == 0
        assert offsets[-1] + sizes[-1] == end - start
        assert f[3].startswith(f[3].rsplit("_", 1)[0]) and f[3].rsplit("_", 1)[1].isdigit()


# ----------------------------------------------------------- pieces


def test_exons_out_of_order_and_gff3_parents():
    ensembl, coding = read_annotation(DATA / "ensembl.gtf")
    refseq, _ = read_annotation(DATA / "refseq.gff3")
    for t in ensembl + refseq:
        assert np.all(np.diff(t.exons[:, 0]) > 0)
    by_id = {t.transcript_id: t for t in refseq}
    first = by_id["rna-NM_000001.1"]
    assert (first.chrom, first.gene_id, first.gene_name, first.biotype) == ("1", "gene-FIXG1", "FIXG1", "mRNA")
    assert by_id["rna-NR_000005.1"].biotype == "lnc_RNA"
    assert coding["ENSGFIX00000001"] and not coding["ENSGFIX00000004"]
    # the CDS spans of both styles agree (GTF: CDS + stop_codon, GFF3: CDS with the stop)
    assert sorted(t.cds for t in ensembl if t.cds) == sorted(t.cds for t in refseq if t.cds)


def test_coordinates_on_the_minus_strand():
    exons = np.array([[10, 19], [30, 39], [50, 59]])
    assert transcript_to_genome(exons, "-", [0, 9, 10, 29]).tolist() == [59, 50, 39, 10]
    assert transcript_to_genome(exons, "+", [0, 9, 10, 29]).tolist() == [10, 19, 30, 59]
    assert genome_to_transcript(exons, "-", 39) == 10 and genome_to_transcript(exons, "-", 25) is None
    assert blocks(exons, "-", 5, 14).tolist() == [[35, 39], [50, 54]]


def test_name_pairing():
    assert pair_names("chr1", {"1", "2"}) == "1"
    assert pair_names("1", {"chr1"}) == "chr1"
    assert pair_names("chrM", {"MT"}) == "MT" and pair_names("MT", {"chrM"}) == "chrM"
    assert pair_names("chrUn_x", {"1"}) is None


@pytest.mark.parametrize("start,end,cds,expected", [
    (100, 400, (100, 400), "annotated_CDS"),
    (40, 400, (100, 400), "N_extension"),
    (160, 400, (100, 400), "N_truncation"),
    (10, 60, (100, 400), "uORF"),
    (11, 150, (100, 400), "uoORF"),
    (500, 600, (100, 400), "dORF"),
    (201, 450, (100, 400), "doORF"),
    (201, 300, (100, 400), "intORF"),
])
def test_orf_types(start, end, cds, expected):
    assert classify(start, end, cds, gene_coding=True) == expected


def test_noncoding_types_and_projection():
    assert classify(5, 50, None, gene_coding=False) == "lncRNA_ORF"
    assert classify(5, 50, None, gene_coding=True) == "noncoding_isoform_ORF"
    transcripts, _ = read_annotation(DATA / "ensembl.gtf")
    genes = GeneCds(transcripts)
    coding = next(t for t in transcripts if t.transcript_id == "ENST00000382296")
    assert reference_cds(coding, genes) == (0, 1955)
    # the isoform that skips exon 2 (332 nt) loses the frame: no CDS of its gene fits
    isoform = next(t for t in transcripts if t.transcript_id == "ENSTFIX00000001")
    assert reference_cds(isoform, genes) is None
    # one that keeps every coding exon gets the gene's CDS
    kept = isoform._replace(exons=coding.exons)
    assert reference_cds(kept, genes) == (0, 1955)


def test_bgzip_like_genome_reads_the_same(tmp_path):
    text = GENOME.read_bytes()
    middle = len(text) // 2
    with open(tmp_path / "genome.fa.gz", "wb") as out:  # two gzip members, as bgzip writes
        out.write(gzip.compress(text[:middle]) + gzip.compress(text[middle:]))
    plain = [(name, bytes(letters)) for name, letters in genome_sequences(GENOME)]
    assert [(name, bytes(letters)) for name, letters in genome_sequences(tmp_path / "genome.fa.gz")] == plain
    assert [name for name, _ in plain] == ["chr1", "chr2"]


# ------------------------------------------------------------------ errors

GOOD_EXON = 'chr1\tx\texon\t100\t200\t.\t+\t.\tgene_id "g"; transcript_id "t";\n'


@pytest.mark.parametrize("text,message", [
    (GOOD_EXON + "chr1\tx\texon\t300\t400\t.\t+\n", "line 2: expected 9 tab-separated columns, found 7"),
    (GOOD_EXON + 'chr1\tx\texon\t150\t250\t.\t+\t.\tgene_id "g"; transcript_id "t";\n', "line 2: exon 150-250"),
    (GOOD_EXON + 'chr1\tx\texon\t300\t400\t.\t-\t.\tgene_id "g"; transcript_id "t";\n', "line 2: transcript 't' is on the - strand here"),
    (GOOD_EXON + 'chr1\tx\texon\t300\tx\t.\t+\t.\tgene_id "g"; transcript_id "t";\n', "line 2: start and end"),
    ("# nothing\n\n", "empty annotation"),
    ('chr1\tx\tgene\t1\t500\t.\t+\t.\tgene_id "g";\n', "no exon features (empty annotation)"),
])
def test_bad_annotation_is_one_line_with_the_line_number(tmp_path, text, message):
    path = tmp_path / "bad.gtf"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        read_annotation(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_cli_errors_leave_no_output(tmp_path, capsys):
    genome_text = GENOME.read_text()
    cases = [
        ("not_fasta.fa", "hello\n" + genome_text, DATA / "ensembl.gtf", "not a FASTA file: line 1"),
        ("renamed.fa", genome_text.replace(">chr", ">scaffold"), DATA / "ensembl.gtf",
         "no annotated sequence is in the genome"),
    ]
    overlapping = tmp_path / "overlap.gtf"
    overlapping.write_text(GOOD_EXON + 'chr1\tx\texon\t200\t300\t.\t+\t.\tgene_id "g"; transcript_id "t";\n')
    cases.append(("genome.fa", genome_text, overlapping, f"{overlapping}: line 2: exon 200-300"))
    past_end = tmp_path / "past_end.gtf"
    past_end.write_text('chr2\tx\texon\t100\t900000\t.\t+\t.\tgene_id "g"; transcript_id "t";\n')
    cases.append(("genome.fa", genome_text, past_end, f"{past_end}: line 1: transcript 't' ends at 900000, past the end"))
    orphan = tmp_path / "orphan.gff3"
    orphan.write_text("##gff-version 3\nchr1\tx\texon\t100\t200\t.\t+\t.\tID=e1\n")
    cases.append(("genome.fa", genome_text, orphan, f"{orphan}: line 2: exon without a Parent attribute"))
    no_gene = tmp_path / "no_gene.gtf"
    no_gene.write_text(GOOD_EXON + 'chr1\tx\texon\t400\t500\t.\t+\t.\ttranscript_id "t2";\n')
    cases.append(("genome.fa", genome_text, no_gene, f"{no_gene}: line 2: transcript 't2' has no gene_id attribute"))
    for name, text, annotation, message in cases:
        genome = tmp_path / name
        genome.write_text(text)
        out = tmp_path / "out.tsv"
        status = main(["impute", "--genome", str(genome), "--annotation", str(annotation), "-o", str(out), "-q"])
        err = capsys.readouterr().err
        assert status == 1 and message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists() and not list(tmp_path.glob(".out.tsv*"))


def test_missing_sequences_are_named_in_one_warning(tmp_path, caplog):
    annotation = tmp_path / "extra.gtf"
    annotation.write_text((DATA / "ensembl.gtf").read_text()
                          + 'chrZ\tx\texon\t1\t90\t.\t+\t.\tgene_id "gz"; transcript_id "tz";\n')
    transcripts, _ = read_annotation(annotation)
    with TranscriptCache() as cache, caplog.at_level("WARNING", logger="tis_transformer"):
        build_transcripts(GENOME, annotation, transcripts, cache)
        assert len(cache.entries) == 11
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["1 transcripts on 1 sequences missing from the genome were skipped: chrZ"]


def test_biotypes_restrict_the_prediction(tmp_path):
    out = tmp_path / "coding.tsv"
    assert main(["impute", "--genome", str(GENOME), "--annotation", str(DATA / "ensembl.gtf"),
                 "--biotypes", "protein_coding", "--top_k", "1", "--alone", "-o", str(out), "-q"]) == 0
    rows = table_from(out)
    assert len(rows) == 8 and {row["transcript_biotype"] for row in rows} == {"protein_coding"}


def test_a_biotype_the_annotation_lacks_is_named_with_those_it_has(tmp_path, capsys, caplog):
    # RefSeq writes lnc_RNA where Ensembl (and our docs' example) write lncRNA
    base = ["impute", "--genome", str(GENOME), "--annotation", str(DATA / "refseq.gff3"), "--top_k", "1", "-q"]
    assert main([*base, "--biotypes", "lncRNA", "-o", str(tmp_path / "a.tsv")]) == 1
    err = capsys.readouterr().err
    assert "no transcript of biotype lncRNA (it has: mRNA 8, lnc_RNA 2, transcript 1)" in err
    with caplog.at_level("WARNING", logger="tis_transformer"):
        assert main([*base, "--biotypes", "lncRNA,lnc_RNA", "-o", str(tmp_path / "b.tsv")]) == 0
    assert "no transcript of biotype lncRNA (it has:" in caplog.text
    assert {row["transcript_biotype"] for row in table_from(tmp_path / "b.tsv")} == {"lnc_RNA"}


def table_from(path: Path) -> list[dict]:
    """The rows of a table output, after its comment lines (tool version, model, mode)."""
    with open(path) as handle:
        return list(csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"))


def test_half_a_genome_mode_or_an_input_beside_it_is_one_line(tmp_path):
    from test_impute import run_cli

    annotation = str(DATA / "ensembl.gtf")
    for args, message in [
        (["--annotation", annotation], "--annotation needs --genome"),
        (["--genome", str(GENOME)], "--genome needs --annotation"),
        ([str(GENOME), "--genome", str(GENOME), "--annotation", annotation],
         f"{GENOME}: genome mode reads its transcripts from --genome and --annotation"),
    ]:
        result = run_cli("impute", *args, "-o", "out.tsv", cwd=tmp_path)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_a_model_file_of_any_name_is_still_a_model_in_genome_mode(tmp_path):
    from tis_transformer.cli.impute_genome import _looks_like_transcripts
    from tis_transformer.predictor.registry import MODELS_DIR

    model = tmp_path / "model.bin"
    model.write_bytes((MODELS_DIR / "human.onnx").read_bytes()[:4096])
    fasta_without_suffix = tmp_path / "human"
    fasta_without_suffix.write_text(">t\nACGT\n")
    assert not _looks_like_transcripts(str(model)) and not _looks_like_transcripts("human_chr13")
    assert _looks_like_transcripts(str(fasta_without_suffix)) and _looks_like_transcripts(str(GENOME))


def test_no_output_replaces_a_file_of_the_model(tmp_path, capsys):
    import shutil
    from tis_transformer.predictor.registry import MODELS_DIR
    for name in ("human.onnx", "human.json", "human.alone.onnx", "human.alone.json"):
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    base = ["impute", "--genome", str(GENOME), "--annotation", str(DATA / "ensembl.gtf"), str(tmp_path / "human.onnx"),
            "--alone", "-q"]
    for output in ("bed:" + str(tmp_path / "human.alone.onnx"), "tsv:" + str(tmp_path / "human.json")):
        assert main([*base, "-o", output]) == 1
        assert "a file of the model; choose another name" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("fmt", ["gtf", "gff3"])
def test_gffread_reads_and_rewrites_every_output(tmp_path, predicted, fmt):
    # gffread 0.12.7 overflowed a buffer on transcript scores of ten characters (0.00527224): column 6 is short now
    gffread = tool("gffread")
    for kind in ANNOTATIONS:
        for options in (["-o", str(tmp_path / "x.gff3")], ["-T", "-o", str(tmp_path / "x.gtf")]):
            result = subprocess.run([gffread, str(predicted[kind] / f"orfs.{fmt}"), *options], capture_output=True)
            assert result.returncode == 0, (kind, options, result.stderr[-300:])


def test_gtf_frames_of_codons_split_by_introns_agree_with_genometools(tmp_path):
    # a start or stop codon split by an intron once had frame 0 in both pieces; GenomeTools turns the GTF's
    # stop_codon pieces into CDS, whose phases must then be those of our GFF3's CDS
    gt = shutil.which("gt")
    if gt is None:
        pytest.skip("GenomeTools is not installed (apt-get install genometools); .ci/run installs it")
    gtf, gff3 = tmp_path / "orfs.gtf", tmp_path / "orfs.gff3"
    assert main(["impute", "--genome", str(GENOME), "--annotation", str(DATA / "ensembl.gtf"), "--top_k", "15", "-q",
                 "-o", str(gtf), "-o", str(gff3)]) == 0
    split = [line for line in gtf.read_text().splitlines() if "\tstart_codon\t" in line or "\tstop_codon\t" in line]
    assert any(line.split("\t")[7] == "2" for line in split)  # the fixture has codons split 1 + 2 by an intron

    def cds(lines, transcript_of):
        rows = {}
        for line in lines:
            fields = line.split("\t")
            if len(fields) == 9 and fields[2] == "CDS":
                rows.setdefault(transcript_of(fields[8]), []).append((int(fields[3]), int(fields[4]), fields[7]))
        return {key: sorted(value) for key, value in rows.items()}

    converted = subprocess.run([gt, "gtf_to_gff3", "-tidy", str(gtf)], check=True, capture_output=True, text=True)
    theirs = cds(converted.stdout.splitlines(), lambda a: re.search(r"transcript_id=([^;]+)", a).group(1))
    ours = cds(gff3.read_text().splitlines(), lambda a: re.search(r"Parent=([^;]+)", a).group(1))
    assert theirs and theirs == ours


def test_a_transcript_id_starting_with_a_hash_is_encoded_in_tables(tmp_path, caplog):
    # genome mode once crashed writing positions for such an id, and its TSV rows started with '#'
    annotation = tmp_path / "hash.gtf"
    annotation.write_text((DATA / "ensembl.gtf").read_text().replace('transcript_id "ENST00000382296"',
                                                                       'transcript_id "#ENST00000382296"'))
    tsv, positions = tmp_path / "o.tsv", tmp_path / "p.txt"
    with caplog.at_level("WARNING", logger="tis_transformer"):
        assert main(["impute", "--genome", str(GENOME), "--annotation", str(annotation), "--top_k", "2", "-q",
                     "-o", str(tsv), "-o", f"positions:{positions}"]) == 0
    assert "(#ENST00000382296 as %23ENST00000382296)" in caplog.text
    rows = [line for line in tsv.read_text().splitlines() if not line.startswith("#")]
    assert sum(line.startswith("%23ENST00000382296\t") for line in rows) == 2
    assert any(line.startswith("%23ENST00000382296\t") for line in positions.read_text().splitlines())
