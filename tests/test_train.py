import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("performer_pytorch")

import lightning as L  # noqa: E402

from tis_transformer.__main__ import main  # noqa: E402
from tis_transformer.predictor.features import FEATURE_NAMES, orf_features  # noqa: E402
from tis_transformer.predictor.isoforms import ISOFORM_NAMES  # noqa: E402
from tis_transformer.predictor.metrics import average_precision  # noqa: E402
from tis_transformer.predictor.read import read_records  # noqa: E402
from tis_transformer.predictor.runner import Predictor  # noqa: E402
from tis_transformer.training.datasets import load_dataset  # noqa: E402
from tis_transformer.training.checkpoints import load_tis_model, transfer_weights  # noqa: E402
from tis_transformer.training.data import BatchedTranscripts, TranscriptData, split_files  # noqa: E402
from tis_transformer.training.modules import MLMModel, TISModel  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]

TINY = dict(dim=16, depth=1, heads=2, dim_head=8, local_attn_heads=1, local_window_size=32,
            nb_features=16, ff_chunks=1, emb_dropout=0.0, ff_dropout=0.0, attn_dropout=0.0)


def val_pr_auc(model, path):
    data = load_dataset(path)
    model.eval()
    scores, labels = [], []
    with torch.no_grad():
        for i in range(len(data)):
            tokens, y = data.transcript(i)
            features = None
            if model.network.config.n_features:
                features = torch.from_numpy(orf_features(tokens, model.network.feature_tables()))[None]
            scores.append(model(torch.as_tensor(tokens.astype(np.int64))[None], features)[0].numpy())
            labels.append(y)
    return average_precision(np.concatenate(labels), np.concatenate(scores))


def fit(model, split, steps):
    data = TranscriptData(str(split), ["val.npz"], ["test.npz"], max_tokens=6000, max_per_batch=16,
                          seed=0, crop_len=600, features=bool(model.network.config.n_features))
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        reload_dataloaders_every_n_epochs=1)
    trainer.fit(model, datamodule=data)
    return trainer


def test_training_beats_an_untrained_model(small_split):
    L.seed_everything(0, verbose=False)
    model = TISModel(TINY, lr=5e-3, pos_weight=20.0)
    before = val_pr_auc(model, small_split / "val.npz")
    fit(model, small_split, steps=300)
    model.network.fix_projections()
    after = val_pr_auc(model, small_split / "val.npz")
    print(f"val PR AUC untrained {before:.4f}, trained {after:.4f}")
    assert after > 0.05, (before, after)
    assert after > 5 * before, (before, after)


def test_reading_frame_features_speed_up_learning(small_split):
    # same tiny network, same 60 steps: the features make the difference
    results = {}
    for n_features in (0, len(FEATURE_NAMES)):
        L.seed_everything(0, verbose=False)
        model = TISModel({**TINY, "n_features": n_features}, lr=5e-3, pos_weight=20.0)
        fit(model, small_split, steps=60)
        model.network.fix_projections()
        results[n_features] = val_pr_auc(model, small_split / "val.npz")
    print(f"val PR AUC after 60 steps: tokens only {results[0]:.4f}, with features "
          f"{results[len(FEATURE_NAMES)]:.4f}")
    assert results[len(FEATURE_NAMES)] > 0.1  # measured 0.20 against 0.005
    assert results[len(FEATURE_NAMES)] > 10 * results[0]


def test_random_crops_keep_tokens_labels_and_features_aligned(small_split):
    data = load_dataset(small_split / "train.npz")
    batches = BatchedTranscripts(data, max_tokens=2000, max_per_batch=4, shuffle=False, crop_len=200,
                                 random_crop=True, features=True)
    starts = {}
    for epoch in (0, 1):
        batches.set_epoch(epoch)
        batch = batches[0]
        assert batch["tokens"].shape[1] <= 200
        for row, index in enumerate(batch["index"].tolist()):
            tokens, labels = data.transcript(index)
            full = orf_features(tokens)
            cropped = batch["tokens"][row].numpy()
            n = int((cropped != 5).sum())
            # find where the window sits in the transcript; labels and features must come from there
            start = next(s for s in range(len(tokens) - n + 1) if (tokens[s:s + n] == cropped[:n]).all()
                         and np.array_equal(full[s:s + n], batch["features"][row, :n].numpy()))
            assert np.array_equal(labels[start:start + n], batch["labels"][row, :n].numpy())
            starts[(epoch, index)] = start
    moved = [starts[(0, i)] != starts[(1, i)] for (e, i) in starts if e == 0 and (1, i) in starts]
    assert any(moved)


