"""The options of ``pretrain`` and ``train``, documented once as dataclass fields.

Each field's default is the original TIS Transformer's (no input features);
the recipe that works on a CPU is the ``default`` preset
(``tis_transformer/training/presets/default.yaml``). The command line is
built from these fields (``add_options``), and a run's settings are resolved
in order (``tis_transformer.training.presets.resolve``): field defaults, then
the preset, then a ``--config`` YAML file, then the flags typed.
"""

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field

__all__ = ["ModelOptions", "TISOptions", "MLMOptions", "DataOptions", "TrainerOptions", "option_groups",
           "option_fields", "add_options"]


def _opt(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class ModelOptions:
    """Architecture of the Performer network (``tis_transformer.training.network.NetworkConfig``)."""

    dim: int = _opt(30, "width of the token embedding")
    depth: int = _opt(6, "Performer layers")
    heads: int = _opt(6, "attention heads per layer")
    dim_head: int = _opt(16, "width of each head")
    local_attn_heads: int = _opt(4, "heads that attend within a local window")
    local_window_size: int = _opt(256, "nucleotides in a local attention window")
    nb_features: int = _opt(80, "random features of the global attention kernel")
    feature_redraw_interval: int = _opt(100, "training steps between redraws of the random features")
    ff_chunks: int = _opt(10, "chunks the feed-forward runs in (memory for time)")
    emb_dropout: float = _opt(0.1, "dropout on the embedding")
    ff_dropout: float = _opt(0.1, "dropout in the feed-forward layers")
    attn_dropout: float = _opt(0.1, "dropout on attention weights")
    no_generalized_attention: bool = _opt(False, "softmax-kernel instead of generalized ReLU attention")
    no_ff_glu: bool = _opt(False, "plain instead of gated feed-forward")
    no_reversible: bool = _opt(False, "plain instead of reversible layers")


@dataclass
class TISOptions:
    """What the ``train`` command fits besides the network: features, feature head, trees, loss."""

    transfer_checkpoint: typing.Optional[str] = _opt(
        None, "start from this checkpoint's weights: MLM pretraining (all but the head) or an earlier TIS "
        "model (a narrower feature embedding is widened with zeros)")
    orf_features: bool = _opt(False, "also feed the network reading-frame features computed from the sequence "
                              "(ORF length to the next in-frame stop, first and longest ATG ORF, ...)")
    feature_head: int = _opt(0, "with orf_features, add a per-position MLP of the features (this many hidden "
                             "units, two layers) to the output logits; 0: none", metavar="UNITS")
    prefit_feature_head: int = _opt(0, "fit the feature head alone on the training transcripts for this many "
                                    "passes; the rest of the network then trains on top of it, the feature head "
                                    "fixed; 0: no prefit", metavar="EPOCHS")
    prefit_other_weight: float = _opt(2.0, "in prefitting, the loss weight of each sampled position that is "
                                      "neither an ATG nor a TIS (2%% of them are sampled)", metavar="W")
    trees: int = _opt(0, "with prefit_feature_head, also fit this many rounds of boosted trees (LightGBM) to the "
                      "features at ATGs and blend their logit there with the feature head's; 0: none",
                      metavar="ROUNDS")
    tree_stages: int = _opt(2, "with trees, 2: cross-fitted first-stage trees score every ATG and second-stage "
                            "trees also read how each compares with its transcript's other ATGs; 1: one set of "
                            "trees", choices=(1, 2))
    tree_blend: float = _opt(0.85, "with trees, the trees' share of the blended logit at ATGs (trees reading "
                             "isoforms rank ATGs better than the feature head, which reads none)", metavar="W")
    isoform_trees: bool = _opt(True, "with trees, the trees also read how each ATG's ORF compares with the same "
                               "start in the other transcripts of the input, e.g. a non-coding isoform whose ORF "
                               "stops early where a sibling's reads on")
    alone_variant: bool = _opt(True, "with isoform_trees and -o MODEL.onnx, also fit MODEL.alone.onnx: the same "
                               "feature head and trees fitted without isoform columns (no transformer layers), "
                               "which the predictor uses for transcripts scored alone (--alone)")
    pos_weight: float = _opt(1.0, "loss weight of TIS positions; predicted probabilities are corrected for it")
    start_loss: bool = _opt(False, "with orf_features, the network's training loss only at ATGs and annotated TISs "
                            "(the ranking the feature head and trees leave to it) instead of at every position")


@dataclass
class MLMOptions:
    """Masking of the ``pretrain`` command (masked-language-model pretraining)."""

    mask_frac: float = _opt(0.85, "fraction of chosen positions set to the mask token")
    rand_frac: float = _opt(0.1, "fraction of chosen positions set to a random nucleotide")
    select_frac: float = _opt(0.15, "fraction of positions chosen for the loss")


@dataclass
class DataOptions:
    """Optimisation and batching."""

    lr: float = _opt(1e-3, "learning rate")
    decay_rate: float = _opt(0.95, "LR decay per epoch")
    max_tokens: int = _opt(25000, "padded nucleotides per batch; longer transcripts get a batch alone")
    max_transcripts_per_batch: int = _opt(400, "transcripts per batch at most")
    crop_len: typing.Optional[int] = _opt(None, "train on the first CROP_LEN nt of longer transcripts "
                                          "(none: whole transcripts)")
    random_crop: bool = _opt(False, "with crop_len, crop a window redrawn each epoch instead of the 5' end")
    tis_crop_frac: float = _opt(0.0, "with random_crop, the chance that a transcript with a TIS gets a window "
                                "holding one (0: uniform windows)")
    num_workers: int = _opt(0, "data loader workers")


@dataclass
class TrainerOptions:
    """The Lightning trainer: how long, where, on what."""

    resume: typing.Optional[str] = _opt(None, "continue an interrupted run from its checkpoint (e.g. last.ckpt): "
                                        "weights, optimiser, LR schedule, epoch and elapsed max_time",
                                        metavar="CKPT")
    max_epochs: int = _opt(60, "training epochs at most")
    max_steps: int = _opt(-1, "stop after this many steps (-1: no limit)")
    max_time: typing.Optional[str] = _opt(None, "stop the Performer's training after DD:HH:MM:SS (quote it in "
                                          "YAML)")
    patience: int = _opt(0, "stop after this many epochs without a better validation score (0: off)")
    accelerator: str = _opt("auto", "cpu, gpu, auto")
    devices: str = _opt("auto", "number of devices or 'auto'")
    num_nodes: int = _opt(1, "nodes for multi-node training")
    strategy: str = _opt("auto", "e.g. ddp for multi-GPU / multi-node")
    precision: str = _opt("32-true", "e.g. 32-true, bf16-mixed")
    limit_train_batches: float = _opt(1.0, "batches per epoch: a fraction (<= 1) or a count")
    limit_val_batches: float = _opt(1.0, "validation batches: a fraction (<= 1) or a count")
    limit_test_batches: float = _opt(1.0, "test batches: a fraction (<= 1) or a count")
    val_check_interval: float = _opt(1.0, "validate every fraction of an epoch (<= 1) or N batches")
    accumulate_grad_batches: int = _opt(1, "batches whose gradients add up to one step")
    gradient_clip_val: typing.Optional[float] = _opt(None, "clip gradients at this norm")
    seed: int = _opt(0, "random seed")
    name: typing.Optional[str] = _opt(None, "run name under log_dir (default: the command's name)")
    log_dir: str = _opt("runs", "where logs and checkpoints go")
    no_progress_bar: bool = _opt(False, "no progress display (Lightning's bar included)")


def option_groups(task: str) -> list:
    """The option dataclasses of ``task`` (``train`` or ``pretrain``), in help order."""
    return [TISOptions if task == "train" else MLMOptions, ModelOptions, DataOptions, TrainerOptions]


def option_fields(task: str) -> dict:
    """``{name: dataclasses.Field}`` of every option of ``task``."""
    return {f.name: f for group in option_groups(task) for f in dataclasses.fields(group)}


def all_option_names() -> set:
    """Every option name of either task: the keys a preset or config file may hold."""
    return set(option_fields("train")) | set(option_fields("pretrain"))


def field_type(option: dataclasses.Field) -> type:
    """The value type of a field: int, float, str or bool (Optional unwrapped)."""
    hint = option.type
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def optional(option: dataclasses.Field) -> bool:
    """Whether a field may be None."""
    return type(None) in typing.get_args(option.type)


def add_options(parser: argparse.ArgumentParser, task: str, shown: dict | None) -> None:
    """Add one flag per option of ``task``; no flag has a default, so that only typed flags are set.

    Parameters
    ----------
    shown : dict or None
        Values to show as defaults in the help (those of the default preset);
        None shows none.
    """
    for group in option_groups(task):
        box = parser.add_argument_group(group.__name__.replace("Options", "").lower(), group.__doc__)
        for option in dataclasses.fields(group):
            kind = field_type(option)
            text = option.metadata["help"]
            if shown is not None:
                text += f" (default {shown.get(option.name, option.default)})"
            extra = {k: option.metadata[k] for k in ("metavar", "choices") if k in option.metadata}
            if kind is bool and option.name.startswith("no_"):
                # a switch named for what it turns off: typed, it is on; a preset may turn it on too
                box.add_argument(f"--{option.name}", action="store_true", default=argparse.SUPPRESS, help=text)
            elif kind is bool:
                box.add_argument(f"--{option.name}", action=argparse.BooleanOptionalAction,
                                 default=argparse.SUPPRESS, help=text)
            else:
                box.add_argument(f"--{option.name}", type=kind, default=argparse.SUPPRESS, help=text, **extra)
