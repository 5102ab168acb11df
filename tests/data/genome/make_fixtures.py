"""Build the genome-mode fixtures from real human transcripts (chrY of ../shared/data).

    python tests/data/genome/make_fixtures.py        (from the repository root)

Real transcripts (Ensembl 102, with their annotated TIS) are cut into exons
at random points and laid out on a small synthetic genome with random
introns (GT...AG) and soft-masked intergenic sequence, on both strands. The
CDS of a coding transcript runs from its real TIS to the first in-frame stop
codon. Written, deterministically (seed 17):

- ``genome.fa``: sequences chr1 and chr2, 60 letters a line;
- ``ensembl.gtf``: gene/transcript/exon/CDS/start_codon/stop_codon/UTR lines
  (CDS without the stop codon), a non-coding isoform of a coding gene, two
  lncRNA genes, exons of some transcripts listed out of order;
- ``refseq.gff3``: the same models RefSeq-style (gene -> mRNA/transcript/
  lnc_RNA -> exon/CDS with ID/Parent, CDS with the stop codon), on sequences
  named ``1`` and ``2`` (the genome says chr1, chr2);
- ``stringtie.gtf``: the same exons StringTie-style (transcript and exon
  lines only, no CDS, no gene names);
- ``truth.tsv``: each transcript's 1-based CDS start and end on the
  transcript (empty for non-coding ones);
- ``../../../galaxy/test-data/genome.fa``, ``genome.fa.gz``,
  ``genome_annotation.gtf`` and ``genome_annotation.gff3``: the genome (also
  gzipped) and the Ensembl-style GTF and RefSeq-style GFF3 for the Galaxy tests.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from tis_transformer.predictor.orfs import find_orf  # noqa: E402
from tis_transformer.training.datasets import read_original  # noqa: E402
from tis_transformer.predictor.tokens import decode  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "GRCh38p13" / "chrY.npy.gz"
COMPLEMENT = str.maketrans("ACGTacgtNn", "TGCAtgcaNn")

# (chromosome, strand, exons or None for one, coding, exons listed out of order, cut inside the start/stop codon)
LAYOUT = [
    ("chr1", "+", 4, True, False, None),
    ("chr1", "-", 5, True, True, None),
    ("chr1", "+", 1, True, False, None),
    ("chr1", "-", 3, False, False, None),
    ("chr1", "+", 3, True, True, "start"),
    ("chr2", "-", 1, True, False, None),
    ("chr2", "+", 4, True, True, None),
    ("chr2", "-", 4, True, False, "stop"),
    ("chr2", "+", 1, False, False, None),
    ("chr2", "-", 3, True, False, "start"),
]


def revcomp(text: str) -> str:
    return text.translate(COMPLEMENT)[::-1]


def pick(rng, data):
    coding, noncoding = [], []
    for i in range(len(data)):
        tokens, labels = data.transcript(i)
        if labels.sum() == 1 and 600 < len(tokens) < 2200:
            tis = int(np.flatnonzero(labels)[0])
            orf = find_orf(tokens, tis)
            if orf.stop_found and orf.orf_length_aa > 60:
                coding.append((str(data.ids[i]), decode(tokens), tis, tis + orf.orf_length_nt - 1))
        elif labels.sum() == 0 and 400 < len(tokens) < 1400:
            noncoding.append((str(data.ids[i]), decode(tokens), None, None))
    rng.shuffle(coding)
    rng.shuffle(noncoding)
    return coding, noncoding


def cuts(rng, length, count, must=None):
    """Exon boundaries on the transcript: count exons of at least 40 nt."""
    while True:
        points = sorted(rng.choice(np.arange(40, length - 40), size=count - 1, replace=False).tolist())
        if must is not None:
            points = sorted(set(points[1:]) | {must})
        edges = [0] + points + [length]
        if len(edges) == count + 1 and min(b - a for a, b in zip(edges, edges[1:])) >= 40:
            return list(zip(edges, edges[1:]))


def random_dna(rng, n, lower=False):
    text = "".join(rng.choice(list("ACGT"), size=n))
    return text.lower() if lower else text


def build(rng):
    coding, noncoding = pick(rng, read_original(SOURCE))
    genome = {"chr1": [], "chr2": []}
    models = []
    for index, (chrom, strand, n_exons, is_coding, shuffled, split) in enumerate(LAYOUT):
        tid, seq, tis, stop = coding.pop() if is_coding else noncoding.pop()
        must = None
        if split == "start":
            must = tis + 1 if tis + 1 >= 40 else None
        elif split == "stop":
            must = stop - 1 if stop - 1 <= len(seq) - 40 else None
        pieces = cuts(rng, len(seq), n_exons, must) if n_exons > 1 else [(0, len(seq))]
        parts = genome[chrom]
        offset = sum(len(p) for p in parts)
        intergenic = random_dna(rng, int(rng.integers(300, 800)), lower=True)
        if index % 4 == 1:
            intergenic = intergenic[:100] + "N" * 50 + intergenic[150:]
        parts.append(intergenic)
        offset += len(intergenic)
        # lay the exons out 5' to 3' on the strand, then flip to genome order
        stranded = []
        for k, (a, b) in enumerate(pieces):
            stranded.append(seq[a:b])
            if k < len(pieces) - 1:
                stranded.append("GT" + random_dna(rng, int(rng.integers(80, 400))) + "AG")
        text = "".join(stranded)
        exons_t = []
        position = 0
        for k, piece in enumerate(stranded):
            if k % 2 == 0:
                exons_t.append((position, position + len(piece) - 1))
            position += len(piece)
        if strand == "-":
            text = revcomp(text)
            exons = [(offset + len(text) - 1 - b + 1, offset + len(text) - 1 - a + 1) for a, b in exons_t]
        else:
            exons = [(offset + a + 1, offset + b + 1) for a, b in exons_t]
        parts.append(text)
        exons = sorted(exons)
        gene = f"ENSGFIX{index + 1:08d}"
        model = dict(tid=tid, chrom=chrom, strand=strand, exons=exons, gene=gene, name=f"FIXG{index + 1}",
                     coding=is_coding, tis=tis, stop=stop, shuffled=shuffled, length=len(seq),
                     biotype="protein_coding" if is_coding else "lncRNA")
        models.append(model)
        if index == 0:  # a non-coding isoform of the first gene: its second exon skipped
            models.append(dict(model, tid="ENSTFIX00000001", exons=[e for k, e in enumerate(exons) if k != 1],
                               coding=False, tis=None, stop=None, shuffled=False,
                               length=sum(b - a + 1 for k, (a, b) in enumerate(exons) if k != 1),
                               biotype="processed_transcript"))
    for chrom in genome:
        genome[chrom].append(random_dna(rng, 500, lower=True))
    return {c: "".join(p) for c, p in genome.items()}, models


def to_genome(model, first, last):
    """Genome intervals (ascending) of transcript positions first..last (0-based inclusive)."""
    exons = model["exons"] if model["strand"] == "+" else model["exons"][::-1]
    out, position = [], 0
    for a, b in exons:
        size = b - a + 1
        lo, hi = max(first, position), min(last, position + size - 1)
        if lo <= hi:
            if model["strand"] == "+":
                out.append((a + lo - position, a + hi - position))
            else:
                out.append((b - (hi - position), b - (lo - position)))
        position += size
    return sorted(out)


def phased(model, intervals):
    """(start, end, phase) in transcript order."""
    ordered = intervals if model["strand"] == "+" else intervals[::-1]
    rows, done = [], 0
    for a, b in ordered:
        rows.append((a, b, (-done) % 3))
        done += b - a + 1
    return rows


def write_fasta(path, genome):
    with open(path, "w") as out:
        for name, text in genome.items():
            out.write(f">{name} synthetic, made of real chrY transcripts\n")
            out.write("".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60)))


def gtf_ensembl(models):
    lines = ["#!genome-build GRCh38.p13 (synthetic fixture)", "#!genebuild-last-updated 2020-09"]
    done_genes = set()
    for m in models:
        g = f'gene_id "{m["gene"]}"; gene_version "1"; '
        t = g + f'transcript_id "{m["tid"]}"; transcript_version "1"; '
        named = f'gene_name "{m["name"]}"; gene_source "ensembl"; gene_biotype "{models_gene_biotype(models, m)}"; '
        tb = f'transcript_biotype "{m["biotype"]}";'
        low, high = m["exons"][0][0], m["exons"][-1][1]
        if m["gene"] not in done_genes:
            done_genes.add(m["gene"])
            span = [x for n in models if n["gene"] == m["gene"] for x in (n["exons"][0][0], n["exons"][-1][1])]
            lines.append(f'{m["chrom"]}\tensembl\tgene\t{min(span)}\t{max(span)}\t.\t{m["strand"]}\t.\t{g}{named}'.rstrip())
        lines.append(f'{m["chrom"]}\tensembl\ttranscript\t{low}\t{high}\t.\t{m["strand"]}\t.\t{t}{named}{tb}')
        exon_lines = []
        ordered = m["exons"] if m["strand"] == "+" else m["exons"][::-1]
        for k, (a, b) in enumerate(ordered, 1):
            exon_lines.append(f'{m["chrom"]}\tensembl\texon\t{a}\t{b}\t.\t{m["strand"]}\t.\t{t}exon_number "{k}"; '
                              f'{named}{tb}')
        if m["shuffled"]:
            exon_lines = exon_lines[::-1][1:] + exon_lines[::-1][:1]
        lines += exon_lines
        if m["coding"]:
            cds = to_genome(m, m["tis"], m["stop"] - 3)
            for a, b, phase in phased(m, cds):
                lines.append(f'{m["chrom"]}\tensembl\tCDS\t{a}\t{b}\t.\t{m["strand"]}\t{phase}\t{t}{named}{tb} '
                             f'protein_id "{m["tid"].replace("ENST", "ENSP")}";')
            for kind, first, last in (("start_codon", m["tis"], m["tis"] + 2), ("stop_codon", m["stop"] - 2, m["stop"])):
                for a, b, phase in phased(m, to_genome(m, first, last)):
                    lines.append(f'{m["chrom"]}\tensembl\t{kind}\t{a}\t{b}\t.\t{m["strand"]}\t{phase}\t{t}{named}{tb}')
            if m["tis"] > 0:
                for a, b in to_genome(m, 0, m["tis"] - 1):
                    lines.append(f'{m["chrom"]}\tensembl\tfive_prime_utr\t{a}\t{b}\t.\t{m["strand"]}\t.\t{t}{named}{tb}')
            if m["stop"] < m["length"] - 1:
                for a, b in to_genome(m, m["stop"] + 1, m["length"] - 1):
                    lines.append(f'{m["chrom"]}\tensembl\tthree_prime_utr\t{a}\t{b}\t.\t{m["strand"]}\t.\t{t}{named}{tb}')
    return "\n".join(lines) + "\n"


def models_gene_biotype(models, m):
    return "protein_coding" if any(n["coding"] for n in models if n["gene"] == m["gene"]) else "lncRNA"


def gff3_refseq(models):
    lines = ["##gff-version 3", "#!gff-spec-version 1.21", "#!processor NCBI annotwriter (synthetic fixture)"]
    for chrom in ("chr1", "chr2"):
        lines.append(f"##sequence-region {chrom[3:]} 1 1000000")
    done_genes = set()
    for number, m in enumerate(models, 1):
        seqid, strand, name = m["chrom"][3:], m["strand"], m["name"]
        if m["gene"] not in done_genes:
            done_genes.add(m["gene"])
            span = [x for n in models if n["gene"] == m["gene"] for x in (n["exons"][0][0], n["exons"][-1][1])]
            lines.append(f"{seqid}\tBestRefSeq\tgene\t{min(span)}\t{max(span)}\t.\t{strand}\t.\tID=gene-{name};"
                         f"Dbxref=GeneID:{number};Name={name};gbkey=Gene;gene={name};"
                         f"gene_biotype={models_gene_biotype(models, m)}")
        if m["coding"]:
            kind, rna, gbkey = "mRNA", f"NM_{number:06d}.1", "mRNA"
        elif m["biotype"] == "lncRNA":
            kind, rna, gbkey = "lnc_RNA", f"NR_{number:06d}.1", "ncRNA"
        else:
            kind, rna, gbkey = "transcript", f"NR_{number:06d}.1", "misc_RNA"
        m["refseq"] = f"rna-{rna}"
        low, high = m["exons"][0][0], m["exons"][-1][1]
        lines.append(f"{seqid}\tBestRefSeq\t{kind}\t{low}\t{high}\t.\t{strand}\t.\tID=rna-{rna};Parent=gene-{name};"
                     f"Name={rna};gbkey={gbkey};gene={name};product={name} transcript%2C variant 1;transcript_id={rna}")
        ordered = m["exons"] if strand == "+" else m["exons"][::-1]
        exon_lines = [f"{seqid}\tBestRefSeq\texon\t{a}\t{b}\t.\t{strand}\t.\tID=exon-{rna}-{k};Parent=rna-{rna};"
                      f"gbkey={gbkey};gene={name};transcript_id={rna}" for k, (a, b) in enumerate(ordered, 1)]
        if m["shuffled"]:
            exon_lines = exon_lines[1:] + exon_lines[:1]
        lines += exon_lines
        if m["coding"]:
            protein = f"NP_{number:06d}.1"
            for a, b, phase in phased(m, to_genome(m, m["tis"], m["stop"])):
                lines.append(f"{seqid}\tBestRefSeq\tCDS\t{a}\t{b}\t.\t{strand}\t{phase}\tID=cds-{protein};"
                             f"Parent=rna-{rna};Name={protein};gbkey=CDS;gene={name};protein_id={protein}")
    return "\n".join(lines) + "\n"


def gtf_stringtie(models):
    lines = ["# stringtie -G reference.gtf -o stringtie.gtf sample.bam", "# StringTie version 2.1.4"]
    for number, m in enumerate(models, 1):
        gene = f"STRG.{number}"
        tid = f"{gene}.1"
        m["stringtie"] = tid
        low, high = m["exons"][0][0], m["exons"][-1][1]
        lines.append(f'{m["chrom"]}\tStringTie\ttranscript\t{low}\t{high}\t1000\t{m["strand"]}\t.\tgene_id "{gene}"; '
                     f'transcript_id "{tid}"; cov "{10 + number}.5"; FPKM "{3 * number}.25"; TPM "{5 * number}.75";')
        for k, (a, b) in enumerate(m["exons"], 1):
            lines.append(f'{m["chrom"]}\tStringTie\texon\t{a}\t{b}\t1000\t{m["strand"]}\t.\tgene_id "{gene}"; '
                         f'transcript_id "{tid}"; exon_number "{k}"; cov "{10 + number}.5";')
    return "\n".join(lines) + "\n"


def main():
    rng = np.random.default_rng(17)
    genome, models = build(rng)
    write_fasta(HERE / "genome.fa", genome)
    (HERE / "ensembl.gtf").write_text(gtf_ensembl(models))
    (HERE / "refseq.gff3").write_text(gff3_refseq(models))
    (HERE / "stringtie.gtf").write_text(gtf_stringtie(models))
    with open(HERE / "truth.tsv", "w") as out:
        out.write("transcript_id\trefseq_id\tstringtie_id\tstrand\texons\tcds_start\tcds_end\n")
        for m in models:
            cds = (str(m["tis"] + 1), str(m["stop"] + 1)) if m["coding"] else ("", "")
            out.write("\t".join([m["tid"], m["refseq"], m["stringtie"], m["strand"], str(len(m["exons"])), *cds])
                      + "\n")
    galaxy = ROOT / "galaxy" / "test-data"
    write_fasta(galaxy / "genome.fa", genome)
    with open(galaxy / "genome.fa", "rb") as plain, gzip.GzipFile(galaxy / "genome.fa.gz", "wb", 9, mtime=0) as packed:
        packed.write(plain.read())
    (galaxy / "genome_annotation.gtf").write_text(gtf_ensembl(models))
    (galaxy / "genome_annotation.gff3").write_text(gff3_refseq(models))


if __name__ == "__main__":
    main()
