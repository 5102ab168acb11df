"""The ``export`` command: a checkpoint to an ONNX model with metadata and layer graphs, parity-checked."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from tis_transformer.export.onnx_model import attach_metadata, build_metadata, export_onnx
from tis_transformer.export.parity import check_parity
from tis_transformer.export.ship import check_output, model_files, staged_beside
from tis_transformer.predictor.read import InputError

log = logging.getLogger("tis_transformer")


def run(args) -> int:
    """The ``export`` command: every input read and checked before anything is written; all files or none."""
    from tis_transformer.training.datasets import load_dataset
    from tis_transformer.training.checkpoints import load_tis_model

    if args.parity_transcripts < 1:
        raise InputError(f"--parity_transcripts must be at least 1, not {args.parity_transcripts}")
    output = check_output(args.output, [args.checkpoint, args.parity_data, args.metrics])
    for given in (args.checkpoint, args.parity_data, args.metrics):
        if given is not None and not Path(given).is_file():
            raise InputError(f"{given}: no such file")
    extra = {}
    if args.metrics:
        try:
            extra["metrics"] = json.loads(Path(args.metrics).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{args.metrics}: not JSON ({str(error).splitlines()[0]})") from None
    tokens = None
    if args.parity_data:
        data = load_dataset(args.parity_data)
        order = np.argsort(data.lengths)
        count = min(args.parity_transcripts, len(order))
        picks = order[np.linspace(0, len(order) - 1, count).astype(int)]
        tokens = [data.transcript(i)[0] for i in picks]
    model = load_tis_model(args.checkpoint)
    name = args.name or output.name[: -len(".onnx")]
    metadata = build_metadata(model.network, name, args.description, extra)
    with staged_beside(output) as staged:
        meta = export_onnx(model.network, staged, metadata, model.logit_offset)
        if tokens:
            worst = check_parity(model.network, staged, tokens, logit_offset=model.logit_offset)
            # the metadata as built, not as returned: the returned card names the tables instead of listing them
            metadata["parity"] = {"max_abs_diff": worst, "lengths": [len(t) for t in tokens]}
            meta = attach_metadata(staged, metadata)
            print(f"parity: max |p_torch - p_onnx| = {worst:.2e} over {len(tokens)} transcripts "
                  f"({min(map(len, tokens))}-{max(map(len, tokens))} nt), alone, batched and in pieces")
    layers = [p.name for p in model_files(output, model.network.config.local_window_size)[1:3] if p.exists()]
    print(f"{output}: {meta['file_size']} bytes, sha256 {meta['sha256']}"
          + (f" (with {' and '.join(layers)} for long transcripts)" if layers else ""))
    return 0
