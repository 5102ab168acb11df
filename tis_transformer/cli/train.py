"""The ``pretrain`` and ``train`` commands (``train`` extra): options, and a run from data files to checkpoints."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from tis_transformer.predictor.features import FEATURE_NAMES
from tis_transformer.predictor.read import InputError
from tis_transformer.training.checkpoints import transfer_weights
from tis_transformer.training.data import TranscriptData
from tis_transformer.training.modules import MLMModel, TISModel
from tis_transformer.training.network import NetworkConfig
from tis_transformer.training.prefit import prefit_feature_head


def add_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """Arguments of the ``pretrain`` and ``train`` commands."""
    parser.add_argument("data_path", help="directory of per-chromosome files (.npz from "
                        "'tis-transformer prepare', or the original .npy/.npy.gz)")
    parser.add_argument("val_set", help="file name(s) in DATA_PATH used for validation (comma-separated)")
    parser.add_argument("test_set", help="file name(s) in DATA_PATH held out for testing (comma-separated)")
    if task == "train":
        parser.add_argument("--transfer_checkpoint",
                            help="start from this checkpoint's weights: MLM pretraining (all but the head) "
                            "or an earlier TIS model (a narrower feature embedding is widened with zeros)")
        parser.add_argument("--orf_features", action="store_true",
                            help="also feed the network reading-frame features computed from the "
                            "sequence (ORF length to the next in-frame stop, first and longest ATG ORF, ...)")
        parser.add_argument("--feature_head", type=int, default=0, metavar="UNITS",
                            help="with --orf_features, add a per-position MLP of the features (UNITS hidden "
                            "units, two layers) to the output logits (default 0: none)")
        parser.add_argument("--prefit_feature_head", type=int, default=0, metavar="EPOCHS",
                            help="fit the feature head alone on the training transcripts for EPOCHS passes; "
                            "the rest of the network then trains on top of it, the feature head fixed (default 0)")
        parser.add_argument("--prefit_other_weight", type=float, default=2.0, metavar="W",
                            help="in prefitting, the loss weight of each sampled position that is neither an ATG "
                            "nor a TIS (2%% of them are sampled; default 2)")
        parser.add_argument("--trees", type=int, default=0, metavar="ROUNDS",
                            help="with --prefit_feature_head, also fit ROUNDS boosted trees (LightGBM) to the "
                            "features at ATGs and blend their logit there with the feature head's (default 0: none)")
        parser.add_argument("--tree_stages", type=int, default=2, choices=[1, 2],
                            help="with --trees, 2 (default): cross-fitted first-stage trees score every ATG and "
                            "second-stage trees also read how each compares with its transcript's other ATGs; "
                            "1: one set of trees")
        parser.add_argument("--tree_blend", type=float, default=0.85, metavar="W",
                            help="with --trees, the trees' share of the blended logit at ATGs (default 0.85: "
                            "trees reading isoforms rank ATGs better than the feature head, which reads none)")
        parser.add_argument("--isoform_trees", action=argparse.BooleanOptionalAction, default=True,
                            help="with --trees (default on): the trees also read how each ATG's ORF compares "
                            "with the same start in the other transcripts of the input, e.g. a non-coding isoform "
                            "whose ORF stops early where a sibling's reads on")
        parser.add_argument("--pos_weight", type=float, default=1.0,
                            help="loss weight of TIS positions (default 1); predicted probabilities "
                            "are corrected for it")
    else:
        parser.add_argument("--mask_frac", type=float, default=0.85,
                            help="fraction of chosen positions set to the mask token (default 0.85)")
        parser.add_argument("--rand_frac", type=float, default=0.1,
                            help="fraction of chosen positions set to a random nucleotide (default 0.1)")
        parser.add_argument("--select_frac", type=float, default=0.15,
                            help="fraction of positions chosen for the loss (default 0.15)")
    net = parser.add_argument_group("model")
    defaults = NetworkConfig()
    for field in ("dim", "depth", "heads", "dim_head", "local_attn_heads", "local_window_size",
                  "nb_features", "feature_redraw_interval", "ff_chunks"):
        net.add_argument(f"--{field}", type=int, default=getattr(defaults, field),
                         help=f"default {getattr(defaults, field)}")
    for field in ("emb_dropout", "ff_dropout", "attn_dropout"):
        net.add_argument(f"--{field}", type=float, default=getattr(defaults, field),
                         help=f"default {getattr(defaults, field)}")
    net.add_argument("--no_generalized_attention", action="store_true",
                     help="softmax-kernel instead of generalized ReLU attention")
    net.add_argument("--no_ff_glu", action="store_true", help="plain instead of gated feed-forward")
    net.add_argument("--no_reversible", action="store_true", help="plain instead of reversible layers")
    opt = parser.add_argument_group("optimisation and batching")
    opt.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    opt.add_argument("--decay_rate", type=float, default=0.95, help="LR decay per epoch (default 0.95)")
    opt.add_argument("--max_tokens", type=int, default=25000,
                     help="padded nucleotides per batch; longer transcripts get a batch alone (default 25000)")
    opt.add_argument("--max_transcripts_per_batch", type=int, default=400, help="default 400")
    opt.add_argument("--crop_len", type=int, default=None,
                     help="train on the first CROP_LEN nt of longer transcripts (default: whole transcripts)")
    opt.add_argument("--random_crop", action="store_true",
                     help="with --crop_len, crop a window redrawn each epoch instead of the 5' end")
    opt.add_argument("--tis_crop_frac", type=float, default=0.0,
                     help="with --random_crop, the chance that a transcript with a TIS gets a window "
                     "holding one (default 0: uniform windows)")
    opt.add_argument("--num_workers", type=int, default=0, help="data loader workers (default 0)")
    run = parser.add_argument_group("trainer")
    run.add_argument("--resume", default=None, metavar="CKPT",
                     help="continue an interrupted run from its checkpoint (e.g. last.ckpt): weights, "
                     "optimiser, LR schedule, epoch and elapsed --max_time")
    run.add_argument("--max_epochs", type=int, default=60, help="default 60")
    run.add_argument("--max_steps", type=int, default=-1, help="stop after this many steps (default: no limit)")
    run.add_argument("--max_time", default=None, help="stop after DD:HH:MM:SS")
    run.add_argument("--patience", type=int, default=0,
                     help="stop after this many epochs without a better validation score (0: off)")
    run.add_argument("--accelerator", default="auto", help="cpu, gpu, auto (default auto)")
    run.add_argument("--devices", default="auto", help="number of devices or 'auto'")
    run.add_argument("--num_nodes", type=int, default=1, help="nodes for multi-node training")
    run.add_argument("--strategy", default="auto", help="e.g. ddp for multi-GPU / multi-node")
    run.add_argument("--precision", default="32-true", help="e.g. 32-true, bf16-mixed (default 32-true)")
    run.add_argument("--limit_train_batches", type=float, default=1.0)
    run.add_argument("--limit_val_batches", type=float, default=1.0)
    run.add_argument("--limit_test_batches", type=float, default=1.0)
    run.add_argument("--val_check_interval", type=float, default=1.0,
                     help="validate every fraction of an epoch (float) or N batches (int)")
    run.add_argument("--accumulate_grad_batches", type=int, default=1)
    run.add_argument("--gradient_clip_val", type=float, default=None)
    run.add_argument("--seed", type=int, default=0, help="default 0")
    run.add_argument("--name", default=task, help=f"run name under --log_dir (default {task})")
    run.add_argument("--log_dir", default="runs", help="where logs and checkpoints go (default runs)")
    run.add_argument("--no_progress_bar", action="store_true")


def _comma_list(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


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


def run(args: argparse.Namespace, task: str | None = None) -> int:
    """Train a model as the ``pretrain`` or ``train`` command asks; print test metrics."""
    task = task or args.command
    if task == "train" and args.feature_head and not args.orf_features:
        raise InputError("--feature_head needs input features: add --orf_features")
    if task == "train" and args.trees and not (args.prefit_feature_head and args.orf_features and args.feature_head):
        raise InputError("--trees are fitted with the feature head: add --orf_features, --feature_head and "
                         "--prefit_feature_head")
    if task == "train" and args.trees and not 0 < args.tree_blend <= 1:
        raise InputError(f"--tree_blend must be in (0, 1], got {args.tree_blend}")
    L.seed_everything(args.seed, workers=True, verbose=False)
    data = TranscriptData(args.data_path, _comma_list(args.val_set), _comma_list(args.test_set),
                          args.max_tokens, args.max_transcripts_per_batch, args.num_workers,
                          args.seed, args.crop_len, args.random_crop,
                          features=getattr(args, "orf_features", False), tis_crop_frac=args.tis_crop_frac)
    network = _network_config(args)
    if task == "train":
        model = TISModel(network, lr=args.lr, decay_rate=args.decay_rate, pos_weight=args.pos_weight,
                         freeze_feature_head=bool(args.prefit_feature_head))
        if args.transfer_checkpoint:
            transfer_weights(model, args.transfer_checkpoint)
        if args.prefit_feature_head and not args.resume:
            data.setup("fit")
            model.take_feature_table(data.hexamer_log_odds, data.start_context_log_odds)
            fitted = prefit_feature_head(model, data.sets["train"], args.prefit_feature_head, seed=args.seed,
                                         other_weight=args.prefit_other_weight, tree_rounds=args.trees,
                                         tree_stages=args.tree_stages, isoform_trees=args.isoform_trees)
            print(f"feature head prefit: {json.dumps(fitted)}", file=sys.stderr, flush=True)
        monitor, mode, file_name = "val_pr_auc", "max", "best-{epoch}-{val_pr_auc:.4f}"
    else:
        model = MLMModel(network, lr=args.lr, decay_rate=args.decay_rate, select_frac=args.select_frac,
                         mask_frac=args.mask_frac, rand_frac=args.rand_frac)
        monitor, mode, file_name = "val_loss", "min", "best-{epoch}-{val_loss:.4f}"
    logger = CSVLogger(args.log_dir, name=args.name)
    checkpoint = ModelCheckpoint(monitor=monitor, mode=mode, save_last=True, filename=file_name)
    callbacks = [checkpoint, LearningRateMonitor("epoch")]
    if args.patience:
        from lightning.pytorch.callbacks import EarlyStopping
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=args.patience))
    if not args.no_progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
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
        enable_progress_bar=not args.no_progress_bar, reload_dataloaders_every_n_epochs=1,
        deterministic=False, log_every_n_steps=10,
    )
    if task == "train" and args.prefit_feature_head and not args.resume:
        # the starting point is a candidate model of its own: score and keep it
        scored = trainer.validate(model, datamodule=data, verbose=False)
        trainer.save_checkpoint(Path(logger.log_dir) / "checkpoints" / "prefit.ckpt")
        print(f"prefit model: {json.dumps(scored[0] if scored else {}, default=float)}", file=sys.stderr, flush=True)
    started = time.time()
    trainer.fit(model, datamodule=data, ckpt_path=args.resume)
    wall = time.time() - started
    ckpt = checkpoint.best_model_path or checkpoint.last_model_path
    results = trainer.test(model, datamodule=data, ckpt_path=ckpt or None, verbose=False)
    if trainer.is_global_zero:
        summary = {"task": task, "checkpoint": ckpt, "train_files": [p.name for p in data.split["train"]],
                   "val_files": [p.name for p in data.split["val"]],
                   "test_files": [p.name for p in data.split["test"]],
                   "fit_seconds": round(wall, 1), "global_steps": trainer.global_step,
                   "train_nucleotides": model.train_nucleotides,
                   "train_nt_per_s": round(model.train_nucleotides / max(model.train_seconds, 1e-9)),
                   "test": getattr(model, "test_results", None) or (results[0] if results else {})}
        out = Path(logger.log_dir) / "test_metrics.json"
        out.write_text(json.dumps(summary, indent=2, default=float))
        print(json.dumps(summary, indent=2, default=float), file=sys.stdout)
    return 0
