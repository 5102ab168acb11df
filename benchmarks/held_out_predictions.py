#!/usr/bin/env python3
"""Predict every transcript of each shared chromosome with the shipped model that never saw it.

As the original tool did for its proteome re-annotation: each chromosome is
scored by the fold model trained and validated without it (``held_out`` in the
model's metadata), and written in the original output layout (``.npy``: rows of
``[">id", tokens, probabilities]``) plus a site table of each transcript's
best-scoring site.  Chromosomes that no shipped model held out are listed and
skipped, never scored by a model that trained on them.  Outputs are data, not
code: keep them out of git.

Example::

    python benchmarks/held_out_predictions.py --out held_out_predictions
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chromosomes", nargs="*", help="default: every file in ../shared/data/GRCh38p13")
    parser.add_argument("--out", type=Path, default=Path("held_out_predictions"), help="output folder")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)

    from tis_transformer.predictor.registry import held_out_model
    from tis_transformer.predictor.runner import Predictor
    from tis_transformer.predictor.read import read_records
    from tis_transformer.predictor.write import write_outputs

    names = args.chromosomes or sorted(p.name.split(".")[0] for p in bc.SHARED_DATA.glob("*.npy.gz"))
    args.out.mkdir(parents=True, exist_ok=True)
    skipped = []
    for chrom in names:
        model = held_out_model(chrom)
        if model is None:
            skipped.append(chrom)
            continue
        predictor = Predictor(model, device=args.device)
        started = time.perf_counter()
        source = str(bc.chromosome_path(chrom))
        # as impute does: the chromosome's transcripts are each other's isoform context
        isoforms = predictor.isoform_index(lambda: (tokens for _, tokens in read_records(source)))
        write_outputs([(str(args.out / f"{chrom}.npy"), "npy"), (str(args.out / f"{chrom}.sites.tsv"), "tsv")],
                      predictor.predict_records(read_records(source), isoforms), top_k=1)
        print(f"{chrom}: model {model} -> {args.out / chrom}.npy, {chrom}.sites.tsv "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    if skipped:
        print(f"no shipped model held out {', '.join(skipped)}: skipped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
