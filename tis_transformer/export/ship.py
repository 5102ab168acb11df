"""A trained TIS model to a usable ONNX model: export, parity proof, held-out scores, model card; written atomically.

Shared by ``tis-transformer train -o`` and ``export/ship_model.py`` (the
shipped models). The files written are those the predictor loads: ``STEM.onnx``,
its layer graphs ``STEM.summary.onnx`` and ``STEM.step.onnx`` for long
transcripts, the short-window graphs ``STEM.windowW.onnx`` and the model card
``STEM.json`` (the metadata, also inside the ONNX model).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from tis_transformer.cli.evaluate import score_dataset
from tis_transformer.export.exportable import SHORT_WINDOWS
from tis_transformer.export.onnx_model import attach_metadata, build_metadata, export_onnx
from tis_transformer.export.parity import check_parity
from tis_transformer.predictor.read import InputError
from tis_transformer.training.datasets import Dataset

__all__ = ["model_files", "parity_transcripts", "score_files", "check_output", "ship", "staged_beside"]

log = logging.getLogger("tis_transformer")


def model_files(path: str | Path, local_window_size: int) -> list[Path]:
    """Every file of an exported model at ``path``: the graph, its layer and short-window graphs, the card."""
    path = Path(path)
    suffixes = [".onnx", ".summary.onnx", ".step.onnx", ".json"]
    suffixes += [f".window{w}.onnx" for w in SHORT_WINDOWS if w < local_window_size]
    return [path.with_suffix(s) for s in suffixes]


def parity_transcripts(data: Dataset) -> list:
    """Real transcripts at ~100 nt, 1 kb, 5 kb, 20 kb and the longest in the data, and the 5 kb one's first half.

    The half shares the 5 kb transcript's starts, so parity covers models that compare isoforms too.
    """
    lengths = data.lengths
    picks = [int(np.argmin(np.abs(lengths - t))) for t in (100, 1000, 5000, 20_000)] + [int(np.argmax(lengths))]
    tokens = [data.transcript(i)[0] for i in picks]
    return tokens + [tokens[2][: len(tokens[2]) // 2]]


def score_files(onnx_path: str | Path, files: dict, alone: bool = False) -> tuple[dict, dict]:
    """Held-out metrics and CPU speed of an ONNX model, one entry per data set.

    Parameters
    ----------
    files : dict
        ``{name: Dataset}``; each is one input, its transcripts each other's
        isoform context, as a FASTA given to ``impute``.
    alone : bool
        Score each transcript alone, as ``impute --alone`` does.
    """
    from tis_transformer.predictor.runner import Predictor

    predictor = Predictor(str(onnx_path), device="cpu")
    metrics, speed = {}, {}
    for name, data in files.items():
        transcripts = [data.transcript(i)[0] for i in range(len(data))]
        started = time.perf_counter()
        probabilities = predictor.predict(transcripts, None if alone else predictor.isoform_index(transcripts))
        seconds = time.perf_counter() - started
        metrics[name] = score_dataset(data, probabilities)
        speed[name] = round(data.tokens.size / max(seconds, 1e-9))
        log.info("%s%s: %s, %d nt/s", name, ", each transcript alone" if alone else "", json.dumps(metrics[name]),
                 speed[name])
    return metrics, speed


def check_output(path: str | Path, inputs: list) -> Path:
    """Refuse, before any training, an output that is not ``.onnx``, cannot be written, or is an input.

    Raises
    ------
    InputError
        One line saying why.
    """
    path = Path(path)
    if path.suffix != ".onnx":
        raise InputError(f"{path}: the model's name must end in .onnx")
    graph = re.search(r"\.(summary|step|window\d+)\.onnx$", path.name)
    if graph:  # the predictor reads such a file as a graph of the model named without it
        raise InputError(f"{path}: a name ending in .{graph.group(1)}.onnx is a graph of the model "
                         f"{path.name[:graph.start()]}.onnx; choose another name")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise InputError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{path}: folder {folder} is not writable")
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    targets = {p.resolve() for p in model_files(path, 10**9)}
    for given in inputs:
        if given is not None and Path(given).exists() and Path(given).resolve() in targets:
            raise InputError(f"{path}: would write over the input {given}")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{path}: exists and is not writable")
    return path


def ship(model, output: str | Path, description: str, extra: dict, parity_data: Dataset,
         held_out: dict, validation: dict | None = None, alone=None) -> dict:
    """Export ``model`` (a ``TISModel``) to ``output`` with everything the predictor loads beside it.

    The files are written in a temporary folder beside ``output`` and moved
    into place only once the parity check has passed and the held-out sets
    are scored: a failure or an interrupt leaves no partial model.

    Parameters
    ----------
    description : str
        Free text for the metadata.
    extra : dict
        More metadata (training data, settings, times).
    parity_data : Dataset
        Transcripts to prove parity on (``parity_transcripts`` picks from them).
    held_out : dict
        ``{name: Dataset}`` scored through the ONNX predictor into ``metrics``.
    validation : dict, optional
        ``{name: Dataset}`` scored likewise into ``validation_metrics``.
    alone : tuple, optional
        ``(model, description, extra)`` of the model's alone variant, written
        as ``STEM.alone.onnx`` with ``output`` and scored on the same sets, each
        transcript alone. Without it an ``STEM.alone.onnx`` of an earlier model
        is removed, as the predictor would pair it with this one.

    Returns
    -------
    dict
        The metadata written (the model card); with ``alone``, the variant's
        card under ``alone_variant``.
    """
    with staged_beside(Path(output)) as staged:
        final = _stage(model, staged, description, extra, parity_data, held_out, validation, alone=False)
        if alone is not None:
            final["alone_variant"] = _stage(alone[0], staged.with_suffix(".alone.onnx"), *alone[1:], parity_data,
                                            held_out, validation, alone=True)
    return final


@contextlib.contextmanager
def staged_beside(output: Path):
    """A path in a temporary folder beside ``output`` to write a model to; on success every file written there
    (the model, its graphs, its card, an alone variant) moves into place together, with ``output``'s name."""
    name = output.name[: -len(".onnx")]
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=output.resolve().parent) as tmp:
        staged = Path(tmp) / output.name
        yield staged
        # the model first (_move_all names the others after it); a network without transformer layers has no
        # layer or window graphs, a model without an alone variant no .alone files
        alone = [staged.with_suffix(".alone.onnx"), staged.with_suffix(".alone.json")]
        _move_all([p for p in model_files(staged, 10**9) + alone if p.exists()], output)


