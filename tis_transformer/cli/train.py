"""The ``pretrain`` and ``train`` commands (``train`` extra): a run from data files to a model.

The options (``tis_transformer.cli.train_options``) are the fields of
``tis_transformer.training.options``; a run's
values come from the preset, a config file and the flags typed
(``tis_transformer.training.presets.resolve``). ``train -o MODEL.onnx`` ends
with the exported, parity-checked model and its card (``tis_transformer.export.ship``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from tis_transformer import __version__
from tis_transformer.predictor.features import FEATURE_NAMES
from tis_transformer.predictor.input_files import data_name
from tis_transformer.predictor.read import InputError
from tis_transformer.training.checkpoints import transfer_weights
from tis_transformer.training.data import TranscriptData
from tis_transformer.training.modules import MLMModel, TISModel
from tis_transformer.training.option_checks import (PREFIT_OPTIONS, check_accelerator, check_ranges, check_resume,
                                                    check_transfer, read_checkpoint)
from tis_transformer.training.options import option_fields
from tis_transformer.training.presets import resolve, settings
from tis_transformer.training.run_progress import PerformerProgress, RunProgress

# For the time-left estimate only, rough: benchmarks/train_time.py runs of the default preset on 2 cores (prefit and
# trees 150 s for 24.3 M training nt with 2 threads on a quiet machine, split evenly between head and trees here;
# 76 s for 7.3 M nt with one thread beside another run; export and scoring 8.1 M held-out nt in 42-59 s)
READ_SECONDS_PER_BYTE = 2e-7
PREFIT_SECONDS_PER_NT_EPOCH = 4.5e-7
TREE_SECONDS_PER_NT_ROUND = 6e-9
EXPORT_SECONDS = 15.0
PREDICT_NT_PER_SECOND = 250_000


def _comma_list(value: str) -> list[str]:
    return [v for v in value.split(",") if v and v != "-"]


def _network_config(args: argparse.Namespace) -> dict:
    return {
        "dim": args.dim, "depth": args.depth, "heads": args.heads, "dim_head": args.dim_head,
        "local_attn_heads": args.local_attn_heads, "local_window_size": args.local_window_size,
        "nb_features": args.nb_features, "feature_redraw_interval": args.feature_redraw_interval,
        "generalized_attention": not args.no_generalized_attention, "ff_glu": not args.no_ff_glu,
        "reversible": not args.no_reversible, "ff_chunks": args.ff_chunks,
        "emb_dropout": args.emb_dropout, "ff_dropout": args.ff_dropout,
        "attn_dropout": args.attn_dropout,
        "n_features": len(FEATURE_NAMES) if getattr(args, "orf_features", False) else 0,
        "feature_head": getattr(args, "feature_head", 0),
        "tree_blend": args.tree_blend if getattr(args, "trees", 0) else 0.0,
    }


def _devices(value: str):
    return int(value) if str(value).isdigit() else value


def _val_interval(value: float):
    return int(value) if value > 1 else value


def _seconds(max_time: str | None) -> float | None:
    """DD:HH:MM:SS in seconds."""
    if not max_time:
        return None
    try:
        parts = [int(p) for p in str(max_time).split(":")]
    except ValueError:
        raise InputError(f"max_time: expected DD:HH:MM:SS, not {max_time!r}") from None
    if len(parts) != 4:
        raise InputError(f"max_time: expected DD:HH:MM:SS, not {max_time!r}")
    days, hours, minutes, seconds = parts
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def check_options(args: argparse.Namespace, task: str) -> None:
    """Refuse option values and combinations that cannot train, in one line each."""
    check_ranges(args)
    if task == "train" and args.feature_head and not args.orf_features:
        raise InputError("--feature_head needs input features: add --orf_features")
    if task == "train" and args.trees and not (args.prefit_feature_head and args.orf_features and args.feature_head):
        raise InputError("--trees are fitted with the feature head: add --orf_features, --feature_head and "
                         "--prefit_feature_head")
    if task == "train" and args.start_loss and not args.orf_features:
        raise InputError("--start_loss finds the ATGs in the input features: add --orf_features")
    if task == "train" and args.trees and not 0 < args.tree_blend <= 1:
        raise InputError(f"--tree_blend must be in (0, 1], got {args.tree_blend}")
    _seconds(args.max_time)
    check_accelerator(args)
    if getattr(args, "transfer_checkpoint", None):
        check_transfer(args.transfer_checkpoint, _network_config(args))
    if args.resume:
        check_resume(args.resume, _network_config(args), task, args)


def _check_labels(data: TranscriptData) -> None:
    """Training, validation and test sets must hold annotated TISs: without them nothing is learnt or scored."""
    for name, what in (("train", "training files"), ("val", "validation set"), ("test", "test set")):
        if name in data.sets and data.sets[name].tis.size == 0:
            files = ", ".join(str(p) for p in data.split[name])
            raise InputError(f"no annotated TIS in the {what} ({files}): give transcripts with their start sites")


def _estimates(args, task: str, output: bool) -> dict:
    stages = {"reading and features": sum(p.stat().st_size for p in args.files) * READ_SECONDS_PER_BYTE}
    if task == "train" and args.prefit_feature_head:
        stages["prefit feature head" + (" and trees" if args.trees else "")] = None
    if args.max_epochs != 0:
        stages["Performer"] = _seconds(args.max_time)
    if args.limit_test_batches and not output and _comma_list(getattr(args, "test_set", "")):
        stages["test"] = None
    if output and _builds_alone_variant(args, task):
        stages["alone variant"] = None
    if output:
        stages["export"] = EXPORT_SECONDS
    return stages


def _interruptible(trainer, method, *args, **kwargs):
    """Call a Trainer method so that Ctrl-C ends the command as it does elsewhere (exit 130, one line).

    Lightning turns Ctrl-C into ``sys.exit(1)`` and leaves SIGINT ignored; the
    handler is put back and the interrupt raised again for ``main`` to report.
    """
    previous = signal.getsignal(signal.SIGINT)
    try:
        return method(*args, **kwargs)
    except SystemExit:
        if not trainer.interrupted:
            raise
        signal.signal(signal.SIGINT, previous)
        raise KeyboardInterrupt from None


def _earlier_candidates(resume: str) -> tuple:
    """``((path, score) or None, prefit path, prefit score or None)`` of the run a ``--resume`` checkpoint ends.

    Lightning forgets the best score when a resumed run writes to a new folder, and the prefitted model was
    scored only by the first run: both are read back from the checkpoint (which also carries the best of the
    runs before it, for chains of resumes), their files from where it records them or from its folder.
    """
    saved = read_checkpoint(resume, "resume")
    folder = Path(resume).parent
    found = [tuple(saved["earlier_best"])] if saved.get("earlier_best") else []  # of the runs before that one
    for key, state in (saved.get("callbacks") or {}).items():
        if key.startswith("ModelCheckpoint") and state.get("monitor") == "val_pr_auc" \
                and state.get("best_model_score") is not None:
            path = Path(state.get("best_model_path") or "")
            found.append((str(path if path.is_file() else folder / path.name), float(state["best_model_score"])))
    found = [(str(Path(path).resolve()), float(score)) for path, score in found if Path(path).is_file()]
    best = max(found, key=lambda candidate: candidate[1]) if found else None
    recorded = saved.get("prefit_checkpoint")
    prefit_path = Path(recorded) if recorded and Path(recorded).is_file() else folder / "prefit.ckpt"
    score = saved.get("prefit_val_pr_auc")
    return best, prefit_path, (float(score) if score is not None and prefit_path.is_file() else None)


def _builds_alone_variant(args, task: str) -> bool:
    """Whether ``train -o`` also fits the model's alone variant: only models whose trees read isoforms need one."""
    return (task == "train" and bool(args.alone_variant and args.isoform_trees and args.trees)
            and not str(getattr(args, "output", "")).endswith(".alone.onnx"))