def test_mlm_loss_falls(small_split):
    L.seed_everything(0, verbose=False)
    model = MLMModel(TINY, lr=5e-3)
    data = TranscriptData(str(small_split), ["val.npz"], ["test.npz"], 6000, 16, crop_len=600)
    data.setup()
    batch = BatchedTranscripts(data.sets["val"], 6000, 16, shuffle=False)[0]

    def loss():
        torch.manual_seed(1)  # the same corruption before and after
        model.eval()
        with torch.no_grad():
            return model._loss(batch)[0].item()

    first = loss()
    fit(model, small_split, steps=150)
    assert loss() < first - 0.05
    assert first == pytest.approx(np.log(5), abs=0.3)


def test_training_fits_the_hexamer_table_on_the_training_split(small_split):
    from tis_transformer.training.hexamers import fit_hexamer_log_odds

    model = TISModel({**TINY, "n_features": len(FEATURE_NAMES)})
    assert not model.network.hexamer_log_odds.any()
    fit(model, small_split, steps=1)
    train = load_dataset(small_split / "train.npz")
    expected = fit_hexamer_log_odds(train.transcript(i) for i in range(len(train)))
    assert np.abs(expected).max() > 0.5
    np.testing.assert_array_equal(model.network.feature_tables().hexamers, expected)


def test_transfer_from_a_tis_model_takes_its_weights_but_not_its_tables(tmp_path):
    L.seed_everything(0, verbose=False)
    old = TISModel({**TINY, "n_features": len(FEATURE_NAMES)})
    with torch.no_grad():
        old.network.hexamer_log_odds.fill_(1.0)
    torch.save({"state_dict": old.state_dict()}, tmp_path / "old.ckpt")
    new = TISModel({**TINY, "n_features": len(FEATURE_NAMES)})
    transfer_weights(new, tmp_path / "old.ckpt")
    assert torch.equal(new.network.feature_emb.weight, old.network.feature_emb.weight)
    assert torch.equal(new.network.head.weight, old.network.head.weight)
    assert not new.network.hexamer_log_odds.any()  # the table belongs to this run's training data


def test_start_loss_scores_atgs_and_tiss_only(small_split):
    from tis_transformer.training.network import pad_batch

    data = load_dataset(small_split / "val.npz")
    L.seed_everything(0, verbose=False)
    model = TISModel({**TINY, "n_features": len(FEATURE_NAMES)}, pos_weight=10.0, start_loss=True)
    model.log = lambda *args, **kwargs: None
    pairs = [data.transcript(i) for i in range(4)]
    tokens = pad_batch([t.astype(np.int64) for t, _ in pairs])
    labels = torch.zeros(tokens.shape)
    features = torch.zeros(*tokens.shape, len(FEATURE_NAMES))
    for row, (t, y) in enumerate(pairs):
        labels[row, :len(y)] = torch.from_numpy(y.astype(np.float32))
        features[row, :len(t)] = torch.from_numpy(orf_features(t, model.network.feature_tables()))
    batch = {"tokens": tokens, "labels": labels, "features": features}
    model.eval()  # no dropout: the same logits twice
    with torch.no_grad():
        loss = model.training_step(batch, 0)
        logits = model.network(tokens, tokens != 5, features)[..., 0]
    counted = (features[..., FEATURE_NAMES.index("is_atg")] > 0) | (labels > 0)
    assert labels.sum() > 0 and 0 < counted.sum() < (tokens != 5).sum() / 10
    weight = torch.where(labels[counted] > 0, 10.0, 1.0)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[counted], labels[counted], weight=weight)
    torch.testing.assert_close(loss, expected)
    model.hparams.start_loss = False
    with torch.no_grad():
        assert not torch.isclose(model.training_step(batch, 0), expected)