def _stage(model, staged: Path, description: str, extra: dict, parity_data: Dataset, held_out: dict,
           validation: dict | None, alone: bool) -> dict:
    """Export, prove parity, score and attach the card: one model's files at ``staged``."""
    meta = build_metadata(model.network, staged.name[: -len(".onnx")], description, extra)
    started = time.perf_counter()
    export_onnx(model.network, staged, meta, model.logit_offset)
    tokens = parity_transcripts(parity_data)
    worst = check_parity(model.network, staged, tokens, logit_offset=model.logit_offset)
    meta["parity"] = {"max_abs_diff": worst, "lengths": [len(t) for t in tokens]}
    log.info("parity %.2e on lengths %s", worst, [len(t) for t in tokens])
    if held_out:
        meta["metrics"], meta["cpu_nt_per_s"] = score_files(staged, held_out, alone)
    if validation:
        meta["validation_metrics"] = score_files(staged, validation, alone)[0]
    meta["export_seconds"] = round(time.perf_counter() - started, 1)
    return attach_metadata(staged, meta)


def _move_all(staged: list[Path], output: Path) -> None:
    """Move the staged files beside ``output`` (same file system: each a rename); undo on failure."""
    moved = []
    try:
        for source in staged:
            target = output.with_name(output.name[: -len(".onnx")] + source.name[len(staged[0].stem):])
            os.replace(source, target)
            moved.append(target)
        written = {p.name for p in moved}
        earlier = model_files(output, 10**9) + [output.with_suffix(".alone.onnx"), output.with_suffix(".alone.json")]
        for stale in earlier:  # a window graph or alone variant of an earlier model would be loaded with this one
            if stale.name not in written and stale.exists():
                stale.unlink()
                log.warning("removed %s, an earlier model's file the predictor would pair with %s", stale, output)
    except BaseException:
        for target in moved:
            with contextlib.suppress(OSError):
                target.unlink()
        raise


def copy_model(path: Path, out_dir: Path, name: str, local_window_size: int) -> None:
    """Copy an exported model's files into ``out_dir`` as ``NAME.*`` (the shipped models' folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for source in model_files(path, 10**9):
        target = out_dir / (name + source.name[len(path.stem):])
        if source.exists():
            shutil.copy(source, target)
        else:  # a graph this model does not have (no transformer layers, a wider window): an earlier model's goes
            target.unlink(missing_ok=True)
