import numpy as np
import pytest

from tis_transformer.predictor.registry import DEFAULT_MODEL, resolve_model, shipped_models
from tis_transformer.predictor.runner import Predictor
from tis_transformer.predictor.read import InputError

from conftest import subset


@pytest.fixture(scope="module")
def predictor():
    return Predictor(device="cpu", threads=2)


def test_shipped_default_model_has_metadata():
    models = shipped_models()
    assert DEFAULT_MODEL in models
    meta = models[DEFAULT_MODEL]
    assert meta["tokens"]["A"] == 0 and meta["tokens"]["G"] == 3
    assert {"architecture", "sha256", "trained_on", "held_out", "metrics"} <= set(meta)
    # the default model is trained on every shared chromosome but chrY (its validation); fold models hold one out
    assert meta["held_out"] == [] and {"chr13.npy.gz", "chr18.npy.gz", "chr20.npy.gz"} <= set(meta["trained_on"])
    for chromosome in ("chr13", "chr18", "chr20"):
        fold = models[f"human_{chromosome}"]
        assert fold["held_out"] == [f"{chromosome}.npy.gz"] and f"{chromosome}.npy.gz" not in fold["trained_on"]
    path = resolve_model(None)
    assert path.stat().st_size == meta["file_size"] < 5_000_000
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]


def test_batching_does_not_change_results(predictor, chry):
    # a transcript scores the same alone or in any batch
    data = subset(chry, list(range(0, 816, 40)))
    tokens = [data.transcript(i)[0] for i in range(len(data))]
    # scored without an isoform index, the model's alone variant scores them
    alone = [(predictor.alone or predictor).predict_batch([t])[0] for t in tokens]
    for budget in (2_000, 30_000, 400_000):
        predictor.max_tokens = budget
        for a, b in zip(alone, predictor.predict(tokens)):
            assert np.abs(a - b).max() <= 1e-5


def test_predict_records_keeps_input_order(predictor, chry):
    records = [(str(chry.ids[i]), chry.transcript(i)[0]) for i in (5, 1, 300, 2)]
    out = list(predictor.predict_records(iter(records), chunk_nt=1000))
    assert [name for name, _, _ in out] == [name for name, _ in records]
    assert all(len(p) == len(t) for _, t, p in out)


def test_probabilities_are_valid(predictor):
    (p,) = predictor.predict([np.array([0, 1, 3] * 50, dtype=np.uint8)])
    assert p.dtype == np.float32 and p.shape == (150,)
    assert np.all((p >= 0) & (p <= 1))


def test_unknown_model_name():
    with pytest.raises(InputError, match="no such model"):
        resolve_model("martian")


def test_a_model_scores_transcripts_alone_with_its_alone_variant(tmp_path, chry):
    # STEM.alone.onnx beside a model that compares isoforms scores what is scored alone; the model itself the rest
    import shutil

    from conftest import ROOT

    tokens = [chry.transcript(i)[0] for i in range(40)]
    test_data = ROOT / "galaxy" / "test-data"  # a tiny pair (export/galaxy_test_models.py)
    shutil.copy(test_data / "tiny_isoforms.onnx", tmp_path / "m.onnx")
    plain = Predictor(str(tmp_path / "m.onnx"), device="cpu", threads=1)
    assert plain.reads_isoforms and plain.alone is None
    shutil.copy(test_data / "tiny_isoforms.alone.onnx", tmp_path / "m.alone.onnx")
    paired = Predictor(str(tmp_path / "m.onnx"), device="cpu", threads=1)
    variant = Predictor(str(tmp_path / "m.alone.onnx"), device="cpu", threads=1)
    for got, expected in zip(paired.predict(tokens), variant.predict(tokens)):
        np.testing.assert_array_equal(got, expected)
    index = paired.isoform_index(tokens)
    for got, expected in zip(paired.predict(tokens, index), plain.predict(tokens, plain.isoform_index(tokens))):
        np.testing.assert_array_equal(got, expected)
    # an alone variant that itself compares isoforms is refused in one line when it would score, and not opened
    # by runs that compare isoforms
    shutil.copy(resolve_model(None), tmp_path / "m.alone.onnx")
    comparing = Predictor(str(tmp_path / "m.onnx"), device="cpu", threads=1)
    comparing.predict(tokens, comparing.isoform_index(tokens))
    assert comparing._alone is False
    with pytest.raises(InputError, match="must not read isoform columns"):
        comparing.predict(tokens)


def test_an_alone_variant_must_belong_to_its_model(tmp_path, chry, caplog):
    # the pair is found by file name; the cards' names catch a mismatched pair (e.g. renamed in a Galaxy history)
    import shutil

    from tis_transformer.predictor.registry import MODELS_DIR

    tokens = [chry.transcript(i)[0] for i in range(5)]
    shutil.copy(MODELS_DIR / "human.onnx", tmp_path / "m.onnx")
    shutil.copy(MODELS_DIR / "human_chr13.alone.onnx", tmp_path / "m.alone.onnx")
    with pytest.raises(InputError, match="model 'human_chr13.alone' is not the alone variant of 'human'"):
        Predictor(str(tmp_path / "m.onnx"), device="cpu", threads=1).predict(tokens)
    # crossval's folds are all named model / model.alone: the cards' training files tell them apart
    fold = tmp_path / "fold"
    fold.mkdir()
    shutil.copy(MODELS_DIR / "human_chr13.onnx", fold / "model.onnx")
    shutil.copy(MODELS_DIR / "human_chr18.alone.onnx", fold / "model.alone.onnx")
    _rename_card(fold / "model.onnx", "model")
    _rename_card(fold / "model.alone.onnx", "model.alone")
    with pytest.raises(InputError, match="trained_on differs from model.onnx's"):
        Predictor(str(fold / "model.onnx"), device="cpu", threads=1).predict(tokens)
    shutil.copy(MODELS_DIR / "human.alone.onnx", tmp_path / "m.alone.onnx")
    assert Predictor(str(tmp_path / "m.onnx"), device="cpu", threads=1).alone is not None
    # without its variant, scoring alone still runs, with a warning
    (tmp_path / "m.alone.onnx").unlink()
    with caplog.at_level("WARNING", logger="tis_transformer"):
        Predictor(str(tmp_path / "m.onnx"), device="cpu", threads=1).predict(tokens)
    assert "has no alone variant beside it (m.alone.onnx)" in caplog.text


def _rename_card(path, name):
    """Give an ONNX model's card another name, as exporting it under another file name would."""
    import json

    import onnx

    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "name":
            prop.value = json.dumps(name)
    onnx.save(model, str(path))
