"""Genome mode at the scale of GRCh38: wall time and peak RSS of the reading pipeline.

    python benchmarks/genome_scale.py --dir /work/tmp/genome-bench        # about 3.1 GB + 1.8 GB on disk
    python benchmarks/genome_scale.py --dir DIR --scale 0.05               # a quick look

1. ``make``: a synthetic genome of GRCh38's shape (chr1-22, X, Y at their
   GRCh38 lengths, random A/C/G/T, a 10 kb N run at each end, 60 letters a
   line, plain text) and an Ensembl-style GTF of 250,000 transcripts (about
   62,000 genes, 1-20 exons each, half of them coding: gene, transcript, exon,
   CDS, start_codon, stop_codon and UTR lines with Ensembl's attributes).
2. ``parse``: ``read_annotation`` of the GTF alone.
3. ``pipeline``: what genome mode does before the model: read the
   annotation, stream the genome once and splice every transcript into the
   temporary transcript file, read that file back once (a prediction pass),
   and place each transcript's reference CDS (ORF typing).
4. ``predict``: ``Predictor.predict`` (shipped model, isoforms left out) on
   the first ``--sample`` transcripts, for nt/s. Random sequence has few
   long ORFs and scores faster than real transcripts; the full model on
   250,000 transcripts is extrapolated (benchmarks/README.md), not run.

Steps 2-4 each run in a fresh process under GNU time (``%M``: peak RSS,
``%e``: wall). Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GRCH38 = [248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636, 138394717,
          133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345, 83257441, 80373285,
          58617616, 64444167, 46709983, 50818468, 156040895, 57227415]
NAMES = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]


def make(folder: Path, scale: float, transcripts: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = [max(100_000, int(n * scale)) for n in GRCH38]
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(folder / "genome.fa", "wb") as out:
        for name, length in zip(NAMES, lengths):
            out.write(f">{name} synthetic GRCh38-shaped\n".encode())
            done = 0
            while done < length:
                size = min(6_000_000, length - done)  # a multiple of 60 but for the last piece
                chunk = letters[rng.integers(0, 4, size=size, dtype=np.uint8)]
                chunk[: max(0, 10_000 - done)] = ord("N")
                rows = size // 60
                body = np.hstack([chunk[: rows * 60].reshape(rows, 60), np.full((rows, 1), 10, np.uint8)]).tobytes()
                out.write(body)
                if size % 60:
                    out.write(chunk[rows * 60:].tobytes() + b"\n")
                done += size
    share = np.array(lengths, dtype=float) / sum(lengths)
    per_chrom = rng.multinomial(transcripts, share)
    with open(folder / "annotation.gtf", "w") as out:
        out.write("#!genome-build GRCh38.p13 (synthetic)\n")
        number = 0
        for chrom, length, count in zip(NAMES, lengths, per_chrom):
            genes = max(1, count // 4)
            starts = np.sort(rng.integers(20_000, length - 400_000, size=genes))
            for g, gene_start in enumerate(starts):
                n_tx = count // genes + (g < count % genes)
                strand = "+-"[g % 2]
                gene = f"ENSG{number:011d}"
                lines = [(chrom, "gene", gene_start, gene_start + 1, strand, f'gene_id "{gene}"; gene_version "4"; '
                          f'gene_name "G{number}"; gene_source "ensembl_havana"; gene_biotype "protein_coding";')]
                for _ in range(n_tx):
                    number += 1
                    tid = f"ENST{number:011d}"
                    n_exons = int(rng.integers(1, 21))
                    sizes = rng.integers(50, 300, size=n_exons)
                    introns = rng.integers(80, 12_000, size=n_exons)
                    begin = gene_start + int(rng.integers(0, 2_000))
                    exons, position = [], begin
                    for size, intron in zip(sizes, introns):
                        exons.append((position, position + int(size) - 1))
                        position += int(size) + int(intron)
                    coding = number % 2 == 0 and sum(sizes) > 60
                    biotype = "protein_coding" if coding else "retained_intron"
                    base = (f'gene_id "{gene}"; gene_version "4"; transcript_id "{tid}"; transcript_version "2"; '
                            f'gene_name "G{number}"; gene_source "ensembl_havana"; gene_biotype "protein_coding"; '
                            f'transcript_name "G{number}-201"; transcript_source "havana"; '
                            f'transcript_biotype "{biotype}"; tag "basic"; transcript_support_level "1";')
                    lines.append((chrom, "transcript", exons[0][0], exons[-1][1], strand, base))
                    for k, (a, b) in enumerate(exons, 1):
                        lines.append((chrom, "exon", a, b, strand, base[:-1] + f'; exon_number "{k}"; '
                                      f'exon_id "ENSE{number:09d}{k:02d}"; exon_version "1";'))
                    if coding:
                        # CDS over the exons, an exon's worth of UTR at each end where there are several
                        inner = exons[1:-1] if n_exons > 2 else exons
                        for a, b in inner:
                            lines.append((chrom, "CDS", a, b, strand, base[:-1] + f'; protein_id "ENSP{number:011d}";'))
                        lines.append((chrom, "start_codon", inner[0][0], inner[0][0] + 2, strand, base))
                        lines.append((chrom, "stop_codon", inner[-1][1] - 2, inner[-1][1], strand, base))
                        if n_exons > 2:
                            lines.append((chrom, "five_prime_utr", *exons[0], strand, base))
                            lines.append((chrom, "three_prime_utr", *exons[-1], strand, base))
                    lines[0] = lines[0][:3] + (max(lines[0][3], position),) + lines[0][4:]
                out.write("".join(f"{c}\tensembl\t{kind}\t{a}\t{b}\t.\t{s}\t.\t{attr}\n"
                                  for c, kind, a, b, s, attr in lines))


PARSE = """
import sys, time
sys.path.insert(0, {root!r})
from tis_transformer.predictor.genome.annotation import read_annotation
t = time.perf_counter()
transcripts, _ = read_annotation({gtf!r})
print("RESULT", len(transcripts), sum(len(x.exons) for x in transcripts), time.perf_counter() - t)
"""

PIPELINE = """
import sys, time
sys.path.insert(0, {root!r})
from tis_transformer.predictor.genome.annotation import read_annotation
from tis_transformer.predictor.genome.pipeline import TranscriptCache, build_transcripts
from tis_transformer.predictor.genome.orf_types import GeneCds, reference_cds
t = time.perf_counter()
transcripts, _ = read_annotation({gtf!r})
parsed = time.perf_counter() - t
genes = GeneCds(transcripts)
with TranscriptCache() as cache:
    build_transcripts({genome!r}, {gtf!r}, transcripts, cache)
    spliced = time.perf_counter() - t
    total = sum(len(tokens) for _, tokens in cache.records())
    placed = sum(reference_cds(x, genes) is not None for x, _, _, _ in cache.entries)