def run(args: argparse.Namespace, task: str | None = None) -> int:
    """Train a model as the ``pretrain`` or ``train`` command asks; print test metrics, write the model."""
    task = task or args.command
    if not getattr(args, "resolved", False):
        args = resolve(task, args)
    check_options(args, task)
    output = getattr(args, "output", None)
    data = TranscriptData(args.data_path, _comma_list(args.val_set), _comma_list(args.test_set),
                          args.max_tokens, args.max_transcripts_per_batch, args.num_workers,
                          args.seed, args.crop_len, args.random_crop,
                          features=getattr(args, "orf_features", False), tis_crop_frac=args.tis_crop_frac)
    if not data.split["train"]:
        raise InputError("no training files left after holding out the validation and test sets")
    args.files = [p for paths in data.split.values() for p in paths]
    if output:
        from tis_transformer.export.ship import check_output

        inputs = args.files + [getattr(args, "transfer_checkpoint", None), args.resume, args.config]
        check_output(output, inputs)
        if _builds_alone_variant(args, task):
            check_output(Path(output).with_suffix(".alone.onnx"), inputs)
    started = time.time()
    progress = RunProgress(_estimates(args, task, bool(output)), enabled=not args.no_progress_bar)
    with progress:
        return _train(args, task, data, progress, output, started)


