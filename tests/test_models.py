import json

import numpy as np
import pytest

from tis_transformer.predictor.registry import DEFAULT_MODEL, MODELS_DIR, held_out_model, resolve_model, shipped_models
from tis_transformer.predictor.read import InputError


def chromosomes(meta: dict, key: str) -> set:
    return {str(name).split(".")[0] for name in meta.get(key, [])}


def test_each_shipped_model_never_saw_its_held_out_chromosomes():
    models = shipped_models()
    assert DEFAULT_MODEL in models
    for name, meta in models.items():
        held = chromosomes(meta, "held_out")
        # the default model is trained on every shared chromosome but its validation one; the fold models hold one out
        assert held or name == DEFAULT_MODEL, name
        assert not held & chromosomes(meta, "trained_on"), name
        assert not held & chromosomes(meta, "validated_on"), name
        assert set(meta["metrics"]) == held, name  # scored on exactly what it held out


def test_held_out_model_picks_a_model_that_never_saw_the_chromosome():
    models = shipped_models()
    for chrom in ("chr13", "chr18", "chr20", "chr22", "chrY", "chr1"):
        name = held_out_model(chrom)
        owners = [n for n, meta in models.items() if chrom in chromosomes(meta, "held_out")]
        if not owners:
            assert name is None
        else:
            assert name in owners
            assert name == DEFAULT_MODEL or DEFAULT_MODEL not in owners
    assert held_out_model("chr20") == "human_chr20" and held_out_model("chr13") == "human_chr13"


def test_models_with_input_features_declare_the_set_the_predictor_computes():
    from tis_transformer.predictor.features import FEATURE_NAMES, FEATURE_SET, HEXAMERS
    from tis_transformer.predictor.isoforms import ISOFORM_NAMES, STAGE_ONE_NAMES
    from tis_transformer.predictor.runner import Predictor
    from tis_transformer.predictor.trees import TREE_COLUMN_NAME

    for name, meta in shipped_models().items():
        if meta["architecture"].get("n_features"):
            declared = meta["input_features"]
            trees = [TREE_COLUMN_NAME] if meta["architecture"].get("tree_blend") else []
            assert (declared["set"], declared["names"]) == (FEATURE_SET, list(FEATURE_NAMES) + trees), name
            assert meta["architecture"]["n_features"] == len(FEATURE_NAMES)
            # a fitted table, not the all-zero one an untrained network holds
            predictor = Predictor(name, device="cpu")
            table = predictor.inputs.tables.hexamers
            assert table.shape == (HEXAMERS,) and np.abs(table).max() > 0.5, name
            # the shipped models blend their feature head with trees, which the predictor loads from the metadata
            assert trees and predictor.inputs.trees is not None, name
            assert predictor.inputs.trees.columns == len(FEATURE_NAMES), name
            assert predictor.inputs.trees.first is not None, name  # two stages
            # which compare each start with the other transcripts of the input, in both stages
            assert declared["isoform_columns"] == list(ISOFORM_NAMES) + list(STAGE_ONE_NAMES), name
            assert predictor.reads_isoforms and predictor.inputs.trees.stage_one_columns == len(STAGE_ONE_NAMES), name


def test_resolve_model_by_name_path_and_error(tmp_path):
    assert resolve_model(None) == MODELS_DIR / f"{DEFAULT_MODEL}.onnx"
    assert resolve_model(str(MODELS_DIR / f"{DEFAULT_MODEL}.onnx")).exists()
    with pytest.raises(InputError, match="no such model"):
        resolve_model("no_such_model")
    meta = json.loads((MODELS_DIR / f"{DEFAULT_MODEL}.json").read_text())
    assert meta["name"] == DEFAULT_MODEL


def test_models_command_names_each_alone_variant(capsys):
    from tis_transformer.cli.models import print_models

    assert print_models() == 0
    shown = capsys.readouterr().out
    variants = sorted(MODELS_DIR.glob("*.alone.onnx"))
    assert variants, "the shipped models come with alone variants"
    for variant in variants:
        assert f"alone variant (used with --alone): {variant}" in shown
        # a variant is not listed as a model of its own
        assert f"\n{variant.name[:-len('.onnx')]}:" not in shown


def test_models_command_shows_each_alone_variant_its_own_metrics(capsys):
    from tis_transformer.cli.models import print_models

    assert print_models() == 0
    blocks = capsys.readouterr().out.split("alone variant (used with --alone): ")[1:]
    scored = 0
    for block in blocks:
        variant = block.split("\n", 1)[0]
        card = json.loads(open(variant[:-len(".onnx")] + ".json").read())
        shown = [line.strip() for line in block.splitlines() if line.strip().startswith("alone metrics")]
        expected = [(f"alone metrics {chrom}:", f"pr_auc {m['pr_auc']:.4f},") for chrom, m in card.get("metrics", {}).items()]
        assert len(shown) == len(expected), variant
        scored += bool(expected)
        # the alone card, not the model's own: their PR AUCs differ on every held-out chromosome
        for line, (start, pr_auc) in zip(shown, expected):
            assert line.startswith(start) and f" {pr_auc}" in line, (variant, line)
    assert scored >= 3  # the fold models' variants, scored on their held-out chromosomes


def test_each_shipped_training_command_names_the_files_its_metadata_lists():
    # the recorded command is how a user reproduces a model: its validation and test arguments must be the
    # files the metadata says were validated on and held out, and the whole command must parse
    import shlex
    pytest.importorskip("torch")
    from tis_transformer.__main__ import build_parser
    parser = build_parser(train_options=True)
    files = sorted(MODELS_DIR.glob("*.json"))
    assert len(files) >= 8
    for path in files:
        meta = json.loads(path.read_text())
        words = shlex.split(meta["training_command"].split(" (")[0])
        assert words[:2] == ["tis-transformer", "train"], path.name
        args = parser.parse_args(words[1:])
        assert args.val_set == ",".join(meta["validated_on"]), path.name
        assert args.test_set == (",".join(meta["held_out"]) or "-"), path.name
        # unset options take the preset's value (isoform trees on); the alone variants turn them off
        assert getattr(args, "isoform_trees", True) == (not path.name.endswith(".alone.json")), path.name


def test_each_shipped_models_record_describes_the_file_beside_it():
    import hashlib
    for path in sorted(MODELS_DIR.glob("*.json")):
        meta = json.loads(path.read_text())
        onnx_file = path.with_suffix(".onnx")
        assert meta["file_size"] == onnx_file.stat().st_size, path.name
        assert meta["sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest(), path.name
