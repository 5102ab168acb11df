"""Turn a trained TIS checkpoint into the shipped ONNX model, with metadata and proofs.

Steps (``tis_transformer.export.ship``, which ``tis-transformer train -o`` runs
too): export the checkpoint to ONNX; check parity with PyTorch on real
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
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tis_transformer.export.ship import copy_model, ship  # noqa: E402
from tis_transformer.predictor.registry import MODELS_DIR  # noqa: E402
from tis_transformer.training.checkpoints import load_tis_model  # noqa: E402
from tis_transformer.training.data import find_data_files, load_files  # noqa: E402
from tis_transformer.predictor.input_files import data_name  # noqa: E402
from tis_transformer.training.datasets import load_dataset  # noqa: E402


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
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    model = load_tis_model(args.checkpoint)
    held_out = [name for name in args.held_out.split(",") if name]
    extra = {"trained_on": args.trained_on.split(","), "validated_on": args.validated_on.split(","),
             "held_out": held_out, "training_command": args.training_command}
    scored = {data_name(name): load_dataset(args.data / name) for name in held_out}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / f"{args.name}.onnx"
        final = ship(model, onnx_path, args.description, extra,
                     load_files(find_data_files(args.data)), scored)
        copy_model(onnx_path, args.out_dir, args.name, model.network.config.local_window_size)
    print(f"shipped {args.out_dir / args.name}.onnx ({final['file_size']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
