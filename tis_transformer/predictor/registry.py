"""The models shipped inside the package, and finding a model by name or path."""

from __future__ import annotations

import glob
import json
from pathlib import Path

from tis_transformer.predictor.input_files import data_name
from tis_transformer.predictor.read import InputError

# the shipped models are package data beside the subpackages
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = "human"
# the model format this release reads and writes; 2: feature sets orf-v5 and orf-v6, two stages of trees reading
# isoforms, networks with or without transformer layers
FORMAT_VERSION = 2


def shipped_models() -> dict[str, dict]:
    """Metadata of every shipped model, by name."""
    models = {}
    for meta_path in sorted(MODELS_DIR.glob("*.json")):
        # NAME.alone.json describes a model's alone variant, which goes with NAME rather than standing alone
        if "." not in meta_path.stem and meta_path.with_suffix(".onnx").exists():
            models[meta_path.stem] = json.loads(meta_path.read_text())
    return models


def held_out_model(chromosome: str) -> str | None:
    """Name of a shipped model trained and validated without ``chromosome`` (e.g. ``chr20``).

    The default model wins when it qualifies; otherwise the first by name.
    None when no shipped model held that chromosome out.
    """
    candidates = [name for name, meta in shipped_models().items()
                  if chromosome in {data_name(h) for h in meta.get("held_out", [])}]
    if DEFAULT_MODEL in candidates:
        return DEFAULT_MODEL
    return candidates[0] if candidates else None


def resolve_model(model: str | None) -> Path:
    """Path of an ONNX model given as a shipped model name or a file path.

    Parameters
    ----------
    model : str or None
        A shipped model name (see ``tis-transformer models``), a path to an
        ``.onnx`` file, or None for the default shipped model.

    Raises
    ------
    InputError
        When neither a shipped model nor a file of that name exists.
    """
    name = model or DEFAULT_MODEL
    shipped = MODELS_DIR / f"{name}.onnx"
    if "/" not in name and shipped.exists():
        return shipped
    path = Path(name)
    if path.is_file():
        return path
    known = ", ".join(shipped_models()) or "none"
    raise InputError(f"{name}: no such model file or shipped model (shipped: {known})")


def paired_files(path: str | Path) -> list:
    """The files an ONNX model at ``path`` is made of or paired with (see ``runner.Predictor.files``)."""
    path = Path(path)
    stem = path.stem  # as the predictor finds them: path.with_suffix(".alone.onnx") and so on
    pair = stem[:-len(".alone")] if stem.endswith(".alone") else stem  # a model and its alone variant
    names = [path.name] + [name for name in (pair + ".onnx", pair + ".json", pair + ".alone.onnx",
                                             pair + ".alone.json", stem + ".json") if name != path.name]
    names += [stem + ".summary.onnx", stem + ".step.onnx"]
    files = [path.parent / name for name in dict.fromkeys(names)]
    files += sorted(path.parent.glob(f"{glob.escape(stem)}.window*.onnx"))
    return files