def test_prefit_feature_head_hands_over_a_working_model(small_split):
    from tis_transformer.training.prefit import prefit_feature_head

    L.seed_everything(0, verbose=False)
    model = TISModel({**TINY, "n_features": len(FEATURE_NAMES), "feature_head": 16}, pos_weight=10.0)
    fit(model, small_split, steps=1)  # sets the hexamer table from the training split
    before = val_pr_auc(model, small_split / "val.npz")
    train = load_dataset(small_split / "train.npz")
    fitted = prefit_feature_head(model, train, epochs=300, seed=0)
    assert fitted["positives"] == int(train.labels().sum()) and fitted["rows"] < train.tokens.size / 5
    # the 2% sample of other positions weighs 2: their odds are undone by log(0.04) where no ATG starts
    assert model.network.non_atg_logit_shift.item() == pytest.approx(np.log(0.02 * 2.0))
    # the encoder's head is zeroed: the network computes the feature head alone
    assert not model.network.head.weight.any() and not model.network.head.bias.any()
    model.eval()
    model.network.fix_projections()
    tokens, _ = load_dataset(small_split / "val.npz").transcript(0)
    features = torch.from_numpy(orf_features(tokens, model.network.feature_tables()))[None]
    with torch.no_grad():
        direct = torch.sigmoid(model.network.feature_logits(features)[..., 0] + model.logit_offset)
        torch.testing.assert_close(model(torch.as_tensor(tokens.astype(np.int64))[None], features), direct)
        head = model.network.feature_head((features - model.network.feature_shift) * model.network.feature_scale)
        shift = model.network.feature_logits(features) - head
        is_atg = features[..., FEATURE_NAMES.index("is_atg")] > 0
        assert is_atg.any() and not shift[is_atg].any()
        # and where no near-cognate codon starts either, by how rarely translation starts at such codons
        near = features[..., FEATURE_NAMES.index("is_near_cognate")] > 0
        non_start = model.network.non_start_logit_shift.item()
        assert fitted["non_start_logit_shift"] == pytest.approx(non_start) and non_start < -1.0
        expected = torch.full_like(shift, np.log(0.04)) + non_start * (~near & ~is_atg)[..., None]
        torch.testing.assert_close(shift[~is_atg], expected[~is_atg])
    after = val_pr_auc(model, small_split / "val.npz")
    print(f"val PR AUC after one step {before:.4f}, with the prefit feature head {after:.4f}")
    assert after > 0.3 and after > 3 * before


def test_feature_head_needs_features_and_is_optional_when_transferring(tmp_path):
    with pytest.raises(ValueError, match="feature_head needs input features"):
        TISModel({**TINY, "feature_head": 8})
    old = TISModel({**TINY, "n_features": 10})
    torch.save({"state_dict": old.state_dict()}, tmp_path / "old.ckpt")
    new = TISModel({**TINY, "n_features": len(FEATURE_NAMES), "feature_head": 8})
    transfer_weights(new, tmp_path / "old.ckpt")  # the new head starts from its own initialisation


def test_checkpoint_round_trip_and_transfer(small_split, tmp_path):
    L.seed_everything(0, verbose=False)
    model = TISModel(TINY)
    trainer = fit(model, small_split, steps=2)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    model.eval()
    model.network.fix_projections()
    loaded = load_tis_model(tmp_path / "m.ckpt")
    x = torch.randint(0, 4, (2, 300))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    # a TIS model starts from a pretraining checkpoint: every weight but the head carries over
    mlm = MLMModel(TINY)
    trainer = fit(mlm, small_split, steps=2)
    trainer.save_checkpoint(tmp_path / "mlm.ckpt")
    fresh = TISModel(TINY)
    transfer_weights(fresh, tmp_path / "mlm.ckpt")
    assert torch.equal(fresh.network.token_emb.weight, mlm.network.token_emb.weight)
    with pytest.raises(ValueError, match="does not match"):
        transfer_weights(TISModel({**TINY, "dim": 24}), tmp_path / "mlm.ckpt")


