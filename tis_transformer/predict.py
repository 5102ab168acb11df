"""Run an exported TIS model with onnxruntime: sessions, devices and batching."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np

from .batch import length_batches
from .models import resolve_model
from .read import InputError
from .tokens import PAD

log = logging.getLogger("tis_transformer")

# Padded nucleotides per batch.  Larger batches stop paying off on CPU well
# before this, while a GPU wants them as large as memory allows.
DEFAULT_MAX_TOKENS = {"cpu": 16_384, "cuda": 262_144}
MAX_PER_BATCH = 256


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
        if inputs != ["tokens"]:
            raise InputError(f"{self.path}: not a TIS Transformer model (inputs {inputs})")
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        if kind == "cuda" and self.device != "cuda":
            log.info("CUDA provider unavailable at run time; falling back to CPU")
        self.max_tokens = int(max_tokens or DEFAULT_MAX_TOKENS[self.device])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def predict_batch(self, tokens: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities for transcripts run together in one padded batch."""
        length = max(len(t) for t in tokens)
        batch = np.full((len(tokens), length), PAD, dtype=np.int64)
        for row, t in enumerate(tokens):
            batch[row, : len(t)] = t
        probabilities = self.session.run(None, {"tokens": batch})[0]
        return [probabilities[row, : len(t)].astype(np.float32) for row, t in enumerate(tokens)]

    def predict(self, tokens: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities for every transcript, batched by length; input order kept."""
        out: list = [None] * len(tokens)
        lengths = np.array([len(t) for t in tokens])
        for members in length_batches(lengths, self.max_tokens, MAX_PER_BATCH):
            for index, probabilities in zip(members, self.predict_batch([tokens[i] for i in members])):
                out[index] = probabilities
        return out

    def predict_records(self, records: Iterable[tuple[str, np.ndarray]],
                        chunk_nt: int = 1_000_000) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Stream ``(id, tokens, probabilities)`` for a stream of ``(id, tokens)``.

        Records are gathered into chunks of about ``chunk_nt`` nucleotides so
        that each chunk can be sorted into length buckets; output keeps input
        order.
        """
        chunk: list = []
        size = 0
        for record in records:
            chunk.append(record)
            size += len(record[1])
            if size >= chunk_nt:
                yield from self._run_chunk(chunk)
                chunk, size = [], 0
        if chunk:
            yield from self._run_chunk(chunk)

    def _run_chunk(self, chunk: list) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        probabilities = self.predict([tokens for _, tokens in chunk])
        for (name, tokens), p in zip(chunk, probabilities):
            yield name, tokens, p