print("RESULT", len(cache.entries), total, placed, parsed, spliced, time.perf_counter() - t)
"""

PREDICT = """
import sys, time
sys.path.insert(0, {root!r})
from tis_transformer.predictor.genome.annotation import read_annotation
from tis_transformer.predictor.genome.pipeline import TranscriptCache, build_transcripts
from tis_transformer.predictor.runner import Predictor
transcripts, _ = read_annotation({gtf!r})
first = transcripts[0].chrom
sample = [x for x in transcripts if x.chrom == first][:{sample}]
predictor = Predictor(None, threads={threads})
with TranscriptCache() as cache:
    build_transcripts({genome!r}, {gtf!r}, sample, cache)
    tokens = [t for _, t in cache.records()]
t = time.perf_counter()
predictor.predict(tokens)
print("RESULT", len(tokens), sum(map(len, tokens)), time.perf_counter() - t)
"""


def measured(code: str) -> dict:
    result = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M %U %S", sys.executable, "-c", code],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    fields = next(line for line in result.stdout.splitlines() if line.startswith("RESULT")).split()[1:]
    wall, rss_kb, user, system = next(line for line in result.stderr.splitlines() if line.startswith("TIME")).split()[1:]
    # CPU seconds beside wall time: on a shared machine the wall time is the one that suffers
    return {"values": [float(x) for x in fields], "wall_s": float(wall), "cpu_s": float(user) + float(system),
            "peak_rss_mb": int(rss_kb) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, help="folder for the genome and GTF (outside the repository)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of GRCh38's chromosome lengths")
    parser.add_argument("--transcripts", type=int, default=250_000)
    parser.add_argument("--sample", type=int, default=200, help="transcripts for the prediction throughput")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    genome, gtf = folder / "genome.fa", folder / "annotation.gtf"
    if not (genome.exists() and gtf.exists()):
        started = time.perf_counter()
        make(folder, args.scale, args.transcripts, args.seed)
        print(f"made {genome} ({genome.stat().st_size / 1e9:.2f} GB) and {gtf} ({gtf.stat().st_size / 1e9:.2f} GB) "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
    paths = dict(root=str(ROOT), genome=str(genome), gtf=str(gtf), sample=args.sample, threads=args.threads)
    parse = measured(PARSE.format(**paths))
    n, exons, seconds = parse["values"]
    print(f"parse: {int(n)} transcripts, {int(exons)} exons, parse {seconds:.1f} s; "
          f"wall {parse['wall_s']:.1f} s, CPU {parse['cpu_s']:.1f} s, peak RSS {parse['peak_rss_mb']:.0f} MB", flush=True)
    pipeline = measured(PIPELINE.format(**paths))
    n, nt, placed, parsed, spliced, total = pipeline["values"]
    print(f"pipeline: {int(n)} transcripts, {int(nt):,} nt spliced; annotation {parsed:.1f} s, + genome pass "
          f"{spliced - parsed:.1f} s, + read-back and CDS placing {total - spliced:.1f} s; wall "
          f"{pipeline['wall_s']:.1f} s, CPU {pipeline['cpu_s']:.1f} s, peak RSS {pipeline['peak_rss_mb']:.0f} MB", flush=True)
    predict = measured(PREDICT.format(**paths))
    n, nt_sample, seconds = predict["values"]
    rate = nt_sample / seconds
    print(f"predict: {int(n)} transcripts, {int(nt_sample):,} nt in {seconds:.1f} s = {rate:,.0f} nt/s; "
          f"all {int(nt):,} nt would take about {nt / rate / 3600:.1f} h at that rate; peak RSS "
          f"{predict['peak_rss_mb']:.0f} MB", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"parse": parse, "pipeline": pipeline, "predict": predict}, indent=1))


if __name__ == "__main__":
    main()