def test_checkpoint_of_an_earlier_version_is_refused_in_one_line(small_split, tmp_path):
    from tis_transformer.predictor.read import InputError

    L.seed_everything(0, verbose=False)
    model = TISModel({**TINY, "n_features": len(FEATURE_NAMES), "feature_head": 8})
    trainer = fit(model, small_split, steps=1)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    checkpoint = torch.load(tmp_path / "m.ckpt", weights_only=False)
    for name in ("feature_shift", "feature_scale", "non_atg_logit_shift"):  # saved before standardization
        del checkpoint["state_dict"][f"network.{name}"]
    torch.save(checkpoint, tmp_path / "old.ckpt")
    with pytest.raises(InputError, match="not a TIS checkpoint this version reads") as error:
        load_tis_model(tmp_path / "old.ckpt")
    assert "\n" not in str(error.value)


def test_split_files_by_name(small_split):
    split = split_files(small_split, ["val.npz"], ["test.npz"])
    assert [p.name for p in split["train"]] == ["train.npz"]
    with pytest.raises(ValueError, match="not found"):
        split_files(small_split, ["chr99.npz"], ["test.npz"])
    with pytest.raises(ValueError, match="both"):
        split_files(small_split, ["val.npz"], ["val.npz"])


def test_train_command_prints_test_metrics(small_split, tmp_path, capsys):
    args = ["train", str(small_split), "val.npz", "test.npz", "--preset", "original", "--max_epochs", "1",
            "--limit_train_batches", "3", "--max_tokens", "6000", "--log_dir", str(tmp_path),
            "--no_progress_bar", "--dim", "16", "--depth", "1", "--heads", "2", "--dim_head", "8",
            "--local_attn_heads", "1", "--local_window_size", "32", "--nb_features", "16"]
    assert main(args) == 0
    assert '"test"' in capsys.readouterr().out
    written = list(tmp_path.rglob("test_metrics.json"))
    assert len(written) == 1
    summary = json.loads(written[0].read_text())
    assert summary["train_files"] == ["train.npz"] and summary["test_files"] == ["test.npz"]
    assert summary["train_nucleotides"] > 0 and summary["train_nt_per_s"] > 0
    assert set(summary["test"]) >= {"roc_auc", "pr_auc", "roc_auc_atg", "pr_auc_atg", "top_k"}
    assert 0.0 <= summary["test"]["roc_auc"] <= 1.0
    assert summary["test"]["transcripts"] == len(load_dataset(small_split / "test.npz"))
    assert list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("n_features", [0, len(FEATURE_NAMES)])
def test_evaluate_command_on_a_checkpoint(small_split, tmp_path, capsys, n_features):
    L.seed_everything(0, verbose=False)
    model = TISModel({**TINY, "n_features": n_features})
    trainer = fit(model, small_split, steps=1)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    assert main(["evaluate", str(tmp_path / "m.ckpt"), str(small_split / "test.npz"),
                 "--json", str(tmp_path / "m.json")]) == 0
    assert capsys.readouterr().out.startswith("| data | transcripts |")
    result = json.loads((tmp_path / "m.json").read_text())["results"]["test"]
    assert result["transcripts"] == len(load_dataset(small_split / "test.npz"))


def test_tis_biased_crops_hold_a_tis(small_split):
    data = load_dataset(small_split / "train.npz")
    counts = {}
    for frac in (0.0, 1.0):
        batches = BatchedTranscripts(data, max_tokens=3000, max_per_batch=16, shuffle=True, crop_len=150,
                                     random_crop=True, tis_crop_frac=frac)
        rows = [(batch["labels"][r], int(index)) for batch in (batches[i] for i in range(len(batches)))
                for r, index in enumerate(batch["index"].tolist())]
        coding = [(y, i) for y, i in rows if data.transcript(i)[1].any()]
        counts[frac] = sum(bool(y.sum() > 0) for y, _ in coding) / len(coding)
    assert counts[1.0] == 1.0  # every window of a transcript with a TIS holds one
    assert counts[0.0] < 0.6, counts


