"""Options of ``train``, ``pretrain`` and ``crossval`` checked before any work: each refusal is one line.

Lightning, PyTorch and performer-pytorch would refuse most of these too, but as tracebacks and often only after
reading the data and prefitting the feature head and trees (minutes to hours in).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

from tis_transformer.predictor.input_files import one_line
from tis_transformer.predictor.read import InputError

__all__ = ["check_ranges", "check_accelerator", "read_checkpoint", "check_resume", "unreadable_reason"]

# (lowest, highest, lowest excluded) of each numeric option; None: no bound
_RANGES = {
    "dim": (1, None, False), "depth": (0, None, False), "dim_head": (1, None, False),
    "local_attn_heads": (0, None, False), "local_window_size": (1, None, False), "nb_features": (1, None, False),
    "feature_redraw_interval": (1, None, False), "ff_chunks": (1, None, False),
    "emb_dropout": (0, 1, False), "ff_dropout": (0, 1, False), "attn_dropout": (0, 1, False),
    "feature_head": (0, None, False), "prefit_feature_head": (0, None, False), "prefit_other_weight": (0, None, False),
    "trees": (0, None, False), "tree_stages": (1, 2, False), "pos_weight": (0, None, True),
    "mask_frac": (0, 1, False), "rand_frac": (0, 1, False), "select_frac": (0, 1, True),
    "lr": (0, None, True), "decay_rate": (0, None, True),
    "max_tokens": (1, None, False), "max_transcripts_per_batch": (1, None, False), "crop_len": (1, None, False),
    "tis_crop_frac": (0, 1, False), "num_workers": (0, None, False), "max_epochs": (-1, None, False),
    "max_steps": (-1, None, False), "patience": (0, None, False), "num_nodes": (1, None, False),
    "limit_train_batches": (0, None, False), "limit_val_batches": (0, None, False),
    "limit_test_batches": (0, None, False), "val_check_interval": (0, None, True),
    "accumulate_grad_batches": (1, None, False), "gradient_clip_val": (0, None, False),
}
# the network settings that shape its weights: a checkpoint resumes only into the same ones
_ARCHITECTURE = ("dim", "depth", "heads", "dim_head", "local_attn_heads", "local_window_size", "nb_features",
                 "generalized_attention", "ff_glu", "reversible", "n_features", "feature_head", "tree_blend")
# fixed once the feature head and trees are fitted: a resumed run keeps the checkpoint's
PREFIT_OPTIONS = ("prefit_feature_head", "prefit_other_weight", "trees", "tree_stages", "isoform_trees")
_PRECISIONS = ("64-true", "64", "32-true", "32", "16-true", "16-mixed", "16", "bf16-true", "bf16-mixed", "bf16",
               "transformer-engine", "transformer-engine-float16")


def check_ranges(args: argparse.Namespace) -> None:
    """Refuse a numeric option outside the values it can take, and an impossible head split."""
    for name, (low, high, low_excluded) in _RANGES.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if value < low or (low_excluded and value == low) or (high is not None and value > high):
            above = f"above {low}" if low_excluded else f"at least {low}"
            span = f"{above}{f' and at most {high}' if high is not None else ''}"
            raise InputError(f"--{name} must be {span}, not {value}")
    if getattr(args, "depth", 0) > 0 and getattr(args, "heads", 1) < 1:
        raise InputError(f"--heads must be at least 1 with transformer layers, not {args.heads}")
    if getattr(args, "local_attn_heads", 0) > getattr(args, "heads", 0) and getattr(args, "depth", 0) > 0:
        raise InputError(f"--local_attn_heads ({args.local_attn_heads}) cannot exceed --heads ({args.heads})")
    if getattr(args, "precision", None) is not None and str(args.precision) not in _PRECISIONS:
        raise InputError(f"--precision must be one of {', '.join(_PRECISIONS)}, not {args.precision}")


def check_accelerator(args: argparse.Namespace) -> None:
    """Refuse an unknown accelerator, or one this machine does not have, before the data is read."""
    import torch

    accelerator = str(getattr(args, "accelerator", "auto")).lower()
    # TPUs and HPUs need packages of their own, which Lightning checks for when it starts
    available = {"auto": True, "cpu": True, "gpu": torch.cuda.is_available(), "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available(), "tpu": True, "hpu": True}
    if accelerator not in available:
        raise InputError(f"--accelerator must be one of {', '.join(available)}, not {args.accelerator}")
    if not available[accelerator]:
        raise InputError(f"--accelerator {accelerator}: PyTorch sees no such device on this machine "
                         f"(torch {torch.__version__}); use cpu or auto")


def read_checkpoint(path: str, option: str | None = None) -> dict:
    """A Lightning checkpoint (given to ``--OPTION``), or a one-line ``InputError`` saying why not."""
    import torch

    shown = f"--{option} {path}" if option else str(path)
    if not Path(path).is_file():
        raise InputError(f"{shown}: no such file")
    try:
        # tensors and plain values only: a crafted file cannot run code, as Lightning's own loading does not
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # a data file, an ONNX model, a truncated file: each fails its own way
        raise InputError(f"{shown}: not a training checkpoint ({unreadable_reason(error)})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise InputError(f"{shown}: not a training checkpoint (no state_dict)")
    return checkpoint


def unreadable_reason(error: BaseException) -> str:
    """Why ``torch.load`` could not read a file, in a few words."""
    # torch's refusal to unpickle is a page of advice on weights_only: the file is simply not a checkpoint
    if isinstance(error, pickle.UnpicklingError):
        return "not a PyTorch file of tensors and plain values"
    return one_line(error)[:160]


def check_transfer(path: str, network: dict) -> None:
    """Refuse, before any data is read, a ``--transfer_checkpoint`` whose transformer has another shape."""
    saved = read_checkpoint(path, "transfer_checkpoint").get("hyper_parameters", {}).get("network")
    if not isinstance(saved, dict):
        return  # no record to compare: the weights' shapes are compared when they are loaded
    # only what sets the transformer's weight shapes must agree: the feature head, features and trees are this
    # run's own, and the attention window, the local heads and the kernel may change for fine-tuning
    for key in ("dim", "depth", "heads", "dim_head", "nb_features", "ff_glu", "reversible"):
        if key in network and key in saved and saved[key] != network[key]:
            raise InputError(f"--transfer_checkpoint {path}: its network has {key} {saved[key]}, this run asks "
                             f"{network[key]}; train with the architecture options it was trained with")


def check_resume(path: str, network: dict, task: str, args=None) -> None:
    """Refuse a ``--resume`` checkpoint of another kind of run, architecture or prefit settings than asked for."""
    checkpoint = read_checkpoint(path, "resume")
    saved = checkpoint.get("hyper_parameters", {}).get("network")
    if not isinstance(saved, dict):
        raise InputError(f"--resume {path}: the checkpoint records no network settings to resume with")
    if ("pos_weight" in checkpoint.get("hyper_parameters", {})) != (task == "train"):
        kind = "a TIS model's (train)" if task != "train" else "a pretraining run's"
        raise InputError(f"--resume {path}: {kind} checkpoint cannot resume {task}")
    differing = [key for key in _ARCHITECTURE if key in network and key in saved and saved[key] != network[key]]
    if differing:
        key = differing[0]
        raise InputError(f"--resume {path}: the run was trained with {key} {saved[key]}, this one asks "
                         f"{network[key]}; resume with the options (preset, config) it was started with")
    prefit = checkpoint.get("hyper_parameters", {}).get("prefit") or {}
    for key, value in prefit.items():  # checkpoints before this record have none: nothing to compare
        if args is not None and hasattr(args, key) and getattr(args, key) != value:
            raise InputError(f"--resume {path}: the run's feature head and trees were fitted with {key} {value}, "
                             f"this one asks {getattr(args, key)}; resume with the options (preset, config) it "
                             "was started with")
