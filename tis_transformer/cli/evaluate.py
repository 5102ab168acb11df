"""The ``evaluate`` command: pooled TIS metrics of a model on annotated transcripts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from tis_transformer.predictor.input_files import data_name
from tis_transformer.predictor.metrics import atg_mask, tis_metrics, top_1_accuracy
from tis_transformer.training.datasets import check_distinct_names, Dataset, load_dataset
from tis_transformer.predictor.read import InputError

log = logging.getLogger("tis_transformer")

COLUMNS = ("transcripts", "tis", "roc_auc", "pr_auc", "roc_auc_atg", "pr_auc_atg", "top_k", "top_1")


def score_dataset(data: Dataset, probabilities: list[np.ndarray]) -> dict:
    """Metrics pooled over every nucleotide of every transcript in ``data``."""
    scores = np.concatenate(probabilities) if probabilities else np.zeros(0)
    atg = np.concatenate([atg_mask(data.transcript(i)[0]) for i in range(len(data))])
    result = tis_metrics(data.labels(), scores, atg)
    result["transcripts"] = len(data)
    labels = [data.transcript(i)[1] for i in range(len(data))]
    result["top_1"] = top_1_accuracy(labels, probabilities)
    result["coding_transcripts"] = sum(bool(np.any(y)) for y in labels)
    return result


def _onnx_scorer(model: str, device: str, threads: int, alone: bool, data: list):
    from tis_transformer.predictor.runner import Predictor

    predictor = Predictor(model, device=device, threads=threads)
    log.info("model %s on %s%s", predictor.path.name, predictor.device.upper(), ", each transcript alone" * alone)
    _warn_if_trained_on(predictor.metadata, data)
    if alone:
        return lambda tokens: predictor.predict(tokens)  # with the model's alone variant when it has one
    # a data file is one input: its transcripts are each other's isoform context, as in a FASTA given to impute
    return lambda tokens: predictor.predict(tokens, predictor.isoform_index(tokens))


def _warn_if_trained_on(metadata: dict, data: list) -> None:
    """Metrics on a file the model was trained or validated on are not held out: say so (matched by file name:
    cards record bare names or paths)."""
    from tis_transformer.predictor.runner import card_file_names

    def stems(key: str) -> set:
        return {data_name(name) for name in card_file_names(metadata, key) or []}

    trained, validated = stems("trained_on"), stems("validated_on")
    for path in data:
        stem = data_name(path)
        if stem in trained:
            log.warning("%s: the model's card lists %s among its training files: these metrics are not held out",
                        path, stem)
        elif stem in validated:
            log.warning("%s: the model's card lists %s as its validation file, which chose the model: these "
                        "metrics are not held out", path, stem)


def _checkpoint_scorer(checkpoint: str, alone: bool):
    import torch

    from tis_transformer.predictor.batch import batched_predictions
    from tis_transformer.training.checkpoints import load_tis_model
    from tis_transformer.training.network import pad_batch

    model = load_tis_model(checkpoint)
    inputs = model.network.model_inputs()

    def predict_batch(tokens: list, isoforms) -> list:
        batch = pad_batch(tokens)
        features = None if inputs is None else torch.from_numpy(inputs.padded(tokens, batch.shape[1], isoforms))
        with torch.no_grad():
            probabilities = model(batch, features).numpy()
        return [probabilities[row, : len(t)] for row, t in enumerate(tokens)]

    def predict(tokens: list) -> list:
        isoforms = None if inputs is None or alone else inputs.isoform_index(tokens)
        return batched_predictions(tokens, lambda batch: predict_batch(batch, isoforms), 16_384, 256)

    return predict


def markdown_table(results: dict) -> str:
    """Results by data file as a Markdown table."""
    lines = ["| data | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, r in results.items():
        cells = [f"{r[c]:.4f}" if isinstance(r[c], float) else f"{r[c]:,}" for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args) -> int:
    """Score the model on each data file; print a table, optionally write JSON."""
    if args.json:
        _check_json_output(args.json, args.model, args.data)
    check_distinct_names(args.data)
    for path in args.data:  # every file checked before any is scored; each is read again to score it
        if not load_dataset(path).tis.size:
            raise InputError(f"{path}: no annotated TIS, nothing to score a model on")
    if str(args.model).endswith(".ckpt"):
        try:
            predict = _checkpoint_scorer(args.model, args.alone)
        except ImportError as error:
            raise InputError(f"evaluating a checkpoint needs the train extra ({error})") from None
    else:
        predict = _onnx_scorer(args.model, args.device, args.threads, args.alone, args.data)
    results = {}
    for path in args.data:
        data = load_dataset(path)
        tokens = [data.transcript(i)[0] for i in range(len(data))]
        results[data_name(path)] = score_dataset(data, predict(tokens))
        log.info("%s done", path)
    print(markdown_table(results))
    if args.json:
        from tis_transformer.predictor.output_files import open_output

        with open_output(Path(args.json), binary=False) as handle:
            handle.write(json.dumps({"model": str(args.model), "alone": args.alone, "results": results}, indent=2)
                         + "\n")
    return 0


def _check_json_output(path: str, model: str, data: list) -> None:
    """Refuse, before any scoring, a JSON path that cannot be written, is an input or is a file of the model."""
    from tis_transformer.predictor.output_files import check_outputs, refuse_writing_model_files
    from tis_transformer.predictor.registry import paired_files, resolve_model

    check_outputs([(path, "json")], inputs=[model, *data])
    if str(model).endswith(".ckpt"):
        return
    try:
        resolved = resolve_model(model)
    except InputError:  # a model that is not found is refused when it is opened
        return
    refuse_writing_model_files([(path, "json")], paired_files(resolved))
