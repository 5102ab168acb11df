"""Export a trained TIS network to ONNX, with metadata, and prove parity (``train`` extra).

performer-pytorch's modules do not trace to a clean dynamic-shape graph
(local-attention's padding freezes lengths, the reversible layers run in a
custom autograd function), so ``ExportableTIS`` re-states the network's
inference function over the *same* parameters: reversible blocks as their
two-stream recurrence, positions computed from the length inside the graph,
local attention as padded windows with shifted key blocks, global attention
with padded keys masked.  ``check_parity`` compares it with the stock modules.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .read import InputError
from . import __version__
from .features import FEATURE_NAMES, feature_set_of, orf_features
from .network import NetworkConfig, TISNetwork, sinusoid
from .tokens import NUCLEOTIDES, PAD
from .trees import TREE_COLUMN_NAME, score_isoform_index, with_tree_column

log = logging.getLogger("tis_transformer")

OPSET = 18
# windows of the extra graphs for batches of short transcripts (``export_short_window_graphs``)
SHORT_WINDOWS = (32, 64)


def _rotation(dim: int, interleaved: bool) -> torch.Tensor:
    """Matrix R with ``x @ R`` equal to the rotary "rotate" of x.

    Interleaved pairs (performer-pytorch): (x0, x1, ...) -> (-x1, x0, ...);
    halves (local-attention): (a, b) -> (-b, a).  One small MatMul instead of
    Split/Neg/Concat nodes, which cost more than the arithmetic in onnxruntime.
    """
    rotation = torch.zeros(dim, dim)
    half = dim // 2
    for i in range(half):
        if interleaved:
            rotation[2 * i + 1, 2 * i] = -1.0
            rotation[2 * i, 2 * i + 1] = 1.0
        else:
            rotation[half + i, i] = -1.0
            rotation[i, half + i] = 1.0
    return rotation


class ExportableTIS(nn.Module):
    """The inference function of a ``TISNetwork``, written for ONNX export.

    Takes ``tokens`` (batch, length) int64 padded with ``PAD`` and returns TIS
    probabilities (batch, length) float32; ``logit_offset`` is added to the
    logits first (see ``TISModel.logit_offset``).  Holds references to, not copies of,
    the network's modules.
    """

    def __init__(self, network: TISNetwork, logit_offset: float = 0.0, window: int | None = None):
        super().__init__()
        self.logit_offset = float(logit_offset)
        config = network.config
        if not config.reversible:
            raise ValueError("export supports reversible networks (the default)")
        self.network = network
        self.config = config
        blocks = network.performer.net.blocks
        self.attn_norms = nn.ModuleList(b.f.net.norm for b in blocks)
        self.attentions = nn.ModuleList(b.f.net.fn for b in blocks)
        self.ff_norms = nn.ModuleList(b.g.net.norm for b in blocks)
        self.feedforwards = nn.ModuleList(b.g.net.fn.fn for b in blocks)
        local = self.attentions[0].local_attn
        # ``window`` below the network's: a graph for batches whose rows all fit in that many nucleotides (see
        # ``short_window_graph``); the local attention's rotary tables keep the network's absolute positions
        self.trained_window = config.local_window_size
        self.window = int(window or config.local_window_size)
        if not 0 < self.window <= self.trained_window:
            raise ValueError(f"window {self.window} must be in 1..{self.trained_window}")
        if local is not None and (local.look_backward, local.look_forward) != (1, 1):
            raise ValueError("export expects local attention looking one window back and forward")

    @staticmethod
    def rotate_global(t, sin, cos):
        """performer-pytorch's rotary embedding of global-head queries or keys."""
        return t * cos + (t @ _rotation(t.shape[-1], interleaved=True)) * sin

    @staticmethod
    def feature_map(t, projection):
        """Generalized ReLU random features phi(t) of FAVOR+ attention."""
        return torch.relu((t * t.shape[-1] ** -0.25) @ projection.t()) + 0.001

    @staticmethod
    def read_global(q_features, context, k_sum):
        """Linear attention output from query features and the keys' summary."""
        denominator = (q_features * k_sum.unsqueeze(-2)).sum(dim=-1, keepdim=True)
        return (q_features @ context) / denominator

    def _global(self, attn, q, k, v, keep, rotary):
        if not attn.fast_attention.generalized_attention:
            raise ValueError("export supports generalized (ReLU) attention, the default")
        sin, cos = rotary
        projection = attn.fast_attention.projection_matrix
        q = self.feature_map(self.rotate_global(q, sin, cos), projection)
        k = self.feature_map(self.rotate_global(k, sin, cos), projection) * keep
        v = v * keep
        return self.read_global(q, k.transpose(-1, -2) @ v, k.sum(dim=-2))

    def local(self, q, k, v, key_valid):
        """Local attention of (b, h, n, d) heads over windows one back and one forward."""
        b, h, n, d = q.shape
        w = self.window
        padded_n = (n + w - 1) // w * w
        pad = padded_n - n
        q, k, v = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        key_valid = torch.nn.functional.pad(key_valid, (0, pad), value=False)
        windows = padded_n // w
        q = q.reshape(b, h, windows, w, d) * d ** -0.5
        k = k.reshape(b, h, windows, w, d)
        v = v.reshape(b, h, windows, w, d)
        valid = key_valid.reshape(b, 1, windows, w)

        def around(t, fill):
            padded = torch.nn.functional.pad(t, (0, 0, 0, 0, 1, 1), value=fill) if t.dim() == 5 \
                else torch.nn.functional.pad(t, (0, 0, 1, 1), value=fill)
            return torch.cat((padded[:, :, :-2], padded[:, :, 1:-1], padded[:, :, 2:]), dim=3)

        k = around(k, -1.0)
        v = around(v, -1.0)
        # The key mask rides in the score MatMul as an extra dimension (query 1, key 0 or
        # -1e9) instead of a Where/Add over the largest tensor.  -1e9, not -inf, keeps a
        # window without valid keys finite, so padding can never turn into NaN.
        bias = (around(valid.to(torch.float32), 0.0) - 1.0) * 1e9
        # local-attention's relative rotary positions: keys 0..3W-1, queries the last W of them (W: the trained
        # window).  A shorter window w keeps the positions of the trained one's first w keys of each block and
        # first w queries, so that rows of at most w nucleotides (one window, whose neighbours are all masked)
        # see the very same rotations.
        trained = self.trained_window
        positions = torch.cat([torch.arange(w) + block * trained for block in range(3)]).to(torch.float32)
        inv_freq = self.attentions[0].local_attn.rel_pos.inv_freq
        freqs = positions[:, None] * inv_freq[None, :]
        freqs = torch.cat((freqs, freqs), dim=-1)
        q_freqs = freqs[2 * w:]
        rotation = _rotation(d, interleaved=False)
        q = q * q_freqs.cos() + (q @ rotation) * q_freqs.sin()
        k = k * freqs.cos() + (k @ rotation) * freqs.sin()
        q = torch.cat((q, torch.ones_like(q[..., :1])), dim=-1)
        k = torch.cat((k, bias.unsqueeze(-1).expand(b, h, windows, 3 * w, 1)), dim=-1)
        sim = q @ k.transpose(-1, -2)
        out = sim.softmax(dim=-1) @ v
        return out.reshape(b, h, padded_n, d)[:, :, :n]

    def _attention(self, attn, x, keep, key_valid, rotary):
        h, gh = attn.heads, attn.global_heads
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, h, -1).transpose(1, 2) for t in (attn.to_q(x), attn.to_k(x), attn.to_v(x)))
        outs = []
        if gh > 0:
            outs.append(self._global(attn, q[:, :gh], k[:, :gh], v[:, :gh], keep, rotary))
        if h - gh > 0:
            outs.append(self.local(q[:, gh:], k[:, gh:], v[:, gh:], key_valid))
        out = torch.cat(outs, dim=1).transpose(1, 2).reshape(b, n, -1)
        return attn.to_out(out)

    def forward(self, tokens: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        w = self.window
        n = tokens.shape[1]
        # pad once to a multiple of the window: every layer then works on whole windows
        padded_n = (n + w - 1) // w * w
        tokens = torch.nn.functional.pad(tokens, (0, padded_n - n), value=PAD)
        if features is not None:
            features = torch.nn.functional.pad(features, (0, 0, 0, padded_n - n))
        valid = tokens != PAD
        keep = valid[:, None, :, None].to(torch.float32)
        positions = torch.arange(padded_n, dtype=torch.float32, device=tokens.device)
        x = self.network.embed(tokens, features, positions)
        table = sinusoid(positions, self.config.dim_head)
        half = self.config.dim_head // 2
        sin = table[:, :half].repeat_interleave(2, dim=-1)
        cos = table[:, half:].repeat_interleave(2, dim=-1)
        x1, x2 = x, x
        for attn_norm, attn, ff_norm, ff in zip(self.attn_norms, self.attentions, self.ff_norms,
                                                self.feedforwards):
            x1 = x1 + self._attention(attn, attn_norm(x2), keep, valid, (sin, cos))
            x2 = x2 + ff(ff_norm(x1))
        return self.head(x1, x2, features)[:, :n]

    def head(self, x1, x2, features=None):
        """TIS probabilities from the two reversible streams (and the features' direct path)."""
        logits = self.network.output(x1 + x2, features)[..., 0] + self.logit_offset
        return torch.sigmoid(logits)


def stock_probabilities(network: TISNetwork, tokens: list, logit_offset: float = 0.0) -> list:
    """TIS probabilities from the stock performer-pytorch modules, one transcript at a time.

    Trees that read isoform columns compare the transcripts of ``tokens`` with each other.
    """
    network.eval()
    table, trees = network.feature_table(), network.tree_scorer()
    isoforms = score_isoform_index([np.asarray(t) for t in tokens], trees,
                                   lambda t: orf_features(t, table, feature_set_of(network.config.n_features)))
    out = []
    with torch.no_grad():
        for t in tokens:
            x = torch.as_tensor(np.asarray(t, dtype=np.int64))[None]
            features = None
            if network.config.n_features:
                features = orf_features(np.asarray(t), table, feature_set_of(network.config.n_features))
                alike = isoforms.columns(np.asarray(t)) if isoforms is not None else None
                features = torch.from_numpy(with_tree_column(features, trees, alike))[None]
            out.append(torch.sigmoid(network(x, features=features)[0, :, 0] + logit_offset).numpy())
    return out


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
        predictor run long transcripts in pieces (see ``export_layers``).
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
    if layer_graphs:
        from .export_layers import export_layer_graphs

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
    with torch.no_grad():
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
    named = dict(network.named_parameters())
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
    if isinstance(declared.get("hexamer_log_odds"), list):
        network.hexamer_log_odds.copy_(torch.tensor(declared["hexamer_log_odds"], dtype=torch.float32))
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


def check_parity(network: TISNetwork, model_path: str | Path, tokens: list, tolerance: float = 1e-4,
                 logit_offset: float = 0.0) -> float:
    """Largest |p_torch - p_onnx| over transcripts scored alone, in one padded batch and,
    when the layer graphs are beside the model, layer by layer in pieces.

    Raises
    ------
    AssertionError
        When the difference exceeds ``tolerance``.
    """
    from .predict import Predictor

    expected = stock_probabilities(network, tokens, logit_offset)
    predictor = Predictor(str(model_path), device="cpu")
    isoforms = predictor.isoform_index(tokens)  # the transcripts are each other's isoform context, as above
    worst = 0.0
    for t, p in zip(tokens, expected):
        worst = max(worst, float(np.abs(predictor.predict_batch([t], isoforms)[0] - p).max()))
    for got, p in zip(predictor.predict_batch(tokens, isoforms), expected):
        worst = max(worst, float(np.abs(got - p).max()))
    if predictor.layered is not None:
        predictor.layered.piece = 1024  # several pieces even for short transcripts
        for t, p in zip(tokens, expected):
            worst = max(worst, float(np.abs(predictor.layered.predict(t, isoforms) - p).max()))
    if worst > tolerance:
        raise AssertionError(f"ONNX and PyTorch differ by {worst:.3g} (> {tolerance})")
    return worst


def _input_features(network: TISNetwork) -> dict:
    """What the predictor needs to compute a network's ``features`` input."""
    declared = {"set": feature_set_of(network.config.n_features),
                "names": list(FEATURE_NAMES[:network.config.n_features]),
                "hexamer_log_odds": [round(float(v), 4) for v in network.feature_table()]}
    if network.config.tree_blend:
        trees, stage_one = network.trees()
        if not trees:
            raise InputError("this network blends trees but has none fitted (prefit its feature head with trees)")
        declared["names"].append(TREE_COLUMN_NAME)
        declared["tree_blend"] = network.config.tree_blend
        # zlib shrinks serialized trees about 5-fold: most of their bytes are node ids and repeated mode names
        declared["trees"] = base64.b64encode(zlib.compress(trees, 9)).decode("ascii")
        if stage_one:
            declared["trees_stage_one"] = base64.b64encode(zlib.compress(stage_one, 9)).decode("ascii")
        if network.tree_scorer().isoform_columns:
            declared["isoform_columns"] = network.tree_scorer().isoform_names
    return declared


def build_metadata(network: TISNetwork, name: str, description: str = "", extra: dict | None = None) -> dict:
    """Metadata stored with an exported model."""
    return {
        "name": name,
        "description": description,
        "format_version": 1,
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


def run(args) -> int:
    """The ``export`` command."""
    from .prepare import load_dataset
    from .train import load_tis_model

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
