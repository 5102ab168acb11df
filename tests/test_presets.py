"""Presets, config files and the precedence of a run's settings (issue 19)."""

import argparse
import shlex

import pytest

pytest.importorskip("yaml")

from tis_transformer.predictor.read import InputError  # noqa: E402
from tis_transformer.training.options import add_options, option_fields  # noqa: E402
from tis_transformer.training.presets import preset_names, read_config, read_preset, resolve  # noqa: E402


def parse(line: str, task: str = "train") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset")
    parser.add_argument("--config")
    add_options(parser, task, shown={})
    return resolve(task, parser.parse_args(shlex.split(line)))


def test_the_shipped_presets_read_and_set_only_known_options():
    assert {"default", "original", "smoke"} <= set(preset_names())
    for name in preset_names():
        values = read_preset(name)
        assert set(values) <= set(option_fields("train")) | set(option_fields("pretrain"))


def test_no_flags_is_the_default_preset_the_shipped_recipe():
    args = parse("")
    assert args.preset == "default"
    assert args.orf_features and args.feature_head == 128 and args.prefit_feature_head == 8 and args.trees == 600
    # no transformer layers, so nothing to train after prefitting (MODEL_CARD.md: the Performer added little)
    assert args.depth == 0 and args.max_epochs == 0 and args.seed == 2 and args.isoform_trees
    assert args.name == "train"
    args = parse("--preset performer")
    assert args.orf_features and args.trees == 600 and args.depth == 3 and args.local_window_size == 128
    assert args.lr == 0.002 and args.max_time == "00:00:08:00" and args.max_epochs == 100


def test_original_preset_is_the_option_defaults():
    args = parse("--preset original")
    for name, option in option_fields("train").items():
        if name != "name":
            assert getattr(args, name) == option.default, name
    assert not args.orf_features and args.depth == 6 and args.trees == 0


def test_precedence_defaults_preset_config_flags(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("depth: 4\nlr: 0.01\nmax_time: '00:01:00:00'\nrandom_crop: false\n")
    args = parse(f"--config {config}")
    assert (args.depth, args.lr, args.max_time, args.random_crop) == (4, 0.01, "00:01:00:00", False)
    assert args.trees == 600  # from the preset, untouched by the file
    args = parse(f"--config {config} --depth 2 --random_crop --no-orf_features --preset smoke")
    assert (args.depth, args.random_crop, args.orf_features, args.lr) == (2, True, False, 0.01)
    assert args.dim == 16  # the smoke preset's
    assert args.typed == ["depth", "orf_features", "random_crop"]


def test_pretrain_takes_the_preset_architecture_and_leaves_train_options():
    args = parse("", task="pretrain")
    assert args.depth == 3 and not hasattr(args, "trees") and args.mask_frac == 0.85


@pytest.mark.parametrize("text, message", [
    ("depht: 3\n", "unknown option 'depht'"),
    ("depth: three\n", "depth must be a int, not 'three'"),
    ("lr: 2e-3\n", "write 0.002"),
    ("max_time: 1:00:00:00\n", "quote it"),  # YAML 1.1 reads it as a number in base 60
    ("orf_features: 1\n", "orf_features must be a bool"),
    ("tree_stages: 3\n", "tree_stages must be one of 1, 2"),
    ("- depth\n", "expected a mapping"),
    ("depth: [3\n", "not valid YAML at line"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[")) as error:
        read_config(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_an_unknown_preset_or_missing_config_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="no preset named 'fast' \\(have .*default.*original"):
        parse("--preset fast")
    with pytest.raises(InputError, match="nothing.yaml"):
        parse(f"--config {tmp_path / 'nothing.yaml'}")


def test_an_empty_config_changes_nothing(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert vars(parse(f"--config {tmp_path / 'empty.yaml'}"))["trees"] == 600
