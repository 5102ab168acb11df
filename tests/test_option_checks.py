import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("performer_pytorch")

import lightning as L  # noqa: E402

from tis_transformer.__main__ import main  # noqa: E402
from tis_transformer.training.modules import MLMModel, TISModel  # noqa: E402

TINY = dict(dim=16, depth=1, heads=2, dim_head=8, local_attn_heads=1, local_window_size=32, nb_features=16,
            ff_chunks=1)
TINY_FLAGS = sum(([f"--{k}", str(v)] for k, v in TINY.items()), [])


def refused(capsys, small_split, tmp_path, *options, task="train"):
    """Run ``task`` with ``options`` on the small split; its one error line (it must fail fast, before reading)."""
    started = time.perf_counter()
    # a tiny, short run should a check let it through
    status = main([task, str(small_split), "val.npz", "test.npz", "--preset", "original", "--no_progress_bar",
                   "--log_dir", str(tmp_path / "runs"), "--max_epochs", "1", "--limit_train_batches", "1",
                   *TINY_FLAGS, *options])
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert time.perf_counter() - started < 20
    return err


@pytest.mark.parametrize("option,value,message", [
    ("--lr", "-1", "--lr must be above 0, not -1.0"), ("--pos_weight", "0", "--pos_weight must be above 0"),
    ("--dim", "-3", "--dim must be at least 1, not -3"), ("--feature_head", "-4", "--feature_head must be at least 0"),
    ("--heads", "0", "--heads must be at least 1"), ("--depth", "-1", "--depth must be at least 0"),
    ("--max_epochs", "-5", "--max_epochs must be at least -1"), ("--crop_len", "0", "--crop_len must be at least 1"),
    ("--tis_crop_frac", "1.5", "--tis_crop_frac must be at least 0 and at most 1, not 1.5"),
    ("--local_attn_heads", "5", "--local_attn_heads (5) cannot exceed --heads (2)"),
    ("--precision", "7", "--precision must be one of"), ("--accelerator", "tpux", "--accelerator must be one of"),
    ("--max_tokens", "0", "--max_tokens must be at least 1"),
])
def test_option_values_that_cannot_train_are_one_line_before_any_work(capsys, small_split, tmp_path, option, value,
                                                                      message):
    assert message in refused(capsys, small_split, tmp_path, option, value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_run_on_a_machine_without_one_stops_before_reading(capsys, small_split, tmp_path):
    err = refused(capsys, small_split, tmp_path, "--accelerator", "gpu")
    assert "--accelerator gpu: PyTorch sees no such device" in err


def _checkpoint(model, path):
    trainer = L.Trainer(max_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return str(path)


def test_checkpoints_that_cannot_be_resumed_or_transferred(capsys, small_split, tmp_path):
    tis = _checkpoint(TISModel(TINY), tmp_path / "tis.ckpt")
    mlm = _checkpoint(MLMModel(TINY), tmp_path / "mlm.ckpt")
    prefit = {"prefit_feature_head": 0, "prefit_other_weight": 2.0, "trees": 0, "tree_stages": 2, "isoform_trees": True}
    prefitted = _checkpoint(TISModel(TINY, prefit=prefit), tmp_path / "prefitted.ckpt")
    data = str(small_split / "val.npz")
    for options, message in [
        (["--resume", str(tmp_path / "nope.ckpt")], "--resume " + str(tmp_path / "nope.ckpt") + ": no such file"),
        (["--resume", data], f"--resume {data}: not a training checkpoint"),
        (["--transfer_checkpoint", data], f"--transfer_checkpoint {data}: not a training checkpoint"),
        (["--resume", tis, "--dim", "24"], "the run was trained with dim 16, this one asks 24"),
        (["--resume", mlm], "a pretraining run's checkpoint cannot resume train"),
        # the trees were fitted once: a resumed run that asked for others once kept them and carded the new ones
        (["--transfer_checkpoint", mlm, "--dim", "24"], f"--transfer_checkpoint {mlm}: its network has dim 16, this "
                                                        "run asks 24"),
        (["--resume", prefitted, "--prefit_other_weight", "5"], "fitted with prefit_other_weight 2.0, this one asks 5.0"),
        (["--resume", prefitted, "--tree_stages", "1"], "fitted with tree_stages 2, this one asks 1"),
    ]:
        assert message in refused(capsys, small_split, tmp_path, *options), options
    assert "a TIS model's (train) checkpoint cannot resume pretrain" in refused(
        capsys, small_split, tmp_path, "--resume", tis, task="pretrain")
    assert not (tmp_path / "runs").exists()


def test_a_transfer_may_change_what_does_not_shape_the_weights(tmp_path):
    # the attention window and the local heads may change for fine-tuning; the weights' shapes may not
    from tis_transformer.predictor.read import InputError
    from tis_transformer.training.option_checks import check_transfer

    mlm = _checkpoint(MLMModel(TINY), tmp_path / "mlm.ckpt")
    check_transfer(mlm, {**TINY, "local_window_size": 64, "local_attn_heads": 2, "generalized_attention": False})
    with pytest.raises(InputError, match="its network has heads 2, this run asks 4"):
        check_transfer(mlm, {**TINY, "heads": 4})