def _train(args, task: str, data: TranscriptData, progress: RunProgress, output: str | None, started: float) -> int:
    L.seed_everything(args.seed, workers=True, verbose=False)
    progress.stage("reading and features")
    data.setup("fit")
    if task == "train":
        _check_labels(data)
    train_nt = int(data.sets["train"].tokens.size)
    held_nt = sum(int(data.sets[s].tokens.size) for s in ("val", "test") if s in data.sets)
    network = _network_config(args)
    prefit_stage = next((s for s in progress.estimates if s.startswith("prefit")), None)
    if prefit_stage:
        progress.estimate(prefit_stage, train_nt * (args.prefit_feature_head * PREFIT_SECONDS_PER_NT_EPOCH
                                                    + args.trees * TREE_SECONDS_PER_NT_ROUND))
    alone_variant = bool(output) and _builds_alone_variant(args, task)
    if alone_variant:
        progress.estimate("alone variant", progress.estimates[prefit_stage])
    if output:
        progress.estimate("export", (1 + alone_variant) * (EXPORT_SECONDS + held_nt / PREDICT_NT_PER_SECOND))
    prefit_score = None
    if task == "train":
        model = TISModel(network, lr=args.lr, decay_rate=args.decay_rate, pos_weight=args.pos_weight,
                         freeze_feature_head=bool(args.prefit_feature_head), start_loss=args.start_loss,
                         prefit={key: getattr(args, key) for key in PREFIT_OPTIONS})
        if args.transfer_checkpoint:
            transfer_weights(model, args.transfer_checkpoint)
        if args.prefit_feature_head and not args.resume:
            progress.stage(prefit_stage)
            _prefit(model, args, data, args.isoform_trees, "feature head prefit")
        monitor, mode, file_name = "val_pr_auc", "max", "best-{epoch}-{val_pr_auc:.4f}"
    else:
        model = MLMModel(network, lr=args.lr, decay_rate=args.decay_rate, select_frac=args.select_frac,
                         mask_frac=args.mask_frac, rand_frac=args.rand_frac)
        monitor, mode, file_name = "val_loss", "min", "best-{epoch}-{val_loss:.4f}"
    logger = CSVLogger(args.log_dir, name=args.name)
    checkpoint = ModelCheckpoint(monitor=monitor, mode=mode, filename=file_name)
    # last.ckpt after every validation, for --resume: Lightning's save_last writes it only when the best one
    # changes, so a run stopped after epochs without a better score would resume from the best epoch instead
    latest = ModelCheckpoint(filename="last", enable_version_counter=False)
    callbacks = [checkpoint, latest, LearningRateMonitor("epoch")]
    if args.patience:
        from lightning.pytorch.callbacks import EarlyStopping
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=args.patience))
    steps = args.max_steps if args.max_steps > 0 else None
    if steps is None and args.limit_train_batches > 1:
        steps = int(args.max_epochs * args.limit_train_batches / args.accumulate_grad_batches)
    callbacks.append(PerformerProgress(progress, steps, _seconds(args.max_time)))
    trainer = L.Trainer(
        max_epochs=args.max_epochs, max_steps=args.max_steps, max_time=args.max_time,
        accelerator=args.accelerator, devices=_devices(args.devices), num_nodes=args.num_nodes,
        strategy=args.strategy, precision=args.precision,
        limit_train_batches=_val_interval(args.limit_train_batches),
        limit_val_batches=_val_interval(args.limit_val_batches),
        limit_test_batches=_val_interval(args.limit_test_batches),
        val_check_interval=_val_interval(args.val_check_interval),
        accumulate_grad_batches=args.accumulate_grad_batches,
        gradient_clip_val=args.gradient_clip_val, logger=logger, callbacks=callbacks,
        enable_progress_bar=False, enable_model_summary=False, reload_dataloaders_every_n_epochs=1,
        deterministic=False, log_every_n_steps=10,
    )
    prefit_path = Path(logger.log_dir) / "checkpoints" / "prefit.ckpt"
    if task == "train" and args.prefit_feature_head and not args.resume:
        # the starting point is a candidate model of its own: score and keep it
        scored = _interruptible(trainer, trainer.validate, model, datamodule=data, verbose=False)
        prefit_score = float(scored[0]["val_pr_auc"]) if scored and "val_pr_auc" in scored[0] else None
        model.prefit_score, model.prefit_path = prefit_score, str(prefit_path.resolve())
        trainer.save_checkpoint(prefit_path)
        print(f"prefit model: {json.dumps(scored[0] if scored else {}, default=float)}", file=sys.stderr, flush=True)
    earlier = None
    if task == "train" and args.resume:
        # the runs resumed from keep their candidates: their best checkpoint and the prefitted model
        earlier, prefit_path, prefit_score = _earlier_candidates(args.resume)
        model.earlier_best, model.prefit_score = earlier, prefit_score
        model.prefit_path = str(prefit_path.resolve()) if prefit_score is not None else None
    fit_started = time.time()
    if args.max_epochs != 0:
        progress.stage("Performer")
        _interruptible(trainer, trainer.fit, model, datamodule=data, ckpt_path=args.resume)
    wall = time.time() - fit_started
    ckpt = checkpoint.best_model_path or latest.best_model_path
    trained_score = float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None
    if earlier and (trained_score is None or earlier[1] > trained_score):
        ckpt, trained_score = earlier
    if prefit_score is not None and (trained_score is None or not trained_score > prefit_score):
        ckpt = str(prefit_path)  # the Performer did not validate higher than the model it started from
    results = []
    if args.limit_test_batches and not output and data.split["test"]:
        progress.stage("test")
        results = _interruptible(trainer, trainer.test, model, datamodule=data, ckpt_path=ckpt or None, verbose=False)
    if not trainer.is_global_zero:
        return 0
    summary = {"task": task, "checkpoint": ckpt, "train_files": [p.name for p in data.split["train"]],
               "val_files": [p.name for p in data.split["val"]],
               "test_files": [p.name for p in data.split["test"]],
               "fit_seconds": round(wall, 1), "global_steps": trainer.global_step,
               "train_nucleotides": getattr(model, "train_nucleotides", 0),
               "train_nt_per_s": round(getattr(model, "train_nucleotides", 0)
                                       / max(getattr(model, "train_seconds", 0), 1e-9)),
               **({"val_pr_auc": {"prefit": prefit_score, "best_trained": trained_score}} if task == "train"
                  else {"val_loss": {"best": trained_score}})}
    if results:
        summary["test"] = getattr(model, "test_results", None) or results[0]
    if output:
        alone = None
        if alone_variant:
            progress.stage("alone variant")
            alone = _fit_alone_variant(args, data, network)
        progress.stage("export")
        summary["model"] = _ship(args, task, data, ckpt, summary, progress, started, alone)
    out = Path(logger.log_dir) / "test_metrics.json"
    out.write_text(json.dumps(summary, indent=2, default=float))
    print(json.dumps(summary, indent=2, default=float), file=sys.stdout)
    return 0


