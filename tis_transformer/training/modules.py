"""The Lightning modules: TIS training and masked-language-model pretraining."""

from __future__ import annotations

import math
import time

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from tis_transformer.predictor.features import IS_ATG_COLUMN
from tis_transformer.predictor.metrics import atg_mask, tis_metrics
from tis_transformer.predictor.tokens import MASK, N, PAD
from tis_transformer.training.network import NetworkConfig, TISNetwork


class _Base(L.LightningModule):
    """Shared optimiser set-up: Adam with an exponential decay per epoch."""

    def __init__(self, network: dict, lr: float, decay_rate: float):
        super().__init__()
        self.network = TISNetwork(NetworkConfig(**network))
        # training throughput: real (unpadded) nucleotides over time in training steps
        self.train_nucleotides = 0
        self.train_seconds = 0.0
        self._step_started = 0.0

    def on_train_epoch_start(self) -> None:
        # reversible layers record RNG state only in train mode; backward needs it
        self.network.train()

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs, batch: dict, batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._step_started
        self.train_nucleotides += int((batch["tokens"] != PAD).sum())

    def on_train_epoch_end(self) -> None:
        if self.train_seconds > 0:
            self.log("train_nt_per_s", self.train_nucleotides / self.train_seconds)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.hparams.decay_rate)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


