import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("performer_pytorch")
pytest.importorskip("onnx")

from tis_transformer.export.onnx_model import build_metadata, export_onnx  # noqa: E402
from tis_transformer.export.parity import check_parity  # noqa: E402
from tis_transformer.export.exportable import stock_probabilities  # noqa: E402
from tis_transformer.training.network import NetworkConfig, TISNetwork  # noqa: E402
from tis_transformer.predictor.read import InputError  # noqa: E402
from tis_transformer.predictor.runner import Predictor  # noqa: E402
from tis_transformer.training.datasets import read_original  # noqa: E402

from conftest import CHROMOSOMES, needs_shared  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.slow]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The default architecture with random weights, exported once."""
    torch.manual_seed(0)
    network = TISNetwork(NetworkConfig())
    network.eval()
    network.fix_projections()
    path = tmp_path_factory.mktemp("onnx") / "random.onnx"
    meta = export_onnx(network, path, build_metadata(network, "random"), logit_offset=-1.0)
    return network, path, meta


@pytest.fixture(scope="module")
def real_transcripts():
    """Real transcripts from 100 nt up to the longest in the data (49 kb, chr22)."""
    needs_shared(CHROMOSOMES / "chr22.npy.gz")
    data = read_original(CHROMOSOMES / "chr22.npy.gz")
    lengths = data.lengths
    picks = [int(np.argmin(np.abs(lengths - target))) for target in (100, 700, 3000, 12_000)]
    picks.append(int(np.argmax(lengths)))
    return [data.transcript(i)[0] for i in picks]


def test_parity_on_real_transcripts_alone_and_batched(exported, real_transcripts):
    network, path, _ = exported
    assert max(map(len, real_transcripts)) == 49_287
    worst = check_parity(network, path, real_transcripts, tolerance=1e-4, logit_offset=-1.0)
    assert worst <= 1e-4


def test_metadata_inside_and_beside_the_model(exported):
    import onnx

    _, path, meta = exported
    beside = json.loads(path.with_suffix(".json").read_text())
    assert beside["sha256"] == meta["sha256"] and len(meta["sha256"]) == 64
    assert beside["architecture"]["dim"] == 30
    inside = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert inside["tokens"]["A"] == 0 and inside["tokens"]["PAD"] == 5
    assert inside["name"] == "random"


def test_exported_model_is_small_and_dynamic(exported):
    _, path, _ = exported
    assert path.stat().st_size < 3_000_000
    predictor = Predictor(str(path), device="cpu")
    for shape in ((1, 1), (3, 257), (2, 1000)):
        out = predictor.session.run(None, {"tokens": np.zeros(shape, dtype=np.int64)})[0]
        assert out.shape == shape


def test_predictor_matches_stock_model(exported, real_transcripts):
    network, path, _ = exported
    tokens = real_transcripts[:3]
    expected = stock_probabilities(network, tokens, logit_offset=-1.0)
    got = Predictor(str(path), device="cpu", max_tokens=4000).predict(tokens)
    for e, g in zip(expected, got):
        assert np.abs(e - g).max() <= 1e-4


def test_parity_check_can_fail(exported, real_transcripts):
    network, path, _ = exported
    with pytest.raises(AssertionError, match="differ"):
        check_parity(network, path, real_transcripts[:1], logit_offset=0.0)


def test_export_command(tmp_path, small_split, capsys):
    import lightning as L

    from tis_transformer.__main__ import main
    from tis_transformer.training.modules import TISModel

    model = TISModel(dict(dim=16, depth=1, heads=2, dim_head=8, local_attn_heads=1, local_window_size=32,
                          nb_features=16, ff_chunks=1), pos_weight=4.0)
    trainer = L.Trainer(max_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "m.ckpt"), "-o", str(out), "--parity_data",
                 str(small_split / "val.npz"), "--parity_transcripts", "3"]) == 0
    printed = capsys.readouterr().out
    assert "parity: max |p_torch - p_onnx|" in printed
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["architecture"]["depth"] == 1 and len(card["parity"]["lengths"]) == 3
    assert Predictor(str(out), device="cpu").predict([np.zeros(50, dtype=np.uint8)])[0].shape == (50,)
    # inputs are never written over, and a run that fails writes nothing
    before = sorted(p.name for p in tmp_path.iterdir())
    ckpt, data = str(tmp_path / "m.ckpt"), str(small_split / "val.npz")
    for args, message in [
        (["-o", ckpt], "the model's name must end in .onnx"),
        (["-o", str(tmp_path / "e.onnx"), "--parity_data", str(tmp_path / "nope.npz")], "nope.npz: no such file"),
        (["-o", str(tmp_path / "e.onnx"), "--parity_data", data, "--parity_transcripts", "0"],
         "--parity_transcripts must be at least 1"),
        (["-o", str(tmp_path / "e.onnx"), "--metrics", data], "not JSON"),
    ]:
        assert main(["export", ckpt, *args]) == 1
        assert message in capsys.readouterr().err, args
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    # a file that is not a checkpoint: one line, nothing written
    assert main(["export", data, "-o", str(tmp_path / "e.onnx")]) == 1
    assert f"{data}: not a training checkpoint" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    (tmp_path / "same.onnx").symlink_to(tmp_path / "m.ckpt")
    assert main(["export", ckpt, "-o", str(tmp_path / "same.onnx")]) == 1
    assert "would write over the input" in capsys.readouterr().err


def test_layer_graphs_match_the_whole_graph(exported, real_transcripts):
    # long transcripts run layer by layer in pieces; the function must not change
    _, path, _ = exported
    assert path.with_suffix(".summary.onnx").exists() and path.with_suffix(".step.onnx").exists()
    predictor = Predictor(str(path), device="cpu")
    assert predictor.layered is not None
    for tokens in real_transcripts[2:]:  # 3 kb, 12 kb and 49 kb
        whole = predictor.predict_batch([tokens])[0]
        for piece in (512, 8192):
            predictor.layered.piece = piece
            assert np.abs(predictor.layered.predict(tokens) - whole).max() <= 1e-5


def test_a_layer_graph_that_is_another_model_is_refused_in_one_line(exported, tmp_path):
    # train -o NAME.step.onnx once wrote a whole model there; impute then failed with a traceback
    import shutil
    from tis_transformer.predictor.read import InputError

    _, path, _ = exported
    for suffix in (".onnx", ".summary.onnx", ".json"):
        shutil.copy(path.with_suffix(suffix), tmp_path / ("copy" + suffix))
    shutil.copy(path, tmp_path / "copy.step.onnx")
    with pytest.raises(InputError, match=r"copy.step.onnx: not a layer graph of copy.onnx \(inputs \['tokens'\]\)"):
        Predictor(str(tmp_path / "copy.onnx"), device="cpu")


def test_long_transcripts_take_the_layered_path(exported, real_transcripts, monkeypatch):
    _, path, _ = exported
    predictor = Predictor(str(path), device="cpu")
    calls = []
    run = predictor.layered.predict
    monkeypatch.setattr(predictor.layered, "predict", lambda t, isoforms=None: calls.append(len(t)) or run(t, isoforms))
    out = predictor.predict(real_transcripts)
    assert calls == [49_287]
    assert [len(p) for p in out] == [len(t) for t in real_transcripts]


def test_model_with_reading_frame_features(tmp_path, real_transcripts):
    # the predictor computes the features itself; whole graph, batches and pieces agree with torch
    from tis_transformer.predictor.features import FEATURE_NAMES, FEATURE_SET, HEXAMERS

    torch.manual_seed(1)
    config = NetworkConfig(dim=16, depth=2, heads=2, dim_head=8, local_attn_heads=1, local_window_size=64,
                           nb_features=16, ff_chunks=1, n_features=len(FEATURE_NAMES), feature_head=8)
    network = TISNetwork(config)
    table = np.round(np.random.default_rng(1).normal(0, 0.5, HEXAMERS), 4).astype(np.float32)
    with torch.no_grad():  # make the features, hexamer columns included, matter
        network.feature_emb.weight.mul_(20.0)
        network.hexamer_log_odds.copy_(torch.from_numpy(table))
        # the feature head's standardization (set by prefitting) is part of the exported function
        network.feature_shift.uniform_(-0.5, 0.5)
        network.feature_scale.uniform_(0.5, 3.0)
        network.non_atg_logit_shift.fill_(-3.0)
    network.eval()
    network.fix_projections()
    path = tmp_path / "features.onnx"
    meta = export_onnx(network, path, build_metadata(network, "features"))
    declared = meta["input_features"]
    assert (declared["set"], declared["names"]) == (FEATURE_SET, list(FEATURE_NAMES))
    predictor = Predictor(str(path), device="cpu")
    assert predictor.uses_features and predictor.layered.inputs is predictor.inputs
    # the table fitted at training time reaches the predictor bit for bit through the metadata
    np.testing.assert_array_equal(predictor.inputs.tables.hexamers, table)
    np.testing.assert_array_equal(predictor.layered.inputs.tables.hexamers, table)
    assert check_parity(network, path, real_transcripts, tolerance=1e-4) <= 1e-4
    plain = stock_probabilities(network, real_transcripts[:1])[0]
    with torch.no_grad():
        network.feature_emb.weight.zero_()
    without_embedding = stock_probabilities(network, real_transcripts[:1])[0]
    assert np.abs(without_embedding - plain).max() > 1e-3
    with torch.no_grad():  # the feature head is a second, direct path
        network.feature_head[-1].weight.mul_(50.0)
    assert np.abs(stock_probabilities(network, real_transcripts[:1])[0] - without_embedding).max() > 1e-3


def test_model_with_features_refuses_another_feature_set(tmp_path):
    import onnx

    from tis_transformer.predictor.features import FEATURE_NAMES

    torch.manual_seed(2)
    network = TISNetwork(NetworkConfig(dim=8, depth=1, heads=2, dim_head=4, local_attn_heads=1,
                                       local_window_size=16, nb_features=8, ff_chunks=1,
                                       n_features=len(FEATURE_NAMES)))
    path = tmp_path / "other.onnx"
    export_onnx(network, path, build_metadata(network, "other"), layer_graphs=False)
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "input_features":
            prop.value = json.dumps({"set": "orf-v0", "names": []})
    onnx.save(model, str(path))
    with pytest.raises(InputError, match="orf-v0"):
        Predictor(str(path), device="cpu")


def test_a_model_of_an_older_format_version_is_refused_in_one_line(tmp_path):
    import onnx

    from tis_transformer.predictor.registry import FORMAT_VERSION, MODELS_DIR

    model = onnx.load(str(MODELS_DIR / "human.onnx"))
    for prop in model.metadata_props:
        if prop.key == "format_version":
            prop.value = "1"
    onnx.save(model, str(tmp_path / "old.onnx"))
    with pytest.raises(InputError, match=f"model format version 1; this release reads version {FORMAT_VERSION}"):
        Predictor(str(tmp_path / "old.onnx"), device="cpu")


def _network_blending_trees(seed: int) -> TISNetwork:
    """A tiny network with a feature head, blending trees half-and-half (none fitted yet)."""
    from tis_transformer.predictor.features import FEATURE_NAMES

    pytest.importorskip("lightgbm")
    torch.manual_seed(seed)
    return TISNetwork(NetworkConfig(dim=8, depth=1, heads=2, dim_head=4, local_attn_heads=1, local_window_size=16,
                                    nb_features=8, ff_chunks=1, n_features=len(FEATURE_NAMES), feature_head=4,
                                    tree_blend=0.5))


def test_model_with_trees_keeps_them_in_its_metadata(tmp_path, real_transcripts):
    # the trees travel inside the ONNX model; the predictor scores ATGs with them, whole, batched and in pieces
    import onnx

    from tis_transformer.predictor.features import FEATURE_NAMES, orf_features

    from tis_transformer.training.fit_trees import fit_trees, fit_two_stage_trees

    network = _network_blending_trees(4)
    path = tmp_path / "trees.onnx"
    with pytest.raises(ValueError, match="has none fitted"):
        build_metadata(network, "trees")
    features = [orf_features(t) for t in real_transcripts[:3]]
    rows, transcripts = np.concatenate(features), np.concatenate([np.full(len(f), i) for i, f in enumerate(features)])
    atg = rows[:, FEATURE_NAMES.index("is_atg")] > 0
    rows, transcripts = rows[atg], transcripts[atg]
    labels = (rows[:, FEATURE_NAMES.index("log_orf_codons")] > np.median(rows[:, 1])).astype(np.float32)
    first, second = fit_two_stage_trees(rows, labels, np.ones_like(labels), transcripts, rounds=30,
                                        min_rows_in_leaf=10, threads=1)
    network.set_trees(second, first)
    meta = export_onnx(network, path, build_metadata(network, "trees"))
    assert meta["input_features"]["names"] == list(FEATURE_NAMES) + ["tree_logit"]
    for key in ("trees", "trees_stage_one"):  # the JSON beside the model names them
        assert meta["input_features"][key].startswith("an ONNX model of "), key
    predictor = Predictor(str(path), device="cpu")
    assert predictor.inputs.trees is not None and predictor.layered.inputs.trees is predictor.inputs.trees
    assert predictor.inputs.trees.first is not None
    assert check_parity(network, path, real_transcripts, tolerance=1e-4) <= 1e-4
    # the blend is half the output's logit at ATGs: other trees (one stage), other scores
    network.set_trees(fit_trees(rows, 1 - labels, np.ones_like(labels), rounds=30, min_rows_in_leaf=10, threads=1))
    assert np.abs(stock_probabilities(network, real_transcripts[1:2])[0] - predictor.predict_batch(
        real_transcripts[1:2])[0]).max() > 1e-3
    # damaged trees: a one-line error naming the model
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "input_features":
            declared = json.loads(prop.value)
            prop.value = json.dumps({**declared, "trees": declared["trees"][:100]})
    onnx.save(model, str(path))
    with pytest.raises(InputError, match="its trees are not usable") as error:
        Predictor(str(path), device="cpu")
    assert "\n" not in str(error.value)


def test_model_whose_trees_read_isoforms_declares_them_and_keeps_parity(tmp_path, real_transcripts):
    # trees fitted with isoform columns: the predictor indexes its input and matches PyTorch given the same input
    import onnx

    from tis_transformer.predictor.features import FEATURE_NAMES, orf_features
    from tis_transformer.predictor.isoforms import ISOFORM_NAMES, STAGE_ONE_NAMES, IsoformIndex

    from tis_transformer.training.fit_trees import fit_two_stage_trees

    network = _network_blending_trees(5)
    n = len(FEATURE_NAMES)
    # a fragment of the 3 kb transcript is its sibling: the same starts, ORFs cut short at its end
    tokens = list(real_transcripts[:3]) + [real_transcripts[2][: len(real_transcripts[2]) // 2]]
    index = IsoformIndex.of(tokens)
    features = [orf_features(t) for t in tokens]
    alike = [index.columns(t) for t in tokens]
    rows = np.concatenate([np.concatenate(features), np.concatenate(alike)], axis=1)
    transcripts = np.concatenate([np.full(len(f), i) for i, f in enumerate(features)])
    atg = rows[:, FEATURE_NAMES.index("is_atg")] > 0
    rows, transcripts = rows[atg], transcripts[atg]
    assert (rows[:, n + ISOFORM_NAMES.index("start_shared")] > 0).sum() > 20
    # labels the isoform columns decide: starts that another transcript shares
    labels = (rows[:, n + ISOFORM_NAMES.index("start_shared")] > 0).astype(np.float32)
    # the second stage also reads the first stage's scores pooled over the other transcripts
    first, second = fit_two_stage_trees(rows, labels, np.ones_like(labels), transcripts, rounds=30,
                                        min_rows_in_leaf=5, threads=1,
                                        stage_one_columns=lambda p: index.set_stage_one(p).stage_one_rows())
    network.set_trees(second, first)
    path = tmp_path / "isoforms.onnx"
    meta = export_onnx(network, path, build_metadata(network, "isoforms"))
    assert meta["input_features"]["isoform_columns"] == list(ISOFORM_NAMES) + list(STAGE_ONE_NAMES)
    predictor = Predictor(str(path), device="cpu")
    assert predictor.reads_isoforms and predictor.inputs.trees.isoform_columns == len(ISOFORM_NAMES)
    assert predictor.inputs.trees.stage_one_columns == len(STAGE_ONE_NAMES)
    assert predictor.isoform_index(tokens).width == len(ISOFORM_NAMES) + len(STAGE_ONE_NAMES)
    assert check_parity(network, path, tokens, tolerance=1e-4) <= 1e-4
    together = predictor.predict(tokens, predictor.isoform_index(tokens))
    alone = predictor.predict(tokens)
    assert np.abs(together[3] - alone[3]).max() > 1e-3  # the fragment scores differently beside its whole
    np.testing.assert_allclose(together[1], predictor.predict(tokens[1:2], predictor.isoform_index(tokens))[0],
                               atol=1e-6)
    # a model whose declared isoform columns are not the ones this version computes: one line
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "input_features":
            prop.value = json.dumps({**json.loads(prop.value), "isoform_columns": ["something_else"] * 5})
    onnx.save(model, str(path))
    with pytest.raises(InputError, match="isoform columns") as error:
        Predictor(str(path), device="cpu")
    assert "\n" not in str(error.value)


def test_short_window_graphs_score_short_rows_as_the_whole_graph(exported, real_transcripts):
    # a batch whose rows all fit in W nt runs through STEM.windowW.onnx: the same function, less padding
    from tis_transformer.export.onnx_model import short_window_path

    network, path, _ = exported
    assert all(short_window_path(path, w).exists() for w in (32, 64))
    predictor = Predictor(str(path), device="cpu")
    assert [w for w, _ in predictor.short] == [32, 64]
    rng = np.random.default_rng(0)
    tokens = [rng.integers(0, 5, n) for n in (1, 2, 7, 30, 31, 32, 33, 50, 64)] + [real_transcripts[0][:60]]
    for window, session in predictor.short:
        rows = [t for t in tokens if len(t) <= window]
        for length in (max(len(t) for t in rows), window):
            batch = np.full((len(rows), length), 5, dtype=np.int64)
            for row, t in enumerate(rows):
                batch[row, :len(t)] = t
            short, whole = session.run(None, {"tokens": batch})[0], predictor.session.run(None, {"tokens": batch})[0]
            valid = batch != 5
            assert np.abs(short - whole)[valid].max() <= 1e-6
    # through predict, by length bucket, against the stock modules
    expected = stock_probabilities(network, tokens, logit_offset=-1.0)
    for got, p in zip(predictor.predict(tokens), expected):
        assert np.abs(got - p).max() <= 1e-4


def test_network_is_rebuilt_from_its_graph(exported, tmp_path):
    # shipped models whose checkpoints are gone get their short-window graphs from the network rebuilt this way
    from tis_transformer.export.onnx_model import network_from_onnx

    network, path, _ = exported
    rebuilt, offset = network_from_onnx(path)
    assert offset == pytest.approx(-1.0)
    for (name, value), again in zip(network.state_dict().items(), rebuilt.state_dict().values()):
        if value.is_floating_point():
            assert torch.equal(value, again), name


def test_network_without_transformer_layers_exports_the_feature_head_and_trees_alone(tmp_path, real_transcripts):
    # depth 0: no transformer; one small graph scores any length, with the trees and both feature tables inside
    import onnx

    from tis_transformer.export.onnx_model import network_from_onnx
    from tis_transformer.predictor.features import FEATURE_NAMES, IS_ATG_COLUMN, START_CONTEXT_SHAPE
    from tis_transformer.training.fit_trees import fit_trees

    pytest.importorskip("lightgbm")
    torch.manual_seed(5)
    network = TISNetwork(NetworkConfig(depth=0, n_features=len(FEATURE_NAMES), feature_head=4, tree_blend=0.5))
    with torch.no_grad():
        # rounded to 1e-4 as fitted tables are, so that the metadata holds them exactly
        network.start_context_log_odds.copy_(torch.linspace(-1, 1, int(np.prod(START_CONTEXT_SHAPE)))
                                             .reshape(START_CONTEXT_SHAPE).mul(1e4).round().div(1e4))
        network.feature_scale.uniform_(0.5, 1.5)
    inputs = network.model_inputs()
    rows = np.concatenate([inputs.features(t) for t in real_transcripts[:3]])
    rows = rows[rows[:, IS_ATG_COLUMN] > 0]
    labels = (rows[:, -1] > np.median(rows[:, -1])).astype(np.float32)  # the start-context score decides
    network.set_trees(fit_trees(rows, labels, np.ones_like(labels), rounds=20, min_rows_in_leaf=10, threads=1))
    path = tmp_path / "heads.onnx"
    meta = export_onnx(network, path, build_metadata(network, "heads"), logit_offset=-0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heads.json", "heads.onnx"]
    assert meta["architecture"]["depth"] == 0 and path.stat().st_size < 1_000_000
    graph = onnx.load(str(path)).graph
    assert not any("token_emb" in i.name or "performer" in i.name for i in graph.initializer)
    assert check_parity(network, path, real_transcripts, tolerance=1e-5, logit_offset=-0.5) <= 1e-5
    predictor = Predictor(str(path), device="cpu")
    assert predictor.layered is None and not predictor.short
    np.testing.assert_array_equal(predictor.inputs.tables.start_context, network.feature_tables().start_context)
    rebuilt, offset = network_from_onnx(path)
    assert offset == pytest.approx(-0.5)
    for name, value in network.state_dict().items():
        if name.startswith("feature_head.") or name.endswith(("feature_shift", "feature_scale", "log_odds")):
            assert torch.equal(value, rebuilt.state_dict()[name]), name
    with pytest.raises(ValueError, match="needs a feature head"):
        TISNetwork(NetworkConfig(depth=0))