def _fit_alone_variant(args, data: TranscriptData, network: dict) -> TISModel:
    """The model's alone variant: its feature head and trees fitted again without isoform columns.

    Seeded as the run was, so that it is the model a run with
    ``--no-isoform_trees`` would prefit; without transformer layers, which
    after prefitting would compute nothing (their output head is zero).
    """
    L.seed_everything(args.seed, workers=True, verbose=False)
    model = TISModel({**network, "depth": 0}, lr=args.lr, decay_rate=args.decay_rate, pos_weight=args.pos_weight,
                     freeze_feature_head=True)
    _prefit(model, args, data, False, "alone variant prefit")
    return model


def _prefit(model: TISModel, args, data: TranscriptData, isoform_trees: bool, label: str) -> None:
    """Fit ``model``'s feature head (and trees) on the training split as the run's options say; log what was fitted.

    One place for the run's prefit options, so that the alone variant is fitted as the model was.
    """
    from tis_transformer.training.prefit import prefit_feature_head

    model.network.set_feature_tables(data.tables)
    fitted = prefit_feature_head(model, data.sets["train"], args.prefit_feature_head, seed=args.seed,
                                 other_weight=args.prefit_other_weight, tree_rounds=args.trees,
                                 tree_stages=args.tree_stages, isoform_trees=isoform_trees)
    print(f"{label}: {json.dumps(fitted)}", file=sys.stderr, flush=True)


