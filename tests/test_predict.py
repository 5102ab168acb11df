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
    assert "chr20.npy.gz" in meta["held_out"] and "chr20.npy.gz" not in meta["trained_on"]
    path = resolve_model(None)
    assert path.stat().st_size == meta["file_size"] < 5_000_000
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]


def test_batching_does_not_change_results(predictor, chry):
    # a transcript scores the same alone or in any batch
    data = subset(chry, list(range(0, 816, 40)))
    tokens = [data.transcript(i)[0] for i in range(len(data))]
    alone = [predictor.predict_batch([t])[0] for t in tokens]
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
