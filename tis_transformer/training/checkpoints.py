"""Loading TIS checkpoints and starting a model from another's weights."""

from __future__ import annotations

from pathlib import Path

from tis_transformer.predictor.read import InputError
from tis_transformer.training.modules import TISModel
from tis_transformer.training.option_checks import read_checkpoint


def load_tis_model(checkpoint: str | Path) -> TISModel:
    """Load a TIS checkpoint for inference: eval mode, projections fixed, on CPU.

    A checkpoint this version cannot read (from an earlier version, or not a TIS model) is a one-line
    ``InputError``.
    """
    read_checkpoint(str(checkpoint))  # a data file, an ONNX model, a truncated file: one line saying so
    try:
        model = TISModel.load_from_checkpoint(str(checkpoint), map_location="cpu")
    except RuntimeError as error:  # load_state_dict's missing or unexpected tensors
        first = str(error).strip().splitlines()[-1].strip() if str(error).strip() else type(error).__name__
        raise InputError(f"{checkpoint}: not a TIS checkpoint this version reads (an earlier version's, or "
                         f"another model's): {first[:200]}") from None
    model.eval()
    model.network.fix_projections()
    return model


def transfer_weights(model: TISModel, checkpoint: str | Path) -> None:
    """Start a TIS model from another checkpoint's weights.

    From MLM pretraining every weight but the output head (its shape differs)
    is taken; from an earlier TIS model of the same architecture, the head
    too.  The feature tables and the trees are never taken: they belong to
    this run's training data.
    """
    state = read_checkpoint(str(checkpoint), "transfer_checkpoint")["state_dict"]
    own = model.state_dict()
    kept = {k: v for k, v in state.items()
            if k in own and own[k].shape == v.shape
            and not k.endswith(("hexamer_log_odds", "start_context_log_odds", "tree_model", "tree_stage_one"))}
    optional = (".head.", ".feature_emb.", ".feature_head.", "hexamer_log_odds", "start_context_log_odds",
                "feature_shift", "feature_scale",
                "non_atg_logit_shift", "non_start_logit_shift", "tree_model", "tree_stage_one")
    missing = [k for k in own if k not in kept and not any(part in k for part in optional)]
    reshaped = [k for k in missing if k in state]
    if reshaped:
        key = reshaped[0]
        raise InputError(f"{checkpoint}: checkpoint does not match the architecture ({len(reshaped)} tensors of "
                         f"other shapes, e.g. {key}: {tuple(state[key].shape)} there, {tuple(own[key].shape)} here)")
    if missing:
        raise InputError(f"{checkpoint}: checkpoint does not match the architecture "
                         f"({len(missing)} tensors missing, e.g. {missing[0]})")
    model.load_state_dict(kept, strict=False)