class TISModel(_Base):
    """Per-nucleotide TIS classification.

    Parameters
    ----------
    network : dict
        ``NetworkConfig`` fields; ``num_outputs`` is forced to 1.
    lr, decay_rate : float
        Adam learning rate and its per-epoch decay.
    pos_weight : float
        Weight of TIS positions in the loss (1 = unweighted).
    freeze_feature_head : bool
        Keep the feature head's weights fixed (after ``prefit_feature_head``).
    start_loss : bool
        Train on the loss at ATGs and annotated TISs only (needs input
        features, which mark the ATGs).
    prefit : dict, optional
        The settings the feature head and trees were fitted with, recorded in
        checkpoints so that ``--resume`` can refuse others.
    """

    def __init__(self, network: dict | None = None, lr: float = 1e-3, decay_rate: float = 0.95,
                 pos_weight: float = 1.0, freeze_feature_head: bool = False, start_loss: bool = False,
                 prefit: dict | None = None):
        network = {**(network or {}), "num_outputs": 1}
        super().__init__(network, lr, decay_rate)
        self.save_hyperparameters()
        self._collected: list = []
        # the candidates a resumed run must still weigh against the ones it trains, carried by every checkpoint
        # (Lightning forgets the best one when a resumed run writes to a new folder): the prefitted model this
        # run started from, and the best checkpoint of the runs before the current one
        self.prefit_score: float | None = None
        self.prefit_path: str | None = None
        self.earlier_best: tuple | None = None
        if freeze_feature_head and self.network.feature_head is not None:
            # fitted on every training row by prefit_feature_head; the rest of the network learns on top of it
            self.network.feature_head.requires_grad_(False)

    @property
    def logit_offset(self) -> float:
        """Shift that undoes ``pos_weight``'s inflation of the odds, for calibrated probabilities."""
        return -math.log(self.hparams.pos_weight)

    def forward(self, tokens: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """TIS probabilities ``(batch, length)``.

        Out of training, on CPU, this runs the export step's rewrite of the
        network (same weights, same function to ~1e-7), which is about twice
        as fast as the stock performer-pytorch modules.
        """
        if not self.training and tokens.device.type == "cpu":
            from tis_transformer.export.exportable import ExportableTIS

            try:
                return ExportableTIS(self.network, self.logit_offset)(tokens, features)
            except ValueError:  # an architecture the rewrite does not cover
                pass
        return torch.sigmoid(self.network(tokens, features=features)[..., 0] + self.logit_offset)

    def setup(self, stage: str) -> None:
        # the data module has fitted the features' tables on the training split by now
        # (Lightning sets the data up first); a resumed run then restores the same tables
        data = getattr(self.trainer, "datamodule", None)
        self.network.set_feature_tables(getattr(data, "tables", None))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.prefit_score is not None:
            checkpoint["prefit_val_pr_auc"] = self.prefit_score
            checkpoint["prefit_checkpoint"] = self.prefit_path
        if self.earlier_best is not None:
            checkpoint["earlier_best"] = list(self.earlier_best)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # a resumed run has set these from the checkpoint already (train.py): keep them
        if self.prefit_score is None:
            self.prefit_score = checkpoint.get("prefit_val_pr_auc")
            self.prefit_path = checkpoint.get("prefit_checkpoint")
        # the trees' size is known only now: size their buffers for load_state_dict
        state = checkpoint.get("state_dict", {})
        if self.network.config.tree_blend:
            for name in ("tree_model", "tree_stage_one"):
                if f"network.{name}" in state:
                    setattr(self.network, name, torch.empty_like(state[f"network.{name}"]))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        mask = batch["tokens"] != PAD
        logits = self.network(batch["tokens"], mask, batch.get("features"))[..., 0]
        if self.hparams.get("start_loss"):
            mask = mask & ((batch["features"][..., IS_ATG_COLUMN] > 0) | (batch["labels"] > 0))
        weight = torch.where(batch["labels"] > 0, float(self.hparams.pos_weight), 1.0)
        loss = F.binary_cross_entropy_with_logits(logits[mask], batch["labels"][mask], weight=weight[mask])
        self.log("train_loss", loss, prog_bar=True, batch_size=int(mask.sum()))
        return loss

    def _collect(self, batch: dict) -> None:
        mask = batch["tokens"] != PAD
        probs = self(batch["tokens"], batch.get("features"))
        for row in range(mask.shape[0]):
            n = int(mask[row].sum())
            tokens = batch["tokens"][row, :n].cpu().numpy()
            self._collected.append((int(batch["index"][row]), tokens,
                                    batch["labels"][row, :n].cpu().numpy(),
                                    probs[row, :n].float().cpu().numpy()))

    def _metrics(self, prefix: str) -> dict:
        collected = self._collected
        self._collected = []
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, collected)
            collected = [item for part in gathered for item in part]
        # DistributedSampler may repeat transcripts to even out ranks: keep one of each
        unique = {item[0]: item for item in collected}
        items = [unique[k] for k in sorted(unique)]
        if not items:
            return {}
        labels = np.concatenate([i[2] for i in items])
        probs = np.concatenate([i[3] for i in items])
        atg = np.concatenate([atg_mask(i[1]) for i in items])
        result = tis_metrics(labels, probs, atg)
        result["transcripts"] = len(items)
        for key in ("roc_auc", "pr_auc", "roc_auc_atg", "pr_auc_atg", "top_k"):
            self.log(f"{prefix}_{key}", result[key], prog_bar=key == "pr_auc", sync_dist=False)
        return result

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        self._metrics("val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._collect(batch)

    def on_test_epoch_end(self) -> None:
        self.test_results = self._metrics("test")


class MLMModel(_Base):
    """Masked-language-model pretraining over nucleotides.

    A fraction ``select_frac`` of real positions is chosen; of those,
    ``mask_frac`` become the MASK token, ``rand_frac`` a random nucleotide and
    the rest stay; the loss is cross-entropy over the chosen positions.
    """

    def __init__(self, network: dict | None = None, lr: float = 1e-3, decay_rate: float = 0.95,
                 select_frac: float = 0.15, mask_frac: float = 0.85, rand_frac: float = 0.1):
        network = {**(network or {}), "num_outputs": 5}
        super().__init__(network, lr, decay_rate)
        self.save_hyperparameters()

    def corrupt(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Corrupted input and the bool mask of chosen positions."""
        real = tokens != PAD
        draw = torch.rand(tokens.shape, device=tokens.device)
        chosen = real & (draw < self.hparams.select_frac)
        action = torch.rand(tokens.shape, device=tokens.device)
        masked = chosen & (action < self.hparams.mask_frac)
        randomised = chosen & (action >= self.hparams.mask_frac) & (
            action < self.hparams.mask_frac + self.hparams.rand_frac)
        corrupted = tokens.clone()
        corrupted[masked] = MASK
        corrupted[randomised] = torch.randint(0, N, (int(randomised.sum()),), device=tokens.device)
        return corrupted, chosen

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = batch["tokens"]
        corrupted, chosen = self.corrupt(tokens)
        logits = self.network(corrupted, tokens != PAD)
        target = tokens[chosen]
        loss = F.cross_entropy(logits[chosen], target)
        accuracy = (logits[chosen].argmax(-1) == target).float().mean()
        return loss, accuracy

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, accuracy = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", accuracy)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, accuracy = self._loss(batch)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True)
        self.log("val_acc", accuracy, prog_bar=True, sync_dist=True)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        loss, accuracy = self._loss(batch)
        self.log("test_loss", loss, sync_dist=True)
        self.log("test_acc", accuracy, sync_dist=True)
