"""Run an exported TIS model with onnxruntime: sessions, devices and batching."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from tis_transformer.predictor.batch import batched_predictions
from tis_transformer.predictor.isoforms import IsoformIndex
from tis_transformer.predictor.model_inputs import ModelInputs
from tis_transformer.predictor.read import InputError
from tis_transformer.predictor.registry import FORMAT_VERSION, paired_files, resolve_model
from tis_transformer.predictor.tokens import PAD

log = logging.getLogger("tis_transformer")

# Padded nucleotides per batch.  Larger batches stop paying off on CPU well
# before this, while a GPU wants them as large as memory allows.
DEFAULT_MAX_TOKENS = {"cpu": 8_192, "cuda": 262_144}
MAX_PER_BATCH = 256
# Longer transcripts go layer by layer in pieces (see export_layers) when the
# model comes with its layer graphs: memory then stays flat in length.
LONG_TRANSCRIPT = 20_000
PIECE = 8_192


def _providers(device: str) -> tuple[list, str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        if hasattr(ort, "preload_dlls"):
            try:
                ort.preload_dlls()
            except Exception:  # a CUDA runtime that cannot load falls back below
                pass
        # TF32 matmuls move probabilities by ~2e-4; full fp32 costs nothing here.
        return [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"], "cuda"
    if device == "cuda":
        raise InputError("--device cuda: onnxruntime has no CUDA execution provider here "
                         "(install onnxruntime-gpu instead of onnxruntime, see README)")
    return ["CPUExecutionProvider"], "cpu"


# card fields a model and its alone variant share
_SHARED_BY_PAIRS = ("trained_on", "validated_on", "held_out")


def card_file_names(metadata: dict, key: str) -> list | None:
    """The file names (paths dropped: runs may spell a folder differently) a card lists under ``key``, or None."""
    try:
        names = json.loads(metadata[key])
    except (KeyError, ValueError, TypeError):
        return None
    return sorted(Path(str(name)).name for name in names) if isinstance(names, list) else None


def card_name(model) -> str:
    """The model name its metadata records (a JSON string), or ""."""
    try:
        name = json.loads(model.metadata.get("name", '""'))
    except ValueError:
        return ""
    return name if isinstance(name, str) else ""


class Predictor:
    """An ONNX TIS model ready to score transcripts.

    Parameters
    ----------
    model : str, optional
        Shipped model name or path to an ``.onnx`` file; default the shipped
        human model.
    device : {"auto", "cpu", "cuda"}
        Execution provider; ``auto`` takes CUDA when onnxruntime-gpu finds a GPU.
    threads : int
        CPU threads for onnxruntime (0: all cores).
    max_tokens : int, optional
        Padded nucleotides per batch.
    """

    def __init__(self, model: str | None = None, device: str = "auto", threads: int = 0,
                 max_tokens: int | None = None):
        import onnxruntime as ort

        self.path = resolve_model(model)
        providers, kind = _providers(device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own types for bad files
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InputError(f"{self.path}: not a usable ONNX model ({message})") from None
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs not in (["tokens"], ["tokens", "features"]):
            raise InputError(f"{self.path}: not a TIS Transformer model (inputs {inputs})")
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        if kind == "cuda" and self.device != "cuda":
            log.info("CUDA provider unavailable at run time; falling back to CPU")
        self.max_tokens = int(max_tokens or DEFAULT_MAX_TOKENS[self.device])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        version = self.metadata.get("format_version")
        if version is not None and version != str(FORMAT_VERSION):
            raise InputError(f"{self.path}: model format version {version}; this release reads version "
                             f"{FORMAT_VERSION} (re-export the model with this release's tis-transformer export)")
        # what the model reads besides its tokens, as its metadata declares it
        self.inputs: ModelInputs | None = (ModelInputs.from_metadata(
            json.loads(self.metadata.get("input_features", "{}")), self.path) if "features" in inputs else None)
        self.layered = _LayeredRunner.open(self.path, self.metadata, options, providers, self.inputs)
        self.short = self._short_window_sessions(options, providers)
        self._opening = (device, threads, max_tokens)
        self._alone: Predictor | None | bool = False  # False: not looked for yet

    @property
    def alone(self) -> Predictor | None:
        """The model's alone variant, ``STEM.alone.onnx`` beside it, or None; opened when first asked for.

        A model whose trees compare isoforms may have a variant fitted without
        them: scoring transcripts alone, it ranks them better than the same
        trees given empty isoform columns.  Runs that compare isoforms never
        open it (a second session costs start-up time).
        """
        if self._alone is False:
            variant = self.path.with_suffix(".alone.onnx")
            found = self.reads_isoforms and not self.path.name.endswith(".alone.onnx") and variant.is_file()
            self._alone = Predictor(str(variant), *self._opening) if found else None
            if self._alone is not None:
                checked, self._alone = self._alone, False  # a refused variant is refused again when asked again
                self._alone = self._check_variant(checked)
            elif self.reads_isoforms:
                log.warning("%s has no alone variant beside it (%s): scoring transcripts alone with its isoform "
                            "trees given empty columns, which ranks them worse", self.path.name, variant.name)
        return self._alone

    def _check_variant(self, variant: "Predictor") -> "Predictor":
        """Refuse an alone variant that reads isoforms or whose card names another model (a mismatched pair)."""
        if variant.reads_isoforms:
            raise InputError(f"{variant.path}: a model's alone variant must not read isoform columns")
        name, its = card_name(self), card_name(variant)
        if name and its and its != name + ".alone":
            raise InputError(f"{variant.path}: model {its!r} is not the alone variant of {name!r} "
                             f"({self.path.name}, whose variant is {name + '.alone'!r}); pair each model with its own")
        for key in _SHARED_BY_PAIRS:  # a pair is fitted on the same files (crossval's folds share their names)
            ours, theirs = card_file_names(self.metadata, key), card_file_names(variant.metadata, key)
            if ours is not None and theirs is not None and ours != theirs:
                raise InputError(f"{variant.path}: {key} differs from {self.path.name}'s "
                                 f"({', '.join(theirs)} against {', '.join(ours)}): not its alone variant")
        return variant

    def scoring_alone(self) -> Predictor:
        """The model that scores transcripts without an isoform index: the alone variant if any, else itself."""
        return self.alone or self

    def _short_window_sessions(self, options, providers) -> list:
        """``(window, session)`` of the short-window graphs beside the model, narrowest first.

        A batch whose rows all fit in one such window runs there: the same
        function at a fraction of the cost (``export.export_short_window_graphs``).
        """
        import onnxruntime as ort

        architecture = json.loads(self.metadata.get("architecture", "{}"))
        trained = int(architecture.get("local_window_size", 0))
        sessions = []
        if architecture.get("depth") == 0:  # no transformer layers, no windows: files of that name are not its own
            return sessions
        for graph in self.path.parent.glob(f"{self.path.stem}.window*.onnx"):
            window = graph.name[len(self.path.stem) + len(".window"):-len(".onnx")]
            if not window.isdigit() or not 0 < int(window) < trained:
                continue
            try:
                sessions.append((int(window), ort.InferenceSession(str(graph), options, providers=providers)))
            except Exception as error:
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise InputError(f"{graph}: not a usable ONNX model ({message})") from None
        return sorted(sessions, key=lambda pair: pair[0])

    @property
    def label(self) -> str:
        """What output headers name the model by: its file name without ``.onnx``."""
        return self.path.stem

    @property
    def members(self) -> list:
        """The single models whose probabilities this gives: itself (an ``Ensemble`` has several)."""
        return [self]

    @property
    def files(self) -> list:
        """Every file beside the model that belongs to it, existing or not, which no output may replace.

        The model, its card, its alone variant and that one's card, and its
        layer and short-window graphs: overwriting any of them breaks the
        model for the next run.
        """
        return paired_files(self.path)

    @property
    def uses_features(self) -> bool:
        """Whether the model reads input features besides its tokens."""
        return self.inputs is not None

    @property
    def reads_isoforms(self) -> bool:
        """Whether the model compares each transcript's starts with the other transcripts of its input."""
        return self.inputs is not None and self.inputs.reads_isoforms

    def isoform_index(self, transcripts) -> IsoformIndex | None:
        """The index of an input's transcripts to pass to ``predict``, or None when the model reads none.

        ``transcripts``: the input's token arrays, as a sequence or as a
        function returning a new iterator over them (the input is read twice:
        once for its starts, once for the first-stage scores of its trees).
        """
        return self.inputs.isoform_index(transcripts) if self.inputs is not None else None

    def predict_batch(self, tokens: list[np.ndarray], isoforms: IsoformIndex | None = None) -> list[np.ndarray]:
        """Probabilities for transcripts run together in one padded batch (``isoforms``: see ``predict``)."""
        length = max(len(t) for t in tokens)
        batch = np.full((len(tokens), length), PAD, dtype=np.int64)
        for row, t in enumerate(tokens):
            batch[row, : len(t)] = t
        feeds = {"tokens": batch}
        if self.inputs is not None:
            feeds["features"] = self.inputs.padded(tokens, length, isoforms)
        session = next((s for window, s in self.short if length <= window), self.session)
        probabilities = session.run(None, feeds)[0]
        return [probabilities[row, : len(t)].astype(np.float32) for row, t in enumerate(tokens)]

    def predict(self, tokens: list[np.ndarray], isoforms: IsoformIndex | None = None) -> list[np.ndarray]:
        """Probabilities for every transcript, batched by length; input order kept.

        ``isoforms`` (``isoform_index`` of the whole input, which may hold
        more than ``tokens``) lets a model that reads isoform columns compare
        each start with the same start in the input's other transcripts;
        None scores each transcript as if it were alone (with the model's
        alone variant, ``STEM.alone.onnx``, when one lies beside it).
        """
        if isoforms is None and self.scoring_alone() is not self:
            self.alone.max_tokens = self.max_tokens
            return self.alone.predict(tokens)
        out: list = [None] * len(tokens)
        lengths = np.array([len(t) for t in tokens])
        short = np.arange(len(tokens))
        if self.layered is not None:
            for index in np.flatnonzero(lengths > LONG_TRANSCRIPT):
                out[index] = self.layered.predict(tokens[index], isoforms)
            short = np.flatnonzero(lengths <= LONG_TRANSCRIPT)
        batched = batched_predictions([tokens[i] for i in short], lambda batch: self.predict_batch(batch, isoforms),
                                      self.max_tokens, MAX_PER_BATCH)
        for index, probabilities in zip(short, batched):
            out[index] = probabilities
        return out

    def predict_records(self, records: Iterable[tuple[str, np.ndarray]], isoforms: IsoformIndex | None = None,
                        chunk_nt: int = 1_000_000) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Stream ``(id, tokens, probabilities)`` for a stream of ``(id, tokens)``.

        Records are gathered into chunks of about ``chunk_nt`` nucleotides so
        that each chunk can be sorted into length buckets; output keeps input
        order.  ``isoforms`` is the ``isoform_index`` of all the records (see
        ``predict``), built beforehand because the stream is read once.
        """
        return predict_in_chunks(self.predict, records, isoforms, chunk_nt)


def predict_in_chunks(predict, records: Iterable[tuple[str, np.ndarray]], isoforms,
                      chunk_nt: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(id, tokens, probabilities)`` of a stream of records, ``predict`` run on chunks of about ``chunk_nt`` nt."""
    chunk: list = []
    size = 0
    for record in records:
        chunk.append(record)
        size += len(record[1])
        if size >= chunk_nt:
            yield from _predict_chunk(predict, chunk, isoforms)
            chunk, size = [], 0
    if chunk:
        yield from _predict_chunk(predict, chunk, isoforms)