def test_resume_continues_an_interrupted_run(small_split, tmp_path, capsys):
    base = ["train", str(small_split), "val.npz", "test.npz", "--preset", "original", "--limit_train_batches", "3", "--max_tokens", "6000",
            "--log_dir", str(tmp_path), "--no_progress_bar", "--limit_val_batches", "2", "--limit_test_batches", "1",
            *sum(([f"--{k}", str(v)] for k, v in TINY.items() if "dropout" not in k), [])]
    assert main(base + ["--max_epochs", "1", "--name", "first"]) == 0
    last = next(tmp_path.rglob("first/**/last.ckpt"))
    capsys.readouterr()
    assert main(base + ["--max_epochs", "3", "--name", "resumed", "--resume", str(last)]) == 0
    summary = json.loads(next(tmp_path.rglob("resumed/**/test_metrics.json")).read_text())
    assert summary["global_steps"] == 9  # six more steps on top of the first run's three
    # last.ckpt holds the last epoch whether or not its validation score was the best, so a resume loses nothing
    resumed_last = next(tmp_path.rglob("resumed/**/last.ckpt"))
    assert torch.load(resumed_last, map_location="cpu", weights_only=True)["global_step"] == 9
    assert [p.name for p in resumed_last.parent.iterdir() if p.name.startswith("last")] == ["last.ckpt"]


def test_train_command_prefits_the_feature_head_and_keeps_that_model(small_split, tmp_path, capsys):
    args = ["train", str(small_split), "val.npz", "test.npz", "--preset", "original", "--max_epochs", "1", "--limit_train_batches", "2",
            "--limit_val_batches", "2", "--limit_test_batches", "1", "--max_tokens", "6000", "--log_dir",
            str(tmp_path), "--no_progress_bar", "--orf_features", "--feature_head", "8",
            "--prefit_feature_head", "1", *sum(([f"--{k}", str(v)] for k, v in TINY.items() if "dropout" not in k), [])]
    assert main(args) == 0
    assert "prefit model:" in capsys.readouterr().err
    prefit = next(tmp_path.rglob("prefit.ckpt"))
    model = load_tis_model(prefit)
    assert model.network.config.feature_head == 8 and model.network.hexamer_log_odds.abs().max() > 0.5
    # training went on from the prefitted model with its feature head fixed
    trained = load_tis_model(next(tmp_path.rglob("last.ckpt")))
    for before, after in zip(model.network.feature_head.parameters(), trained.network.feature_head.parameters()):
        assert torch.equal(before, after)
    assert not torch.equal(model.network.head.weight, trained.network.head.weight)
    # a feature head without the features it reads: one line, non-zero exit
    assert main(["train", str(small_split), "val.npz", "test.npz", "--preset", "original", "--feature_head", "8"]) != 0
    assert "feature_head needs input features" in capsys.readouterr().err


