"""The ``models`` command: the shipped models and their metadata."""

from __future__ import annotations

import json

from tis_transformer.predictor.registry import DEFAULT_MODEL, MODELS_DIR, shipped_models


def run(args=None) -> int:
    """List the shipped models, one block each; exit status 1 when there are none."""
    return print_models()


def print_models() -> int:
    """The ``models`` command: one block per shipped model."""
    models = shipped_models()
    if not models:
        print("no shipped models found in", MODELS_DIR)
        return 1
    for name, meta in models.items():
        default = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name}{default}: {MODELS_DIR / (name + '.onnx')}")
        for key in ("description", "trained_on", "validated_on", "held_out", "parameters",
                    "file_size", "sha256", "package_version", "exported"):
            if key in meta:
                print(f"  {key}: {meta[key]}")
        _print_metrics(meta, "")
        variant = MODELS_DIR / f"{name}.alone.onnx"
        if variant.exists():
            print(f"  alone variant (used with --alone): {variant}")
            card = variant.with_suffix(".json")
            if card.exists():
                _print_metrics(json.loads(card.read_text()), "alone ")
    return 0


def _print_metrics(meta: dict, label: str) -> None:
    for chrom, metrics in meta.get("metrics", {}).items():
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        print(f"  {label}metrics {chrom}: {shown}")
