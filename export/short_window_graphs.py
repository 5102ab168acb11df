"""Write the short-window graphs (``NAME.windowW.onnx``) beside models that were shipped without them.

The predictor runs batches of transcripts no longer than W nucleotides
through a graph of the same network with a local window of W instead of
the trained one (see ``tis_transformer.export.onnx_model.export_short_window_graphs``).
New exports write these graphs themselves; for a model whose checkpoint is
gone, this rebuilds the network from the ONNX graph
(``network_from_onnx``), proves that the rebuilt network exports to a graph
that scores exactly as the shipped one, writes the short-window graphs and
proves they score rows of at most W nucleotides as the shipped graph does.

Example (every shipped model)::

    python export/short_window_graphs.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tis_transformer.export.exportable import SHORT_WINDOWS, ExportableTIS  # noqa: E402
from tis_transformer.export.onnx_model import _export_graph, export_short_window_graphs, network_from_onnx  # noqa: E402
from tis_transformer.predictor.registry import MODELS_DIR  # noqa: E402
from tis_transformer.predictor.tokens import PAD  # noqa: E402


def _batches(columns: int, lengths: tuple, seed: int = 0) -> list:
    """Random padded batches of tokens (N and PAD included) and features, rows of assorted lengths."""
    rng = np.random.default_rng(seed)
    out = []
    for length in lengths:
        rows = 6
        tokens = rng.integers(0, 5, (rows, length))
        features = rng.normal(size=(rows, length, columns)).astype(np.float32)
        features[..., 0] = rng.random((rows, length)) < 0.2  # is_atg: the trees' column counts there
        for row, n in enumerate(np.linspace(1, length, rows).astype(int)):
            tokens[row, n:] = PAD
            features[row, n:] = 0.0
        out.append({"tokens": tokens, "features": features} if columns else {"tokens": tokens})
    return out


def worst_difference(reference, candidate, batches) -> float:
    """Largest |p_reference - p_candidate| over the batches' real positions."""
    worst = 0.0
    for feeds in batches:
        valid = feeds["tokens"] != PAD
        a, b = reference.run(None, feeds)[0], candidate.run(None, feeds)[0]
        worst = max(worst, float(np.abs(a - b)[valid].max()))
    return worst


def main() -> int:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="ONNX models (default: every shipped model)")
    parser.add_argument("--windows", default=",".join(map(str, SHORT_WINDOWS)))
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args()
    windows = tuple(int(w) for w in args.windows.split(","))
    models = args.models or sorted(p for p in MODELS_DIR.glob("*.onnx") if p.suffixes == [".onnx"])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    for path in models:
        network, offset = network_from_onnx(path)
        shipped = ort.InferenceSession(str(path), options)
        columns = network.config.input_columns
        with tempfile.TemporaryDirectory() as tmp:
            again = Path(tmp) / "again.onnx"
            _export_graph(ExportableTIS(network, offset).eval(), again)
            worst = worst_difference(shipped, ort.InferenceSession(str(again), options),
                                     _batches(columns, (1, 30, 200, 700)))
        print(f"{path.name}: rebuilt network (logit offset {offset:.6g}) re-exported, max |dp| {worst:.2e}")
        if worst > args.tolerance:
            raise SystemExit(f"{path}: the rebuilt network does not reproduce the model ({worst:.2e})")
        for written in export_short_window_graphs(network, path, offset, windows):
            window = int(written.suffixes[-2][len(".window"):])
            worst = worst_difference(shipped, ort.InferenceSession(str(written), options),
                                     _batches(columns, tuple(sorted({1, 7, window // 2, window})), seed=window))
            print(f"  {written.name}: {written.stat().st_size} bytes, rows <= {window} nt, max |dp| {worst:.2e}")
            if worst > args.tolerance:
                written.unlink()
                raise SystemExit(f"{written}: differs from {path.name} by {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