def _predict_chunk(predict, chunk: list, isoforms) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    probabilities = predict([tokens for _, tokens in chunk], isoforms)
    for (name, tokens), p in zip(chunk, probabilities):
        yield name, tokens, p


class _LayeredRunner:
    """Runs a model layer by layer over pieces of one long transcript.

    Uses the ``STEM.summary.onnx`` and ``STEM.step.onnx`` graphs written
    beside a model by the export step; see ``tis_transformer.export.layers``
    for why this computes the same function as the whole-transcript graph.
    """

    def __init__(self, summary, step, architecture: dict, piece: int = PIECE, inputs: ModelInputs | None = None):
        self.summary, self.step = summary, step
        self.inputs = inputs
        self.window = int(architecture["local_window_size"])
        self.depth = int(architecture["depth"])
        self.dim = int(architecture["dim"])
        self.piece = max(self.window, piece // self.window * self.window)

    @classmethod
    def open(cls, path: Path, metadata: dict, options, providers,
             inputs: ModelInputs | None = None) -> "_LayeredRunner | None":
        """The runner for a model, or None when its layer graphs are not beside it."""
        import onnxruntime as ort

        summary_path, step_path = path.with_suffix(".summary.onnx"), path.with_suffix(".step.onnx")
        if not (summary_path.exists() and step_path.exists() and "architecture" in metadata):
            return None
        if json.loads(metadata["architecture"]).get("depth") == 0:  # no layers: the whole graph takes any length
            return None
        try:
            summary = ort.InferenceSession(str(summary_path), options, providers=providers)
            step = ort.InferenceSession(str(step_path), options, providers=providers)
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InputError(f"{path}: its layer graphs are not usable ({message})") from None
        for graph, session, needed in ((summary_path, summary, {"layer", "start", "x2", "valid"}),
                                       (step_path, step, {"layer", "start", "x1_halo", "context", "k_sum"})):
            if not needed <= {i.name for i in session.get_inputs()}:  # e.g. another model written under its name
                raise InputError(f"{graph}: not a layer graph of {path.name} (inputs "
                                 f"{[i.name for i in session.get_inputs()]}); export the model again")
        return cls(summary, step, json.loads(metadata["architecture"]), inputs=inputs)

    def predict(self, tokens: np.ndarray, isoforms: IsoformIndex | None = None) -> np.ndarray:
        """Probabilities for one transcript (``isoforms``: see ``Predictor.predict``)."""
        w, n = self.window, len(tokens)
        padded = -(-n // w) * w
        # arrays in halo coordinates: index i holds position i - w
        halo_tokens = np.full(padded + 2 * w, PAD, dtype=np.int64)
        halo_tokens[w:w + n] = tokens
        valid = np.zeros(padded + 2 * w, dtype=np.float32)
        valid[w:w + n] = 1.0
        halo_features = None
        if self.inputs is not None:
            alike = isoforms.columns(tokens) if isoforms is not None and self.inputs.reads_isoforms else None
            features = self.inputs.with_trees(tokens, alike)
            halo_features = np.zeros((padded + 2 * w, features.shape[1]), dtype=np.float32)
            halo_features[w:w + n] = features
        x1 = np.zeros((padded + 2 * w, self.dim), dtype=np.float32)
        x2 = np.zeros_like(x1)
        probabilities = np.empty(padded, dtype=np.float32)
        starts = range(0, padded, self.piece)
        for layer in range(self.depth):
            layer_input = np.array(layer, dtype=np.int64)
            context = k_sum = 0.0
            for start in starts:
                stop = min(start + self.piece, padded)
                feeds = {
                    "layer": layer_input, "start": np.array(start, dtype=np.int64),
                    "tokens": halo_tokens[None, w + start:w + stop], "x2": x2[None, w + start:w + stop],
                    "valid": valid[None, w + start:w + stop]}
                if halo_features is not None:
                    feeds["features"] = halo_features[None, w + start:w + stop]
                c, k = self.summary.run(None, feeds)
                context, k_sum = context + c, k_sum + k
            new_x1, new_x2 = np.zeros_like(x1), np.zeros_like(x2)
            for start in starts:
                stop = min(start + self.piece, padded)
                feeds = {
                    "layer": layer_input, "start": np.array(start, dtype=np.int64),
                    "tokens_halo": halo_tokens[None, start:stop + 2 * w],
                    "x1_halo": x1[None, start:stop + 2 * w], "x2_halo": x2[None, start:stop + 2 * w],
                    "valid_halo": valid[None, start:stop + 2 * w], "context": context, "k_sum": k_sum}
                if halo_features is not None:
                    feeds["features_halo"] = halo_features[None, start:stop + 2 * w]
                out1, out2, p = self.step.run(None, feeds)
                new_x1[w + start:w + stop] = out1[0]
                new_x2[w + start:w + stop] = out2[0]
                probabilities[start:stop] = p[0]
            x1, x2 = new_x1, new_x2
        return probabilities[:n]
