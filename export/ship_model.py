"""Turn a trained TIS checkpoint into the shipped ONNX model, with metadata and proofs.

Steps: export the checkpoint to ONNX; check parity with PyTorch on real
transcripts from 100 nt up to the longest in the data (alone and in a padded
batch); score the held-out chromosome(s) through the lean ONNX predictor;
write ``tis_transformer/models/NAME.onnx`` and ``NAME.json`` (metrics,
training set, parity, speed, sha256), with the layer graphs for long
transcripts and the short-window graphs for short ones
(``export/short_window_graphs.py`` rebuilds the latter for models already shipped).

Example (the shipped human model)::

    python export/ship_model.py runs/human_chr20_cpu/version_0/checkpoints/last.ckpt \\
        --name human --data ../shared/data/GRCh38p13 --held_out chr20.npy.gz \\
        --trained_on chr13.npy.gz,chr18.npy.gz,chr22.npy.gz --validated_on chrY.npy.gz
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tis_transformer.cli.evaluate import score_dataset  # noqa: E402
from tis_transformer.export.exportable import SHORT_WINDOWS  # noqa: E402
from tis_transformer.export.onnx_model import attach_metadata, build_metadata, export_onnx  # noqa: E402
from tis_transformer.export.parity import check_parity  # noqa: E402
from tis_transformer.predictor.registry import MODELS_DIR  # noqa: E402
from tis_transformer.predictor.runner import Predictor  # noqa: E402
from tis_transformer.training.datasets import concatenate, load_dataset  # noqa: E402
from tis_transformer.training.checkpoints import load_tis_model  # noqa: E402


def parity_transcripts(data_dir: Path) -> list:
    """Real transcripts at ~100 nt, 1 kb, 5 kb, 20 kb and the longest in the data, and the 5 kb one's first half.

    The half shares the 5 kb transcript's starts, so parity covers models that compare isoforms too.
    """
    data = concatenate([load_dataset(p) for p in sorted(data_dir.glob("*.npy.gz"))])
    lengths = data.lengths
    picks = [int(np.argmin(np.abs(lengths - t))) for t in (100, 1000, 5000, 20_000)] + [int(np.argmax(lengths))]
    tokens = [data.transcript(i)[0] for i in picks]
    return tokens + [tokens[2][: len(tokens[2]) // 2]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--name", default="human")
    parser.add_argument("--data", type=Path, required=True, help="directory of chromosome files")
    parser.add_argument("--held_out", default="",
                        help="comma-separated held-out files to score (none for a model trained on every file)")
    parser.add_argument("--trained_on", required=True)
    parser.add_argument("--validated_on", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--training_command", default="")
    parser.add_argument("--out_dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args()

    model = load_tis_model(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / f"{args.name}.onnx"
        meta = build_metadata(model.network, args.name, args.description, {
            "trained_on": args.trained_on.split(","), "validated_on": args.validated_on.split(","),
            "held_out": [name for name in args.held_out.split(",") if name],
            "training_command": args.training_command,
        })
        export_onnx(model.network, onnx_path, meta, model.logit_offset)
        tokens = parity_transcripts(args.data)
        worst = check_parity(model.network, onnx_path, tokens, logit_offset=model.logit_offset)
        meta["parity"] = {"max_abs_diff": worst, "lengths": [len(t) for t in tokens]}
        print(f"parity {worst:.2e} on lengths {[len(t) for t in tokens]}", flush=True)

        predictor = Predictor(str(onnx_path), device="cpu")
        metrics, speed = {}, {}
        for name in meta["held_out"]:
            data = load_dataset(args.data / name)
            transcripts = [data.transcript(i)[0] for i in range(len(data))]
            started = time.perf_counter()
            # the chromosome is one input, as its FASTA given to impute: the index is part of the time
            probabilities = predictor.predict(transcripts, predictor.isoform_index(transcripts))
            seconds = time.perf_counter() - started
            chrom = name.split(".")[0]
            metrics[chrom] = score_dataset(data, probabilities)
            speed[chrom] = round(data.tokens.size / seconds)
            print(chrom, json.dumps(metrics[chrom]), f"{speed[chrom]} nt/s", flush=True)
        meta["metrics"] = metrics
        meta["cpu_nt_per_s"] = speed
        final = attach_metadata(onnx_path, meta)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        side_graphs = (".summary.onnx", ".step.onnx") + tuple(f".window{w}.onnx" for w in SHORT_WINDOWS)
        for suffix in (".onnx", ".json") + side_graphs:
            target = args.out_dir / f"{args.name}{suffix}"
            if onnx_path.with_suffix(suffix).exists():
                shutil.copy(onnx_path.with_suffix(suffix), target)
            else:  # a network without transformer layers has no layer graphs: an earlier model's must go
                target.unlink(missing_ok=True)
    print(f"shipped {args.out_dir / args.name}.onnx ({final['file_size']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
