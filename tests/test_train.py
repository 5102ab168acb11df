import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("performer_pytorch")

import lightning as L  # noqa: E402

from tis_transformer.__main__ import main  # noqa: E402
from tis_transformer.metrics import average_precision  # noqa: E402
from tis_transformer.prepare import load_dataset  # noqa: E402
from tis_transformer.train import (BatchedTranscripts, MLMModel, TISModel, TranscriptData,  # noqa: E402
                                   load_tis_model, split_files, transfer_weights)

pytestmark = [pytest.mark.train, pytest.mark.slow]

TINY = dict(dim=16, depth=1, heads=2, dim_head=8, local_attn_heads=1, local_window_size=32,
            nb_features=16, ff_chunks=1, emb_dropout=0.0, ff_dropout=0.0, attn_dropout=0.0)


def val_pr_auc(model, path):
    data = load_dataset(path)
    model.eval()
    scores, labels = [], []
    with torch.no_grad():
        for i in range(len(data)):
            tokens, y = data.transcript(i)
            scores.append(model(torch.as_tensor(tokens.astype(np.int64))[None])[0].numpy())
            labels.append(y)
    return average_precision(np.concatenate(labels), np.concatenate(scores))


def fit(model, split, steps):
    data = TranscriptData(str(split), ["val.npz"], ["test.npz"], max_tokens=6000, max_per_batch=16,
                          seed=0, crop_len=600)
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


def test_split_files_by_name(small_split):
    split = split_files(small_split, ["val.npz"], ["test.npz"])
    assert [p.name for p in split["train"]] == ["train.npz"]
    with pytest.raises(ValueError, match="not found"):
        split_files(small_split, ["chr99.npz"], ["test.npz"])
    with pytest.raises(ValueError, match="both"):
        split_files(small_split, ["val.npz"], ["val.npz"])


def test_train_command_prints_test_metrics(small_split, tmp_path, capsys):
    args = ["train", str(small_split), "val.npz", "test.npz", "--max_epochs", "1",
            "--limit_train_batches", "3", "--max_tokens", "6000", "--log_dir", str(tmp_path),
            "--no_progress_bar", "--dim", "16", "--depth", "1", "--heads", "2", "--dim_head", "8",
            "--local_attn_heads", "1", "--local_window_size", "32", "--nb_features", "16"]
    assert main(args) == 0
    assert '"test"' in capsys.readouterr().out
    written = list(tmp_path.rglob("test_metrics.json"))
    assert len(written) == 1
    summary = json.loads(written[0].read_text())
    assert summary["train_files"] == ["train.npz"] and summary["test_files"] == ["test.npz"]
    assert set(summary["test"]) >= {"roc_auc", "pr_auc", "roc_auc_atg", "pr_auc_atg", "top_k"}
    assert 0.0 <= summary["test"]["roc_auc"] <= 1.0
    assert summary["test"]["transcripts"] == len(load_dataset(small_split / "test.npz"))
    assert list(tmp_path.rglob("*.ckpt"))


def test_evaluate_command_on_a_checkpoint(small_split, tmp_path, capsys):
    L.seed_everything(0, verbose=False)
    model = TISModel(TINY)
    trainer = fit(model, small_split, steps=1)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    assert main(["evaluate", str(tmp_path / "m.ckpt"), str(small_split / "test.npz"),
                 "--json", str(tmp_path / "m.json")]) == 0
    assert capsys.readouterr().out.startswith("| data | transcripts |")
    result = json.loads((tmp_path / "m.json").read_text())["results"]["test"]
    assert result["transcripts"] == len(load_dataset(small_split / "test.npz"))