def _ship(args, task: str, data: TranscriptData, ckpt: str, summary: dict, progress: RunProgress,
          started: float, alone: TISModel | None = None) -> dict:
    """Export the chosen checkpoint (and ``alone``, the alone variant) to ``args.output`` with its model card.

    Returns where the model went and what it scored.
    """
    from tis_transformer.export.ship import ship
    from tis_transformer.training.checkpoints import load_tis_model

    model = load_tis_model(ckpt)
    stages = dict(progress.taken)
    card = {
        "trained_on": [str(p) for p in data.split["train"]],
        "validated_on": [str(p) for p in data.split["val"]],
        "held_out": [str(p) for p in data.split["test"]],
        "preset": args.preset, "config_file": args.config, "typed_options": args.typed,
        "settings": settings(args, task),
        "chosen_checkpoint": "prefit" if Path(ckpt).name == "prefit.ckpt" else Path(ckpt).name,
        "val_pr_auc": summary["val_pr_auc"],
        "training_command": getattr(args, "training_command", None) or (
            "tis-transformer " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else ""),
        "training_seconds": {k: round(v, 1) for k, v in stages.items()},
        "trained_with": f"tis-transformer {__version__}",
    }
    description = (f"TIS Transformer trained by tis-transformer {__version__} on "
                   f"{', '.join(p.name for p in data.split['train'])} (preset {args.preset})")
    scored = {data_name(p): _load(data, "val", i) for i, p in enumerate(data.split["val"])}
    held = {data_name(p): _load(data, "test", i) for i, p in enumerate(data.split["test"])}
    card["training_seconds"]["total"] = round(time.time() - started, 1)
    variant = None
    if alone is not None:
        alone_settings = {**card["settings"], "depth": 0, "isoform_trees": False, "max_epochs": 0}
        variant = (alone, f"{description}: its alone variant, head and trees fitted without isoform columns "
                   "(--alone)", {**card, "settings": alone_settings, "chosen_checkpoint": "prefit",
                                 "val_pr_auc": {"prefit": None, "best_trained": None}})
    meta = ship(model, args.output, description, card, data.sets["train"], held, validation=scored, alone=variant)
    shipped = {"path": str(args.output), "metrics": meta.get("metrics"), "validation": meta.get("validation_metrics")}
    if alone is not None:
        card = meta["alone_variant"]
        shipped["alone_variant"] = {"path": str(Path(args.output).with_suffix(".alone.onnx")),
                                    "metrics": card.get("metrics"), "validation": card.get("validation_metrics")}
    return shipped


def _load(data: TranscriptData, name: str, index: int):
    from tis_transformer.training.datasets import load_dataset

    return load_dataset(data.split[name][index])


__all__ = ["run", "check_options", "option_fields"]
