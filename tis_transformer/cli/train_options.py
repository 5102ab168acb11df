"""The options of ``pretrain``, ``train`` and ``crossval``, built without the training extra.

Only argparse, the option dataclasses and the preset files are needed, so
``tis-transformer train --help`` lists every option on a predictor-only
install; the defaults shown are the default preset's, which need PyYAML.
"""

from __future__ import annotations

import argparse

from tis_transformer.training.options import add_options
from tis_transformer.training.presets import DEFAULT_PRESET, DEFAULT_PRESETS, preset_names, read_preset

__all__ = ["add_arguments", "add_run_options", "add_crossval_arguments"]

_WITHOUT_EXTRA = ("The training extra is not installed: the default preset's values are not shown, and running needs "
                  "pip install torch==2.13.0 && pip install 'tis-transformer[train]'")


def add_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """Arguments of the ``pretrain`` and ``train`` commands."""
    parser.add_argument("data_path", help="directory of per-chromosome files (.npz from "
                        "'tis-transformer prepare', or the original .npy/.npy.gz); every file not named in "
                        "VAL_SET or TEST_SET is trained on")
    parser.add_argument("val_set", help="validation file(s), comma-separated: names in DATA_PATH or paths")
    parser.add_argument("test_set", help="test file(s), comma-separated: names in DATA_PATH or paths elsewhere; "
                        "- for none (a model trained on every file but the validation set)")
    add_run_options(parser, task)


def add_crossval_arguments(parser: argparse.ArgumentParser, count) -> None:
    """Arguments of the ``crossval`` command (``count`` parses a positive integer)."""
    parser.add_argument("data_path", help="directory of per-chromosome files (.npz, .npy.gz or .npy)")
    parser.add_argument("--folds", type=count, required=True, metavar="K",
                        help="folds: groups of files of about equal annotated TIS count, each tested on by a "
                        "model trained on the others")
    parser.add_argument("-o", "--output_dir", default="crossval", metavar="OUT_DIR",
                        help="where the models, held-out predictions and metrics go (default crossval)")
    add_run_options(parser, "train", output=False)


def add_run_options(parser: argparse.ArgumentParser, task: str, output: bool = True) -> None:
    """``--preset``, ``--config``, ``-o`` (train) and one flag per option (shared with ``crossval``)."""
    default = DEFAULT_PRESETS.get(task, DEFAULT_PRESET)
    why = {"default": "the shipped models' recipe", "performer": "transformer layers, which pretraining needs"}
    parser.add_argument("--preset", default=None, metavar="NAME",
                        help=f"named recipe ({', '.join(preset_names())}; default {default}: {why[default]}; "
                        "original: the original TIS Transformer without features)")
    parser.add_argument("--config", default=None, metavar="FILE.yaml",
                        help="YAML of option: value pairs over the preset's; flags typed override both")
    if task == "train" and output:
        parser.add_argument("-o", "--output", default=None, metavar="MODEL.onnx",
                            help="end with the exported model here (its model card MODEL.json, its alone variant and, "
                            "for a model with transformer layers, its layer graphs beside it), parity-checked and "
                            "scored on TEST_SET: give it to impute")
    try:
        shown = read_preset(default)
    except ImportError:  # PyYAML comes with the training extra
        shown = None
        parser.epilog = _WITHOUT_EXTRA
    add_options(parser, task, shown=shown)
