"""tis_transformer.export.ship: a trained model to the files the predictor loads, atomically (issue 19)."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("onnx")

import lightning as L  # noqa: E402

from tis_transformer.export import ship as ship_module  # noqa: E402
from tis_transformer.export.ship import check_output, model_files, ship  # noqa: E402
from tis_transformer.predictor.read import InputError  # noqa: E402
from tis_transformer.predictor.runner import Predictor  # noqa: E402
from tis_transformer.training.datasets import load_dataset  # noqa: E402
from tis_transformer.training.modules import TISModel  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.slow]

TINY = dict(dim=16, depth=1, heads=2, dim_head=8, local_attn_heads=1, local_window_size=64,
            nb_features=16, ff_chunks=1, emb_dropout=0.0, ff_dropout=0.0, attn_dropout=0.0)


@pytest.fixture(scope="module")
def model():
    L.seed_everything(0, verbose=False)
    return TISModel(TINY)


def test_ship_writes_every_graph_the_predictor_loads_and_the_card(model, small_split, tmp_path):
    out = tmp_path / "my.model.onnx"
    val = load_dataset(small_split / "val.npz")
    meta = ship(model, out, "a test", {"preset": "none"}, val, {"test": load_dataset(small_split / "test.npz")},
                validation={"val": val})
    files = model_files(out, 64)
    assert [p.name for p in files] == ["my.model.onnx", "my.model.summary.onnx", "my.model.step.onnx",
                                       "my.model.json", "my.model.window32.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)  # no staging left
    assert meta["preset"] == "none" and meta["parity"]["max_abs_diff"] < 1e-4
    assert set(meta["metrics"]) == {"test"} and set(meta["validation_metrics"]) == {"val"}
    predictor = Predictor(str(out), device="cpu")
    assert predictor.layered is not None


def test_an_interrupt_leaves_no_model_and_keeps_an_earlier_one(model, small_split, tmp_path, monkeypatch):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"earlier")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ship_module, "check_parity", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ship(model, out, "", {}, load_dataset(small_split / "val.npz"), {})
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"] and out.read_bytes() == b"earlier"


def test_a_narrower_model_removes_an_earlier_models_window_graphs(small_split, tmp_path):
    L.seed_everything(0, verbose=False)
    out = tmp_path / "m.onnx"
    stale = out.with_suffix(".window64.onnx")
    stale.write_bytes(b"a graph of an earlier model with a wider window")
    ship(TISModel({**TINY, "local_window_size": 32}), out, "", {}, load_dataset(small_split / "val.npz"), {})
    assert not stale.exists() and not out.with_suffix(".window32.onnx").exists() and out.exists()


def test_check_output_refuses_before_training(small_split, tmp_path):
    with pytest.raises(InputError, match="must end in .onnx"):
        check_output(tmp_path / "m.ckpt", [])
    with pytest.raises(InputError, match="does not exist"):
        check_output(tmp_path / "no" / "m.onnx", [])
    data = tmp_path / "data.json"
    data.write_text("{}")
    with pytest.raises(InputError, match="would write over the input"):
        check_output(tmp_path / "data.onnx", [data])  # data.json is where the card goes
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        check_output(tmp_path / "folder.onnx", [])
    assert check_output(tmp_path / "fine.onnx", [small_split / "val.npz"]) == tmp_path / "fine.onnx"
    # another model's layer graph under that name once broke it (impute then failed with a traceback)
    for name, owner in (("m1.step.onnx", "m1.onnx"), ("m1.summary.onnx", "m1.onnx"), ("a.b.window32.onnx", "a.b.onnx")):
        with pytest.raises(InputError, match=f"is a graph of the model {owner}; choose another name"):
            check_output(tmp_path / name, [])
    assert check_output(tmp_path / "m1.alone.onnx", []) == tmp_path / "m1.alone.onnx"
