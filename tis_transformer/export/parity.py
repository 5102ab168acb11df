"""Proof that an exported ONNX model computes what the PyTorch network computes (``train`` extra)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tis_transformer.export.exportable import stock_probabilities
from tis_transformer.training.network import TISNetwork

log = logging.getLogger("tis_transformer")


def check_parity(network: TISNetwork, model_path: str | Path, tokens: list, tolerance: float = 1e-4,
                 logit_offset: float = 0.0) -> float:
    """Largest |p_torch - p_onnx| over transcripts scored alone, in one padded batch and,
    when the layer graphs are beside the model, layer by layer in pieces.

    Raises
    ------
    AssertionError
        When the difference exceeds ``tolerance``.
    """
    from tis_transformer.predictor.runner import Predictor

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
