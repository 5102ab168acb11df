"""The ``export`` command: a checkpoint to an ONNX model with metadata and layer graphs, parity-checked."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from tis_transformer.export.onnx_model import build_metadata, export_onnx
from tis_transformer.export.parity import check_parity

log = logging.getLogger("tis_transformer")

log = logging.getLogger("tis_transformer")


def run(args) -> int:
    """The ``export`` command."""
    from tis_transformer.training.datasets import load_dataset
    from tis_transformer.training.checkpoints import load_tis_model

    model = load_tis_model(args.checkpoint)
    extra = {}
    if args.metrics:
        extra["metrics"] = json.loads(Path(args.metrics).read_text())
    name = args.name or Path(args.output).stem
    metadata = build_metadata(model.network, name, args.description, extra)
    meta = export_onnx(model.network, args.output, metadata, model.logit_offset)
    if args.parity_data:
        data = load_dataset(args.parity_data)
        order = np.argsort(data.lengths)
        picks = order[np.linspace(0, len(order) - 1, args.parity_transcripts).astype(int)]
        tokens = [data.transcript(i)[0] for i in picks]
        worst = check_parity(model.network, args.output, tokens, logit_offset=model.logit_offset)
        print(f"parity: max |p_torch - p_onnx| = {worst:.2e} over {len(tokens)} transcripts "
              f"({min(map(len, tokens))}-{max(map(len, tokens))} nt), alone, batched and in pieces")
    print(f"{args.output}: {meta['file_size']} bytes, sha256 {meta['sha256']} "
          f"(with {Path(args.output).with_suffix('.summary.onnx').name} and "
          f"{Path(args.output).with_suffix('.step.onnx').name} for long transcripts)")
    return 0