def test_train_command_fits_trees_that_checkpoints_carry(small_split, tmp_path, capsys):
    from tis_transformer.predictor.trees import with_tree_column

    base = ["train", str(small_split), "val.npz", "test.npz", "--preset", "original", "--max_epochs", "1", "--limit_train_batches", "2",
            "--limit_val_batches", "2", "--limit_test_batches", "1", "--max_tokens", "6000", "--log_dir",
            str(tmp_path), "--no_progress_bar", "--orf_features", "--feature_head", "8",
            *sum(([f"--{k}", str(v)] for k, v in TINY.items() if "dropout" not in k), [])]
    assert main(base + ["--prefit_feature_head", "1", "--trees", "20", "--tree_blend", "0.4"]) == 0
    assert '"trees": 20' in capsys.readouterr().err
    prefit = load_tis_model(next(tmp_path.rglob("prefit.ckpt")))
    trained = load_tis_model(next(tmp_path.rglob("last.ckpt")))
    assert prefit.network.config.tree_blend == 0.4 and prefit.network.tree_model.numel() > 10_000
    assert prefit.network.tree_stage_one.numel() > 10_000  # two stages by default
    assert prefit.network.tree_scorer().isoform_columns == len(ISOFORM_NAMES)  # reading isoforms by default
    assert torch.equal(prefit.network.tree_model, trained.network.tree_model)
    assert torch.equal(prefit.network.tree_stage_one, trained.network.tree_stage_one)
    # the checkpoint's trees score ATGs; zeroing their column changes the model's output there and only there
    tokens, _ = load_dataset(small_split / "val.npz").transcript(0)
    features = with_tree_column(orf_features(tokens, trained.network.feature_tables()), trained.network.tree_scorer())
    is_atg = features[:, FEATURE_NAMES.index("is_atg")] > 0
    assert is_atg.any() and np.all(features[is_atg, -1] != 0)
    no_trees = features.copy()
    no_trees[:, -1] = 0
    x = torch.as_tensor(tokens.astype(np.int64))[None]
    with torch.no_grad():
        moved = (trained(x, torch.from_numpy(features)[None]) - trained(x, torch.from_numpy(no_trees)[None]))[0]
    assert moved[~torch.from_numpy(is_atg)].abs().max() == 0 and moved[torch.from_numpy(is_atg)].abs().max() > 1e-3
    # the evaluate command computes the trees' column itself
    assert main(["evaluate", str(next(tmp_path.rglob("last.ckpt"))), str(small_split / "test.npz")]) == 0
    assert capsys.readouterr().out.startswith("| data | transcripts |")
    # one stage, without isoform columns (the ablations); a checkpoint without its first-stage buffer is refused
    assert main(base + ["--prefit_feature_head", "1", "--trees", "20", "--tree_stages", "1", "--no-isoform_trees",
                        "--name", "one"]) == 0
    assert '"tree_stages": 1' in capsys.readouterr().err
    one_stage = load_tis_model(next(tmp_path.rglob("one/**/prefit.ckpt")))
    assert one_stage.network.tree_stage_one.numel() == 0 and one_stage.network.tree_scorer().first is None
    assert one_stage.network.tree_scorer().isoform_columns == 0
    checkpoint = torch.load(next(tmp_path.rglob("one/**/prefit.ckpt")), map_location="cpu", weights_only=False)
    checkpoint["state_dict"].pop("network.tree_stage_one")
    torch.save(checkpoint, tmp_path / "older.ckpt")
    assert main(["evaluate", str(tmp_path / "older.ckpt"), str(small_split / "test.npz")]) == 1
    assert "not a TIS checkpoint this version reads" in capsys.readouterr().err
    # trees without the feature head they are fitted with: one line, non-zero exit
    assert main(base + ["--trees", "20"]) != 0
    assert "--trees are fitted with the feature head" in capsys.readouterr().err
    assert main(base + ["--prefit_feature_head", "1", "--trees", "20", "--tree_blend", "1.5"]) != 0
    assert "--tree_blend must be in (0, 1]" in capsys.readouterr().err


def _no_tis_copy(source, target):
    from tis_transformer.training.datasets import from_arrays, save_dataset

    data = load_dataset(source)
    pairs = [data.transcript(i) for i in range(len(data))]
    save_dataset(from_arrays(list(data.ids), [t for t, _ in pairs], [np.zeros_like(y) for _, y in pairs]), target)


def test_train_to_a_model_in_one_command(small_split, tmp_path, capsys):
    from tis_transformer.export.ship import model_files

    out = tmp_path / "mine.onnx"
    assert main(["train", str(small_split), "val.npz", "test.npz", "--preset", "smoke", "-o", str(out),
                 "--log_dir", str(tmp_path / "runs"), "--no_progress_bar"]) == 0
    summary = json.loads(next((tmp_path / "runs").rglob("test_metrics.json")).read_text())
    assert summary["model"]["path"] == str(out)
    # stdout is the summary alone (torch.onnx once printed its export steps there)
    assert json.loads(capsys.readouterr().out)["model"]["path"] == str(out)
    written = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    # no window graphs below a 32-nt window; the alone variant has no transformer layers, so no graphs but its own
    assert written == sorted([p.name for p in model_files(out, 32)] + ["mine.alone.json", "mine.alone.onnx"])
    card = json.loads(out.with_suffix(".json").read_text())
    alone = json.loads((tmp_path / "mine.alone.json").read_text())
    assert card["architecture"]["depth"] == 1 and alone["architecture"]["depth"] == 0
    assert not alone["settings"]["isoform_trees"] and alone["parity"]["max_abs_diff"] < 1e-4
    assert alone["metrics"]["test"]["transcripts"] == card["metrics"]["test"]["transcripts"]
    assert summary["model"]["alone_variant"]["path"] == str(tmp_path / "mine.alone.onnx")
    assert card["preset"] == "smoke" and card["settings"]["trees"] == 20 and card["settings"]["dim"] == 16
    assert [p.rsplit("/", 1)[-1] for p in card["trained_on"]] == ["train.npz"]
    assert set(card["metrics"]) == {"test"} and set(card["validation_metrics"]) == {"val"}
    assert card["metrics"]["test"]["transcripts"] == len(load_dataset(small_split / "test.npz"))
    assert card["parity"]["max_abs_diff"] < 1e-4 and card["package_version"]
    assert set(card["training_seconds"]) >= {"reading and features", "Performer", "total"}
    # the model is the prefitted one or the best trained one, whichever validated higher
    scores = card["val_pr_auc"]
    assert card["chosen_checkpoint"] == ("prefit" if not scores["best_trained"] > scores["prefit"]
                                         else Path(summary["checkpoint"]).name)
    # ... and the predictor takes it as it is
    assert main(["impute", str(ROOT / "examples" / "example.fa"), str(out), "-o", str(tmp_path / "sites.tsv"),
                 "--top_k", "1", "-q"]) == 0
    assert len((tmp_path / "sites.tsv").read_text().splitlines()) > 3


