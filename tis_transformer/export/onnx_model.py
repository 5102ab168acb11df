"""Writing a trained TIS network as ONNX graphs with their metadata, and reading one back (``train`` extra)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import logging
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from tis_transformer import __version__
from tis_transformer.export.exportable import OPSET, SHORT_WINDOWS, ExportableTIS
from tis_transformer.predictor.features import FeatureTables
from tis_transformer.predictor.read import InputError
from tis_transformer.predictor.registry import FORMAT_VERSION
from tis_transformer.predictor.tokens import NUCLEOTIDES, PAD
from tis_transformer.training.network import NetworkConfig, TISNetwork

log = logging.getLogger("tis_transformer")


def export_onnx(network: TISNetwork, path: str | Path, metadata: dict, logit_offset: float = 0.0,
                layer_graphs: bool = True, short_windows: tuple = SHORT_WINDOWS) -> dict:
    """Write ``network`` as an ONNX model with dynamic batch and length.

    Parameters
    ----------
    network : TISNetwork
        A trained network (projections are fixed here).
    path : str or Path
        Output ``.onnx``; a ``.json`` with the same stem holds the metadata too.
    metadata : dict
        Stored in the model's ``metadata_props`` (values JSON-encoded) and beside it.
    logit_offset : float
        Added to the logits before the sigmoid (see ``TISModel.logit_offset``).
    layer_graphs : bool
        Also write ``STEM.summary.onnx`` and ``STEM.step.onnx``, which let the
        predictor run long transcripts in pieces (see ``export_layers``);
        a network without transformer layers (depth 0) needs neither these
        nor the short-window graphs.
    short_windows : tuple of int
        Also write ``STEM.windowW.onnx`` for each W below the network's local
        window: graphs that the predictor runs on batches of transcripts of at
        most W nucleotides (see ``export_short_window_graphs``).

    Returns
    -------
    dict
        The metadata written, with ``sha256`` and ``file_size`` added.
    """
    network.eval()
    network.fix_projections()
    path = Path(path)
    _export_graph(ExportableTIS(network, logit_offset).eval(), path)
    if not network.config.depth:
        # without transformer layers every position is scored on its own: any length runs in the whole graph
        layer_graphs, short_windows = False, ()
    if layer_graphs:
        from tis_transformer.export.layers import export_layer_graphs

        export_layer_graphs(network, path, logit_offset)
    if short_windows:
        export_short_window_graphs(network, path, logit_offset, short_windows)
    return attach_metadata(path, metadata)


def _export_graph(module: ExportableTIS, path: Path) -> None:
    """Write an ``ExportableTIS`` as an ONNX graph with dynamic batch and length, without metadata."""
    import onnx

    network = module.network
    example = torch.randint(0, 4, (2, 700))
    batch = torch.export.Dim("batch", min=1)
    length = torch.export.Dim("length", min=1)
    inputs, names, shapes = (example,), ["tokens"], {"tokens": {0: batch, 1: length}}
    if network.config.n_features:
        inputs += (torch.rand(2, example.shape[1], network.config.input_columns),)
        names.append("features")
        shapes["features"] = {0: batch, 1: length}
    # torch.onnx reports its steps on stdout, which carries the command's JSON summary
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
        program = torch.onnx.export(
            module, inputs, dynamo=True, input_names=names, output_names=["probabilities"],
            dynamic_shapes=shapes, opset_version=OPSET, optimize=True, external_data=False,
        )
    onnx.save(program.model_proto, str(path))


def short_window_path(path: str | Path, window: int) -> Path:
    """Where the graph for batches of transcripts of at most ``window`` nucleotides lies beside a model."""
    return Path(path).with_suffix(f".window{int(window)}.onnx")


def export_short_window_graphs(network: TISNetwork, path: str | Path, logit_offset: float = 0.0,
                               windows: tuple = SHORT_WINDOWS) -> list:
    """Write, beside the model at ``path``, graphs of the same network with shorter local windows.

    The whole-transcript graph pads every row to a multiple of the local
    window W and scores each window's queries against 3W keys, so a 30-nt
    transcript costs as much as a W-nt one.  For a batch whose rows are all at
    most w < W long, nothing outside the first window is valid: the two
    neighbouring windows are masked (weight exactly 0), the feed-forward
    layers are per position, global attention masks padded keys, and token
    embeddings and rotary tables use absolute positions that padding does not
    move.  A graph with window w whose local rotary tables hold the trained
    window's positions (``ExportableTIS(window=w)``) therefore computes the
    same function on such batches at a fraction of the cost.  The predictor
    uses ``STEM.windowW.onnx`` only for batches whose longest row is at most W.
    Windows not below the network's are skipped.  Returns the paths written.
    """
    network.eval()
    network.fix_projections()
    written = []
    for window in sorted(set(int(w) for w in windows)):
        if window >= network.config.local_window_size or window < 1:
            continue
        out = short_window_path(path, window)
        _export_graph(ExportableTIS(network, logit_offset, window=window).eval(), out)
        _strip(out)
        written.append(out)
    return written


def _strip(path: Path) -> None:
    """Drop what onnxruntime does not read from a graph (the exporter's per-node trace notes): a third of it."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def network_from_onnx(path: str | Path) -> tuple[TISNetwork, float]:
    """Rebuild a ``TISNetwork`` and its logit offset from an exported whole-transcript graph.

    For shipped models whose checkpoints are gone: a network of the
    architecture in the model's metadata, with distinct random values in
    every parameter and buffer, is exported through ``ExportableTIS``; each
    of that graph's initializers that equals a parameter (or its transpose)
    names the initializer of the model at ``path`` that holds the parameter's
    trained value.  The logit offset is read from the graph likewise.  The
    caller should check that the rebuilt network, exported again, scores as
    the model does (``scripts``: export/short_window_graphs.py).

    Raises
    ------
    ValueError
        When a parameter is found in neither graph, or the two graphs'
        initializers do not correspond.
    """
    import tempfile

    import onnx
    from onnx import numpy_helper

    path = Path(path)
    model = onnx.load(str(path))
    metadata = {p.key: json.loads(p.value) for p in model.metadata_props}
    config = NetworkConfig(**metadata["architecture"])
    network = TISNetwork(config).eval()
    network.fix_projections()
    generator = torch.Generator().manual_seed(0)
    # without transformer layers the graph holds the feature head alone
    named = {k: p for k, p in network.named_parameters() if network.config.depth or k.startswith("feature_head.")}
    # the trained buffers that the graph reads (not the hexamer table, nor local attention's fixed frequencies)
    named.update((k, b) for k, b in network.named_buffers() if k.endswith(("projection_matrix", "feature_shift",
                                                                            "feature_scale", "logit_shift")))
    with torch.no_grad():
        for tensor in named.values():
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    offset_probe = 0.123456789
    with tempfile.TemporaryDirectory() as tmp:
        probe_path = Path(tmp) / "probe.onnx"
        _export_graph(ExportableTIS(network, offset_probe).eval(), probe_path)
        probe = onnx.load(str(probe_path))
    # The exporter numbers its constants as it goes and merges equal ones (the trained layer norms, say, are
    # all ones), so the two graphs' initializers correspond through the nodes that read them, in order.
    shipped = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    probe_values = {i.name: numpy_helper.to_array(i) for i in probe.graph.initializer}
    nodes = list(zip(model.graph.node, probe.graph.node))
    if len(model.graph.node) != len(probe.graph.node) or any(
            a.op_type != b.op_type or len(a.input) != len(b.input) for a, b in nodes):
        raise ValueError(f"{path}: its graph does not correspond to this version's export of its architecture")
    probed = {}
    for a, b in nodes:
        for x, y in zip(a.input, b.input):
            if y in probe_values:
                if x not in shipped or shipped[x].shape != probe_values[y].shape or probed.get(y, x) != x:
                    raise ValueError(f"{path}: its graph does not correspond to this version's export "
                                     f"of its architecture")
                probed[y] = x
    loaded = {}
    for name, tensor in named.items():
        value = tensor.detach().numpy()
        for probe_name, key in probed.items():
            array = probe_values[probe_name]
            if array.shape == value.shape and np.array_equal(array, value):
                loaded[name] = shipped[key]
            elif value.ndim == 2 and array.shape == value.T.shape and np.array_equal(array, value.T):
                loaded[name] = shipped[key].T
            else:
                continue
            break
    missing = [name for name in named if name not in loaded]
    if missing:
        raise ValueError(f"{path}: parameters not found in the graph: {missing}")
    with torch.no_grad():
        for name, value in loaded.items():
            named[name].copy_(torch.from_numpy(np.array(value, dtype=np.float32)).reshape(named[name].shape))
    offsets = [key for probe_name, key in probed.items() if probe_values[probe_name].shape == ()
               and probe_values[probe_name].dtype == np.float32
               and np.isclose(float(probe_values[probe_name]), offset_probe)]
    logit_offset = float(shipped[offsets[0]]) if len(offsets) == 1 else 0.0
    declared = metadata.get("input_features", {})
    tables = [declared.get(key) for key in ("hexamer_log_odds", "start_context_log_odds")]
    network.set_feature_tables(FeatureTables(*(t if isinstance(t, list) else None for t in tables)))
    if config.tree_blend and "trees" in declared:
        network.set_trees(*(zlib.decompress(base64.b64decode(declared[key])) if key in declared else b""
                            for key in ("trees", "trees_stage_one")))
    return network, logit_offset


def attach_metadata(path: str | Path, metadata: dict) -> dict:
    """Store ``metadata`` inside an ONNX model and beside it as ``.json``.

    Values are JSON-encoded into the model's ``metadata_props``; the JSON file
    also gets the model's ``sha256`` and ``file_size``, and names the input
    features' hexamer table instead of listing it.
    """
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        if key in ("sha256", "file_size"):
            continue
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = json.dumps(value)
    model.producer_name = "tis-transformer"
    model.producer_version = __version__
    onnx.save(model, str(path))
    meta = {k: v for k, v in metadata.items() if k not in ("sha256", "file_size")}
    if isinstance(meta.get("input_features", {}).get("hexamer_log_odds"), list):
        # thousands of numbers that only the predictor reads: the JSON beside the model stays readable
        count = len(meta["input_features"]["hexamer_log_odds"])
        meta["input_features"] = {**meta["input_features"],
                                  "hexamer_log_odds": f"{count} values, in the ONNX model's metadata"}
    for key in ("trees", "trees_stage_one"):
        if isinstance(meta.get("input_features", {}).get(key), str):
            size = len(zlib.decompress(base64.b64decode(meta["input_features"][key])))
            meta["input_features"] = {**meta["input_features"],
                                      key: f"an ONNX model of {size} bytes, compressed in the ONNX model's metadata"}
    meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    meta["file_size"] = path.stat().st_size
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _input_features(network: TISNetwork) -> dict:
    """What the predictor needs to compute a network's ``features`` input."""
    if network.config.tree_blend and not network.trees()[0]:
        raise InputError("this network blends trees but has none fitted (prefit its feature head with trees)")
    return network.model_inputs().to_metadata()


def build_metadata(network: TISNetwork, name: str, description: str = "", extra: dict | None = None) -> dict:
    """Metadata stored with an exported model."""
    return {
        "name": name,
        "description": description,
        "format_version": FORMAT_VERSION,
        "tokens": {letter: i for i, letter in enumerate(NUCLEOTIDES)} | {"PAD": PAD},
        "input": "tokens int64 (batch, length), right-padded with PAD"
                 + (", features float32 (batch, length, n_features), zero-padded"
                    if network.config.n_features else ""),
        "output": "probabilities float32 (batch, length): P(TIS) per nucleotide",
        "architecture": network.config.to_dict(),
        **({"input_features": _input_features(network)} if network.config.n_features else {}),
        "parameters": int(sum(p.numel() for p in network.parameters())),
        "package_version": __version__,
        "exported": datetime.date.today().isoformat(),
        **(extra or {}),
    }