def test_a_model_without_transformer_layers_and_without_a_test_set(small_split, tmp_path):
    # the default recipe's shape (depth 0: nothing trained after prefitting) on every file but the validation one
    out = tmp_path / "heads.onnx"
    base = ["train", str(small_split), "val.npz", "-", "--preset", "smoke", "--depth", "0", "--max_epochs", "0",
            "--log_dir", str(tmp_path / "runs"), "--no_progress_bar"]
    assert main(base + ["-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "heads.alone.json", "heads.alone.onnx", "heads.json", "heads.onnx"]
    # the alone variant is the model a run without isoform columns trains, and the predictor takes it for --alone
    (tmp_path / "apart").mkdir()
    apart = tmp_path / "apart" / "apart.onnx"
    assert main(base + ["--no-isoform_trees", "-o", str(apart)]) == 0
    assert sorted(p.name for p in apart.parent.iterdir()) == ["apart.json", "apart.onnx"]
    transcripts = [tokens for _, tokens in read_records(str(ROOT / "examples" / "example.fa"))]
    predictor = Predictor(str(out))
    assert predictor.reads_isoforms and predictor.scoring_alone().path.name == "heads.alone.onnx"
    scored_alone = predictor.predict(transcripts, None)
    expected = Predictor(str(apart)).predict(transcripts, None)
    assert all(np.array_equal(a, b) for a, b in zip(scored_alone, expected))
    compared = predictor.predict(transcripts, predictor.isoform_index(transcripts))
    assert any(not np.array_equal(a, b) for a, b in zip(scored_alone, compared))
    # a model trained without the variant takes no earlier one with it
    assert main(base + ["--no-alone_variant", "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["heads.json", "heads.onnx"]
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["architecture"]["depth"] == 0 and card["held_out"] == [] and card["chosen_checkpoint"] == "prefit"
    assert sorted(p.rsplit("/", 1)[-1] for p in card["trained_on"]) == ["test.npz", "train.npz"]
    assert main(["impute", str(ROOT / "examples" / "example.fa"), str(out), "-o", str(tmp_path / "sites.tsv"),
                 "--top_k", "1", "-q"]) == 0


def test_bad_training_input_is_one_line_and_writes_nothing(small_split, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for name in ("train.npz", "val.npz", "test.npz"):
        _no_tis_copy(small_split / name, unlabelled / name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.npz").symlink_to(small_split / "train.npz")
    (elsewhere / "copy.npz").write_bytes((small_split / "train.npz").read_bytes())
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    cases = [
        ([str(unlabelled), "val.npz", "test.npz"], [], "no annotated TIS in the training files"),
        ([str(small_split), "chr1.npz", "test.npz"], [], "chr1.npz: not found in"),
        ([str(small_split), "val.npz", str(elsewhere / "other.npz")], [], "holds the same data as the training file"),
        ([str(small_split), "val.npz", str(elsewhere / "copy.npz")], [], "holds the same data as the training file"),
        ([str(small_split), "val.npz", "test.npz"], ["--preset", "quick"], "no preset named 'quick'"),
        ([str(empty), "val.npz", "test.npz"], [], "no .npz, .npy.gz or .npy files"),
        ([str(small_split), "val.npz", "val.npz"], [], "in both the validation and the test set"),
        ([str(small_split), "val.npz", "test.npz"], ["-o", str(tmp_path / "nowhere" / "m.onnx")], "does not exist"),
        ([str(small_split), "val.npz", "test.npz"], ["-o", str(small_split / "test.npz")], "must end in .onnx"),
    ]
    for positionals, extra, message in cases:
        argv = ["train", *positionals, "--preset", "smoke", "--log_dir", str(tmp_path / "runs"), "-o", str(out), *extra]
        assert main(argv) == 1, argv
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and message in errors[0], (argv, errors)
    assert not list(out.parent.iterdir()) and not (tmp_path / "runs").exists()


def test_a_resumed_run_still_weighs_the_first_runs_candidates(small_split, tmp_path, capsys):
    # a resumed run once chose among its own epochs only: the prefitted model and the earlier best were forgotten
    base = ["train", str(small_split), "val.npz", "test.npz", "--preset", "original", "--limit_train_batches", "2",
            "--limit_val_batches", "2", "--limit_test_batches", "1", "--max_tokens", "6000", "--log_dir",
            str(tmp_path), "--no_progress_bar", "--orf_features", "--feature_head", "8", "--prefit_feature_head", "1",
            *sum(([f"--{k}", str(v)] for k, v in TINY.items() if "dropout" not in k), [])]
    assert main(base + ["--max_epochs", "1", "--name", "first"]) == 0
    first = json.loads(next(tmp_path.rglob("first/**/test_metrics.json")).read_text())
    last = next(tmp_path.rglob("first/**/last.ckpt"))
    assert main(base + ["--max_epochs", "2", "--name", "resumed", "--resume", str(last)]) == 0
    # and a resume of the resumed run: a chain keeps every earlier run's candidates
    again = next(tmp_path.rglob("resumed/**/last.ckpt"))
    assert main(base + ["--max_epochs", "3", "--name", "again", "--resume", str(again)]) == 0
    for name, before in (("resumed", first), ("again", None)):
        resumed = json.loads(next(tmp_path.rglob(f"{name}/**/test_metrics.json")).read_text())
        before = before or json.loads(next(tmp_path.rglob("resumed/**/test_metrics.json")).read_text())
        assert resumed["val_pr_auc"]["prefit"] == first["val_pr_auc"]["prefit"] is not None
        assert resumed["val_pr_auc"]["best_trained"] >= before["val_pr_auc"]["best_trained"]
        scores = {"prefit": resumed["val_pr_auc"]["prefit"], "trained": resumed["val_pr_auc"]["best_trained"]}
        chosen = Path(resumed["checkpoint"])
        assert chosen.is_file()
        if scores["trained"] > scores["prefit"]:
            assert chosen.name.startswith("best-")
        else:
            assert chosen == last.parent / "prefit.ckpt"


def test_ctrl_c_while_training_ends_as_everywhere_else(small_split, tmp_path, capsys, monkeypatch):
    # Lightning turned Ctrl-C into exit status 1 and left SIGINT ignored
    import signal
    from tis_transformer.training.modules import TISModel

    def interrupted(self, batch, batch_idx):
        raise KeyboardInterrupt
    monkeypatch.setattr(TISModel, "training_step", interrupted)
    before = signal.getsignal(signal.SIGINT)
    args = ["train", str(small_split), "val.npz", "test.npz", "--preset", "original", "--max_epochs", "1",
            "--limit_train_batches", "2", "--limit_val_batches", "1", "--max_tokens", "6000", "--log_dir", str(tmp_path),
            "--no_progress_bar", "-o", str(tmp_path / "m.onnx"),
            *sum(([f"--{k}", str(v)] for k, v in TINY.items() if "dropout" not in k), [])]
    assert main(args) == 130
    assert "tis-transformer: interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) == before and not (tmp_path / "m.onnx").exists()
