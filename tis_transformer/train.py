"""Masked-language-model pretraining and TIS training with PyTorch Lightning (``train`` extra)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from .batch import length_batches
from .features import (FEATURE_NAMES, IS_ATG_COLUMN, NEAR_COGNATE_COLUMN, feature_set_of, fit_hexamer_log_odds,
                       orf_features)
from .metrics import atg_mask, tis_metrics
from .network import NetworkConfig, TISNetwork
from .prepare import Dataset, concatenate, load_dataset
from .read import InputError
from .tokens import MASK, N, PAD
from .isoforms import ISOFORM_NAMES, IsoformIndex
from .trees import TreeScorer, fit_trees, fit_two_stage_trees, score_isoform_index, with_tree_column

DATA_SUFFIXES = (".npz", ".npy.gz", ".npy")


# ----------------------------------------------------------------------------- data


class BatchedTranscripts(torch.utils.data.Dataset):
    """A dataset whose items are whole padded batches of transcripts.

    Parameters
    ----------
    data : Dataset
        The transcripts.
    max_tokens : int
        Padded-token budget per batch; a longer transcript gets a batch alone.
    max_per_batch : int
        Cap on transcripts per batch.
    shuffle : bool
        Reshuffle within length buckets (set ``epoch`` for a new draw).
    crop_len : int, optional
        Train on ``crop_len`` nt of longer transcripts: the first ones, or a
        window redrawn every epoch with ``random_crop``; None keeps whole
        transcripts.
    random_crop : bool
        Crop a random window instead of the 5' end.
    tis_crop_frac : float
        With ``random_crop``, the chance that a transcript with annotated
        TISs gets a window holding one of them (the rest are uniform): more
        positives, and the hard negatives around them, per step.
    features : bool
        Add ``features``: the reading-frame features of each whole
        transcript (``tis_transformer.features``), cropped like the tokens.
    hexamer_log_odds : np.ndarray, optional
        The features' hexamer table (``fit_hexamer_log_odds`` on the
        training transcripts); None zeroes the hexamer columns.
    trees : TreeScorer, optional
        With ``features``, append these trees' logit as a last column
        (``tis_transformer.trees``).
    isoforms : IsoformIndex, optional
        The starts of all of ``data``, for trees that read isoform columns
        (``tis_transformer.isoforms``); None scores each transcript alone.
    """

    def __init__(self, data: Dataset, max_tokens: int, max_per_batch: int, shuffle: bool,
                 seed: int = 0, crop_len: int | None = None, random_crop: bool = False,
                 features: bool = False, tis_crop_frac: float = 0.0,
                 hexamer_log_odds: np.ndarray | None = None, trees: TreeScorer | None = None,
                 isoforms: IsoformIndex | None = None):
        self.data = data
        self.max_tokens = max_tokens
        self.max_per_batch = max_per_batch
        self.shuffle = shuffle
        self.seed = seed
        self.crop_len = crop_len
        self.random_crop = random_crop
        self.features = features
        self.tis_crop_frac = tis_crop_frac
        self.hexamer_log_odds = hexamer_log_odds
        self.trees = trees
        self.isoforms = isoforms
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Redraw the batches for a new epoch."""
        self.epoch = epoch
        lengths = self.data.lengths
        if self.crop_len:
            lengths = np.minimum(lengths, self.crop_len)
        self.batches = length_batches(lengths, self.max_tokens, self.max_per_batch,
                                      shuffle=self.shuffle, seed=self.seed + epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict:
        members = self.batches[i]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        items = []
        for j in members:
            t, y = self.data.transcript(j)
            f = None
            if self.features:
                alike = self.isoforms.columns(t) if self.isoforms is not None else None
                f = with_tree_column(orf_features(t, self.hexamer_log_odds), self.trees, alike)
            if self.crop_len and len(t) > self.crop_len:
                start = self._crop_start(len(t), y, rng) if self.random_crop else 0
                window = slice(start, start + self.crop_len)
                t, y, f = t[window], y[window], None if f is None else f[window]
            items.append((t, y, f))
        length = max(len(t) for t, _, _ in items)
        tokens = torch.full((len(items), length), PAD, dtype=torch.long)
        labels = torch.zeros((len(items), length), dtype=torch.float32)
        batch = {"tokens": tokens, "labels": labels, "index": torch.as_tensor(members)}
        if self.features:
            batch["features"] = torch.zeros((len(items), length, items[0][2].shape[1]), dtype=torch.float32)
        for row, (t, y, f) in enumerate(items):
            tokens[row, : len(t)] = torch.from_numpy(t.astype(np.int64))
            labels[row, : len(y)] = torch.from_numpy(y.astype(np.float32))
            if f is not None:
                batch["features"][row, : len(f)] = torch.from_numpy(f)
        return batch

    def _crop_start(self, length: int, labels: np.ndarray, rng: np.random.Generator) -> int:
        last = length - self.crop_len
        sites = np.flatnonzero(labels)
        if len(sites) and rng.random() < self.tis_crop_frac:
            site = int(rng.choice(sites))
            return int(rng.integers(max(0, site - self.crop_len + 1), min(site, last) + 1))
        return int(rng.integers(0, last + 1))


def find_data_files(data_path: str | Path) -> list[Path]:
    """Every dataset file in a directory (``.npz``, ``.npy.gz``, ``.npy``), sorted by name."""
    data_path = Path(data_path)
    if not data_path.is_dir():
        raise InputError(f"{data_path}: not a directory of chromosome files")
    files = sorted(p for p in data_path.iterdir() if p.name.endswith(DATA_SUFFIXES))
    if not files:
        raise InputError(f"{data_path}: no .npz, .npy.gz or .npy files")
    return files


def split_files(data_path: str | Path, val_set: list[str], test_set: list[str]) -> dict:
    """Split a directory's files into train, validation and test lists by file name."""
    files = find_data_files(data_path)
    names = {p.name: p for p in files}
    for name in list(val_set) + list(test_set):
        if name not in names:
            raise InputError(f"{name}: not found in {data_path} (have {', '.join(sorted(names))})")
    overlap = set(val_set) & set(test_set)
    if overlap:
        raise InputError(f"{', '.join(sorted(overlap))}: in both the validation and the test set")
    held = set(val_set) | set(test_set)
    return {
        "train": [p for p in files if p.name not in held],
        "val": [names[n] for n in val_set],
        "test": [names[n] for n in test_set],
    }


def load_files(paths: list[Path]) -> Dataset:
    """Load and join several dataset files."""
    return concatenate([load_dataset(p) for p in paths])


class TranscriptData(L.LightningDataModule):
    """Train / validation / test transcripts batched under a token budget."""

    def __init__(self, data_path: str, val_set: list[str], test_set: list[str], max_tokens: int,
                 max_per_batch: int, num_workers: int = 0, seed: int = 0,
                 crop_len: int | None = None, random_crop: bool = False, features: bool = False,
                 tis_crop_frac: float = 0.0):
        super().__init__()
        self.split = split_files(data_path, val_set, test_set)
        if not self.split["train"]:
            raise InputError("no training files left after holding out the validation and test sets")
        self.max_tokens = max_tokens
        self.max_per_batch = max_per_batch
        self.num_workers = num_workers
        self.seed = seed
        self.crop_len = crop_len
        self.random_crop = random_crop
        self.features = features
        self.tis_crop_frac = tis_crop_frac
        self.sets: dict[str, Dataset] = {}
        # each set's starts, for trees that read isoform columns: a set is one input, as a FASTA is to impute
        self.isoforms: dict[str, IsoformIndex] = {}
        self.hexamer_log_odds: np.ndarray | None = None

    def setup(self, stage: str | None = None) -> None:
        for name, paths in self.split.items():
            if name not in self.sets and paths:
                self.sets[name] = load_files(paths)
        if self.features and self.hexamer_log_odds is None:
            train = self.sets["train"]
            self.hexamer_log_odds = fit_hexamer_log_odds(train.transcript(i) for i in range(len(train)))

    def _loader(self, name: str, shuffle: bool) -> torch.utils.data.DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        # trees are fitted with the model's feature head (prefit_feature_head) and kept in its weights
        network = getattr(getattr(self.trainer, "lightning_module", None), "network", None)
        trees = network.tree_scorer() if network is not None else None
        if trees is not None and trees.isoform_columns and name not in self.isoforms:
            data = self.sets[name]
            self.isoforms[name] = score_isoform_index([data.transcript(i)[0] for i in range(len(data))], trees,
                                                      lambda t: orf_features(t, self.hexamer_log_odds))
        batches = BatchedTranscripts(self.sets[name], self.max_tokens, self.max_per_batch,
                                     shuffle=shuffle, seed=self.seed,
                                     crop_len=self.crop_len if name == "train" else None,
                                     random_crop=self.random_crop, features=self.features,
                                     tis_crop_frac=self.tis_crop_frac if name == "train" else 0.0,
                                     hexamer_log_odds=self.hexamer_log_odds,
                                     trees=trees, isoforms=self.isoforms.get(name))
        batches.set_epoch(epoch)
        return torch.utils.data.DataLoader(batches, batch_size=None, shuffle=shuffle,
                                           num_workers=self.num_workers)

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)


# ----------------------------------------------------------------------------- models


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
    """

    def __init__(self, network: dict | None = None, lr: float = 1e-3, decay_rate: float = 0.95,
                 pos_weight: float = 1.0, freeze_feature_head: bool = False):
        network = {**(network or {}), "num_outputs": 1}
        super().__init__(network, lr, decay_rate)
        self.save_hyperparameters()
        self._collected: list = []
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
            from .export import ExportableTIS

            try:
                return ExportableTIS(self.network, self.logit_offset)(tokens, features)
            except ValueError:  # an architecture the rewrite does not cover
                pass
        return torch.sigmoid(self.network(tokens, features=features)[..., 0] + self.logit_offset)

    def setup(self, stage: str) -> None:
        # the data module has fitted the features' hexamer table on the training split by now
        # (Lightning sets the data up first); a resumed run then restores the same table
        self.take_feature_table(getattr(getattr(self.trainer, "datamodule", None), "hexamer_log_odds", None))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # feature heads saved before their inputs were standardized read raw features (identity shift and scale),
        # and those saved before the non-ATG shift existed added none
        state = checkpoint.get("state_dict", {})
        if self.network.feature_head is not None:
            for name in ("feature_shift", "feature_scale", "non_atg_logit_shift", "non_start_logit_shift"):
                state.setdefault(f"network.{name}", getattr(self.network, name).detach().clone())
        if self.network.config.tree_blend:
            # the trees' size is known only now: size the buffers for load_state_dict
            for name in ("tree_model", "tree_stage_one"):
                if f"network.{name}" in state:
                    setattr(self.network, name, torch.empty_like(state[f"network.{name}"]))
                else:  # saved before trees had two stages
                    state[f"network.{name}"] = getattr(self.network, name).detach().clone()

    def take_feature_table(self, table: np.ndarray | None) -> None:
        """Use ``table`` (``fit_hexamer_log_odds`` of the training split) for the input features."""
        if self.network.config.n_features and table is not None:
            self.network.hexamer_log_odds.copy_(torch.from_numpy(table))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        mask = batch["tokens"] != PAD
        logits = self.network(batch["tokens"], mask, batch.get("features"))[..., 0]
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


def prefit_feature_head(model: TISModel, data: Dataset, epochs: int, seed: int = 0,
                        other_fraction: float = 0.02, batch_size: int = 2048, lr: float = 1e-3,
                        other_weight: float = 2.0, tree_rounds: int = 600, tree_stages: int = 2,
                        isoform_trees: bool = True, alone_share: float = 0.3) -> dict:
    """Fit the network's feature head alone on the training transcripts, then hand it the output.

    Rows are every ATG and every annotated TIS, plus a random ``other_fraction``
    of the remaining positions, each weighing ``other_weight``; the loss is
    the TIS model's, ``pos_weight`` included.  Weighting the sample by the
    inverse of its fraction (50) would make the loss unbiased, but then
    nearly all of it comes from positions that ``is_atg`` alone rules out,
    and the head ranks ATGs worse: held-out PR AUC of the head alone on
    chr13 / chr18 / chr20 is 0.770 / 0.768 / 0.816 with 50 and
    0.787 / 0.776 / 0.827 with 2 (``benchmarks/feature_head.py``).  The
    sampled positions then weigh ``other_fraction * other_weight`` (0.04)
    times what all the positions they stand for would, so the head's odds
    wherever no ATG starts come out 1 / 0.04 = 25 times too high; the
    network's ``non_atg_logit_shift`` is set to log(0.04) to undo it (held-out
    ROC AUC of the shipped chr13 model 0.99954 -> 0.99980, ATG-only metrics
    unchanged).  The head reads the
    features standardized by the rows' mean and standard deviation (kept in
    the network), and its learning rate decays to zero over the passes.  The
    encoder's own output head is then zeroed, so that the network starts out
    computing exactly the fitted feature head and further training learns what
    the sequence adds to it.

    Parameters
    ----------
    model : TISModel
        With ``feature_head`` > 0 and its hexamer table set.
    data : Dataset
        Training transcripts.
    epochs : int
        Passes over the rows.
    seed : int
        Seed of the row sample and shuffles.
    other_weight : float
        Loss weight of each sampled position that is neither an ATG nor a TIS.
    tree_rounds : int
        For a network that blends trees (``tree_blend``), the boosting rounds
        of the trees then fitted to the ATG rows (raw features, TISs weighing
        ``pos_weight``), which the network keeps.
    tree_stages : int
        1: one set of trees; 2: cross-fitted first-stage trees whose scores,
        pooled over each transcript's ATGs, second-stage trees also read
        (``tis_transformer.trees.fit_two_stage_trees``).
    isoform_trees : bool
        The trees also read how each ATG's ORF compares with the same start
        in the other transcripts of ``data`` (``tis_transformer.isoforms``).
    alone_share : float
        With ``isoform_trees``, the share of transcripts whose isoform
        columns are zeroed, as for a transcript scored alone, so that the
        trees learn to score both ways.  In a probe on chr18 (one stage of
        trees), 0.3 gave ATG-only PR AUC 0.820 with isoforms and 0.791
        alone; 0 gave 0.822 and 0.767, and trees without the columns 0.789.

    Returns
    -------
    dict
        ``rows``, ``positives`` and the last epoch's mean ``loss``; also
        ``trees`` (rounds) and ``tree_bytes`` when trees were fitted.
    """
    network = model.network
    if network.feature_head is None:
        raise ValueError("this network has no feature head (--feature_head)")
    rng = np.random.default_rng(seed)
    table = network.feature_table()
    rows, labels, weights, transcripts, alike = [], [], [], [], []
    # non-ATG positions and TISs there, at near-cognate codons and at the others
    starts = np.zeros((2, 2))
    isoforms = None
    if network.config.tree_blend and isoform_trees:
        isoforms = IsoformIndex.of(data.transcript(i)[0] for i in range(len(data)))
        # a generator of its own, so that the sample of other positions stays the same with or without
        alone = np.random.default_rng((seed, 1)).random(len(data)) < alone_share
    for i in range(len(data)):
        tokens, y = data.transcript(i)
        f = orf_features(tokens, table, feature_set_of(network.config.n_features))
        candidate = (f[:, IS_ATG_COLUMN] > 0) | (y > 0)
        sampled = ~candidate & (rng.random(len(y)) < other_fraction)
        keep = candidate | sampled
        if network.config.n_features > NEAR_COGNATE_COLUMN:
            near = f[:, NEAR_COGNATE_COLUMN] > 0
            for row, at in enumerate((near, ~near)):
                at = at & (f[:, IS_ATG_COLUMN] == 0)
                starts[row] += (at.sum(), (y[at] > 0).sum())
        if isoforms is not None:
            alike.append(np.zeros((int(keep.sum()), len(ISOFORM_NAMES)), dtype=np.float32) if alone[i]
                         else isoforms.columns(tokens)[keep])
        rows.append(f[keep])
        labels.append(y[keep])
        weights.append(np.where(sampled[keep], other_weight, 1.0))
        transcripts.append(np.full(int(keep.sum()), i))
    x = torch.from_numpy(np.concatenate(rows))
    y = torch.from_numpy(np.concatenate(labels).astype(np.float32))
    w = torch.from_numpy(np.concatenate(weights).astype(np.float32))
    w = w * torch.where(y > 0, float(model.hparams.pos_weight), 1.0)
    fitted = {"rows": int(len(y)), "positives": int(y.sum())}
    if network.config.tree_blend:
        atg = (x[:, IS_ATG_COLUMN] > 0).numpy()
        tree_rows = x.numpy()[atg]
        if isoforms is not None:
            tree_rows = np.concatenate([tree_rows, np.concatenate(alike)[atg]], axis=1)
        at_atg = (tree_rows, y.numpy()[atg], w.numpy()[atg])
        if tree_stages == 2:
            row_transcripts = np.concatenate(transcripts)[atg]
            def pooled_elsewhere(probabilities: np.ndarray) -> np.ndarray:
                # the ATG rows are the index's starts, in the same order; a transcript taken as alone has none
                columns = isoforms.set_stage_one(probabilities).stage_one_rows()
                return columns * ~alone[row_transcripts][:, None]

            stage_one, trees = fit_two_stage_trees(*at_atg, row_transcripts, tree_rounds,
                                                   logit_offset=model.logit_offset, seed=seed,
                                                   threads=torch.get_num_threads(),
                                                   stage_one_columns=None if isoforms is None else pooled_elsewhere)
        elif tree_stages == 1:
            stage_one, trees = b"", fit_trees(*at_atg, tree_rounds, seed=seed, threads=torch.get_num_threads())
        else:
            raise ValueError(f"trees have 1 or 2 stages, not {tree_stages}")
        network.set_trees(trees, stage_one)
        fitted.update(trees=tree_rounds, tree_stages=tree_stages, tree_bytes=len(trees) + len(stage_one),
                      isoform_trees=isoforms is not None)
    with torch.no_grad():
        # standardize on the rows the head is fitted to (mostly ATGs), where its inputs matter
        network.feature_shift.copy_(x.mean(dim=0))
        network.feature_scale.copy_(1.0 / x.std(dim=0).clamp_min(1e-2))
    x = (x - network.feature_shift) * network.feature_scale
    frozen = [not p.requires_grad for p in network.feature_head.parameters()]
    network.feature_head.requires_grad_(True)
    optimizer = torch.optim.Adam(network.feature_head.parameters(), lr=lr)
    # a cosine decay to zero over the passes: the last ones settle instead of overfitting the rows
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(epochs, 1))
    generator = torch.Generator().manual_seed(seed)
    loss_sum = 0.0
    for _ in range(epochs):
        loss_sum, seen = 0.0, 0
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            logits = network.feature_head(x[batch])[:, 0]
            loss = F.binary_cross_entropy_with_logits(logits, y[batch], weight=w[batch], reduction="sum")
            optimizer.zero_grad()
            (loss / w[batch].sum()).backward()
            optimizer.step()
            loss_sum, seen = loss_sum + loss.item(), seen + w[batch].sum().item()
        scheduler.step()
        loss_sum /= max(seen, 1.0)
    for parameter, was_frozen in zip(network.feature_head.parameters(), frozen):
        parameter.requires_grad_(not was_frozen)
    with torch.no_grad():
        network.head.weight.zero_()
        network.head.bias.zero_()
        if other_fraction * other_weight > 0:
            network.non_atg_logit_shift.fill_(math.log(other_fraction * other_weight))
        if network.config.n_features > NEAR_COGNATE_COLUMN and starts[:, 0].all():
            # log odds ratio of a TIS at other codons against near-cognate ones (half a TIS added to each)
            rate = (starts[:, 1] + 0.5) / starts[:, 0]
            network.non_start_logit_shift.fill_(min(0.0, math.log(rate[1] / rate[0])))
            fitted["non_start_logit_shift"] = float(network.non_start_logit_shift)
    return {**fitted, "loss": loss_sum}


def load_tis_model(checkpoint: str | Path) -> TISModel:
    """Load a TIS checkpoint for inference: eval mode, projections fixed, on CPU."""
    model = TISModel.load_from_checkpoint(str(checkpoint), map_location="cpu")
    model.eval()
    model.network.fix_projections()
    return model


def transfer_weights(model: TISModel, checkpoint: str | Path) -> None:
    """Start a TIS model from another checkpoint's weights.

    From MLM pretraining every weight but the output head (its shape differs)
    is taken.  From an earlier TIS model the head is taken too, and a feature
    embedding with fewer input features than this model's fills the leading
    columns while the new ones start at zero: training begins from the old
    model's function and learns to use the added features.  The hexamer table
    is never taken: it belongs to this run's training data.
    """
    state = torch.load(str(checkpoint), map_location="cpu", weights_only=False)["state_dict"]
    own = model.state_dict()
    kept = {k: v for k, v in state.items()
            if k in own and own[k].shape == v.shape
            and not k.endswith(("hexamer_log_odds", "tree_model", "tree_stage_one"))}
    old, new = state.get("network.feature_emb.weight"), own.get("network.feature_emb.weight")
    if old is not None and new is not None and old.shape[0] == new.shape[0] and old.shape[1] < new.shape[1]:
        widened = torch.zeros_like(new)
        widened[:, : old.shape[1]] = old
        kept["network.feature_emb.weight"] = widened
    optional = (".head.", ".feature_emb.", ".feature_head.", "hexamer_log_odds", "feature_shift", "feature_scale",
                "non_atg_logit_shift", "non_start_logit_shift", "tree_model", "tree_stage_one")
    missing = [k for k in own if k not in kept and not any(part in k for part in optional)]
    if missing:
        raise InputError(f"{checkpoint}: checkpoint does not match the architecture "
                         f"({len(missing)} tensors missing, e.g. {missing[0]})")
    model.load_state_dict(kept, strict=False)


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """Arguments of the ``pretrain`` and ``train`` commands."""
    parser.add_argument("data_path", help="directory of per-chromosome files (.npz from "
                        "'tis-transformer prepare', or the original .npy/.npy.gz)")
    parser.add_argument("val_set", help="file name(s) in DATA_PATH used for validation (comma-separated)")
    parser.add_argument("test_set", help="file name(s) in DATA_PATH held out for testing (comma-separated)")
    if task == "train":
        parser.add_argument("--transfer_checkpoint",
                            help="start from this checkpoint's weights: MLM pretraining (all but the head) "
                            "or an earlier TIS model (a narrower feature embedding is widened with zeros)")
        parser.add_argument("--orf_features", action="store_true",
                            help="also feed the network reading-frame features computed from the "
                            "sequence (ORF length to the next in-frame stop, first and longest ATG ORF, ...)")
        parser.add_argument("--feature_head", type=int, default=0, metavar="UNITS",
                            help="with --orf_features, add a per-position MLP of the features (UNITS hidden "
                            "units, two layers) to the output logits (default 0: none)")
        parser.add_argument("--prefit_feature_head", type=int, default=0, metavar="EPOCHS",
                            help="fit the feature head alone on the training transcripts for EPOCHS passes; "
                            "the rest of the network then trains on top of it, the feature head fixed (default 0)")
        parser.add_argument("--prefit_other_weight", type=float, default=2.0, metavar="W",
                            help="in prefitting, the loss weight of each sampled position that is neither an ATG "
                            "nor a TIS (2%% of them are sampled; default 2)")
        parser.add_argument("--trees", type=int, default=0, metavar="ROUNDS",
                            help="with --prefit_feature_head, also fit ROUNDS boosted trees (LightGBM) to the "
                            "features at ATGs and blend their logit there with the feature head's (default 0: none)")
        parser.add_argument("--tree_stages", type=int, default=2, choices=[1, 2],
                            help="with --trees, 2 (default): cross-fitted first-stage trees score every ATG and "
                            "second-stage trees also read how each compares with its transcript's other ATGs; "
                            "1: one set of trees")
        parser.add_argument("--tree_blend", type=float, default=0.85, metavar="W",
                            help="with --trees, the trees' share of the blended logit at ATGs (default 0.85: "
                            "trees reading isoforms rank ATGs better than the feature head, which reads none)")
        parser.add_argument("--isoform_trees", action=argparse.BooleanOptionalAction, default=True,
                            help="with --trees (default on): the trees also read how each ATG's ORF compares "
                            "with the same start in the other transcripts of the input, e.g. a non-coding isoform "
                            "whose ORF stops early where a sibling's reads on")
        parser.add_argument("--pos_weight", type=float, default=1.0,
                            help="loss weight of TIS positions (default 1); predicted probabilities "
                            "are corrected for it")
    else:
        parser.add_argument("--mask_frac", type=float, default=0.85,
                            help="fraction of chosen positions set to the mask token (default 0.85)")
        parser.add_argument("--rand_frac", type=float, default=0.1,
                            help="fraction of chosen positions set to a random nucleotide (default 0.1)")
        parser.add_argument("--select_frac", type=float, default=0.15,
                            help="fraction of positions chosen for the loss (default 0.15)")
    net = parser.add_argument_group("model")
    defaults = NetworkConfig()
    for field in ("dim", "depth", "heads", "dim_head", "local_attn_heads", "local_window_size",
                  "nb_features", "feature_redraw_interval", "ff_chunks"):
        net.add_argument(f"--{field}", type=int, default=getattr(defaults, field),
                         help=f"default {getattr(defaults, field)}")
    for field in ("emb_dropout", "ff_dropout", "attn_dropout"):
        net.add_argument(f"--{field}", type=float, default=getattr(defaults, field),
                         help=f"default {getattr(defaults, field)}")
    net.add_argument("--no_generalized_attention", action="store_true",
                     help="softmax-kernel instead of generalized ReLU attention")
    net.add_argument("--no_ff_glu", action="store_true", help="plain instead of gated feed-forward")
    net.add_argument("--no_reversible", action="store_true", help="plain instead of reversible layers")
    opt = parser.add_argument_group("optimisation and batching")
    opt.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    opt.add_argument("--decay_rate", type=float, default=0.95, help="LR decay per epoch (default 0.95)")
    opt.add_argument("--max_tokens", type=int, default=25000,
                     help="padded nucleotides per batch; longer transcripts get a batch alone (default 25000)")
    opt.add_argument("--max_transcripts_per_batch", type=int, default=400, help="default 400")
    opt.add_argument("--crop_len", type=int, default=None,
                     help="train on the first CROP_LEN nt of longer transcripts (default: whole transcripts)")
    opt.add_argument("--random_crop", action="store_true",
                     help="with --crop_len, crop a window redrawn each epoch instead of the 5' end")
    opt.add_argument("--tis_crop_frac", type=float, default=0.0,
                     help="with --random_crop, the chance that a transcript with a TIS gets a window "
                     "holding one (default 0: uniform windows)")
    opt.add_argument("--num_workers", type=int, default=0, help="data loader workers (default 0)")
    run = parser.add_argument_group("trainer")
    run.add_argument("--resume", default=None, metavar="CKPT",
                     help="continue an interrupted run from its checkpoint (e.g. last.ckpt): weights, "
                     "optimiser, LR schedule, epoch and elapsed --max_time")
    run.add_argument("--max_epochs", type=int, default=60, help="default 60")
    run.add_argument("--max_steps", type=int, default=-1, help="stop after this many steps (default: no limit)")
    run.add_argument("--max_time", default=None, help="stop after DD:HH:MM:SS")
    run.add_argument("--patience", type=int, default=0,
                     help="stop after this many epochs without a better validation score (0: off)")
    run.add_argument("--accelerator", default="auto", help="cpu, gpu, auto (default auto)")
    run.add_argument("--devices", default="auto", help="number of devices or 'auto'")
    run.add_argument("--num_nodes", type=int, default=1, help="nodes for multi-node training")
    run.add_argument("--strategy", default="auto", help="e.g. ddp for multi-GPU / multi-node")
    run.add_argument("--precision", default="32-true", help="e.g. 32-true, bf16-mixed (default 32-true)")
    run.add_argument("--limit_train_batches", type=float, default=1.0)
    run.add_argument("--limit_val_batches", type=float, default=1.0)
    run.add_argument("--limit_test_batches", type=float, default=1.0)
    run.add_argument("--val_check_interval", type=float, default=1.0,
                     help="validate every fraction of an epoch (float) or N batches (int)")
    run.add_argument("--accumulate_grad_batches", type=int, default=1)
    run.add_argument("--gradient_clip_val", type=float, default=None)
    run.add_argument("--seed", type=int, default=0, help="default 0")
    run.add_argument("--name", default=task, help=f"run name under --log_dir (default {task})")
    run.add_argument("--log_dir", default="runs", help="where logs and checkpoints go (default runs)")
    run.add_argument("--no_progress_bar", action="store_true")


def _comma_list(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def _network_config(args: argparse.Namespace) -> dict:
    return {
        "dim": args.dim, "depth": args.depth, "heads": args.heads, "dim_head": args.dim_head,
        "local_attn_heads": args.local_attn_heads, "local_window_size": args.local_window_size,
        "nb_features": args.nb_features, "feature_redraw_interval": args.feature_redraw_interval,
        "generalized_attention": not args.no_generalized_attention, "ff_glu": not args.no_ff_glu,
        "reversible": not args.no_reversible, "ff_chunks": args.ff_chunks,
        "emb_dropout": args.emb_dropout, "ff_dropout": args.ff_dropout,
        "attn_dropout": args.attn_dropout,
        "n_features": len(FEATURE_NAMES) if getattr(args, "orf_features", False) else 0,
        "feature_head": getattr(args, "feature_head", 0),
        "tree_blend": args.tree_blend if getattr(args, "trees", 0) else 0.0,
    }


def _devices(value: str):
    return int(value) if str(value).isdigit() else value


def _val_interval(value: float):
    return int(value) if value > 1 else value


def run(args: argparse.Namespace, task: str | None = None) -> int:
    """Train a model as the ``pretrain`` or ``train`` command asks; print test metrics."""
    task = task or args.command
    if task == "train" and args.trees and not (args.prefit_feature_head and args.orf_features and args.feature_head):
        raise InputError("--trees are fitted with the feature head: add --orf_features, --feature_head and "
                         "--prefit_feature_head")
    if task == "train" and args.trees and not 0 < args.tree_blend <= 1:
        raise InputError(f"--tree_blend must be in (0, 1], got {args.tree_blend}")
    L.seed_everything(args.seed, workers=True, verbose=False)
    data = TranscriptData(args.data_path, _comma_list(args.val_set), _comma_list(args.test_set),
                          args.max_tokens, args.max_transcripts_per_batch, args.num_workers,
                          args.seed, args.crop_len, args.random_crop,
                          features=getattr(args, "orf_features", False), tis_crop_frac=args.tis_crop_frac)
    network = _network_config(args)
    if task == "train":
        model = TISModel(network, lr=args.lr, decay_rate=args.decay_rate, pos_weight=args.pos_weight,
                         freeze_feature_head=bool(args.prefit_feature_head))
        if args.transfer_checkpoint:
            transfer_weights(model, args.transfer_checkpoint)
        if args.prefit_feature_head and not args.resume:
            data.setup("fit")
            model.take_feature_table(data.hexamer_log_odds)
            fitted = prefit_feature_head(model, data.sets["train"], args.prefit_feature_head, seed=args.seed,
                                         other_weight=args.prefit_other_weight, tree_rounds=args.trees,
                                         tree_stages=args.tree_stages, isoform_trees=args.isoform_trees)
            print(f"feature head prefit: {json.dumps(fitted)}", file=sys.stderr, flush=True)
        monitor, mode, file_name = "val_pr_auc", "max", "best-{epoch}-{val_pr_auc:.4f}"
    else:
        model = MLMModel(network, lr=args.lr, decay_rate=args.decay_rate, select_frac=args.select_frac,
                         mask_frac=args.mask_frac, rand_frac=args.rand_frac)
        monitor, mode, file_name = "val_loss", "min", "best-{epoch}-{val_loss:.4f}"
    logger = CSVLogger(args.log_dir, name=args.name)
    checkpoint = ModelCheckpoint(monitor=monitor, mode=mode, save_last=True, filename=file_name)
    callbacks = [checkpoint, LearningRateMonitor("epoch")]
    if args.patience:
        from lightning.pytorch.callbacks import EarlyStopping
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=args.patience))
    if not args.no_progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    trainer = L.Trainer(
        max_epochs=args.max_epochs, max_steps=args.max_steps, max_time=args.max_time,
        accelerator=args.accelerator, devices=_devices(args.devices), num_nodes=args.num_nodes,
        strategy=args.strategy, precision=args.precision,
        limit_train_batches=_val_interval(args.limit_train_batches),
        limit_val_batches=_val_interval(args.limit_val_batches),
        limit_test_batches=_val_interval(args.limit_test_batches),
        val_check_interval=_val_interval(args.val_check_interval),
        accumulate_grad_batches=args.accumulate_grad_batches,
        gradient_clip_val=args.gradient_clip_val, logger=logger, callbacks=callbacks,
        enable_progress_bar=not args.no_progress_bar, reload_dataloaders_every_n_epochs=1,
        deterministic=False, log_every_n_steps=10,
    )
    if task == "train" and args.prefit_feature_head and not args.resume:
        # the starting point is a candidate model of its own: score and keep it
        scored = trainer.validate(model, datamodule=data, verbose=False)
        trainer.save_checkpoint(Path(logger.log_dir) / "checkpoints" / "prefit.ckpt")
        print(f"prefit model: {json.dumps(scored[0] if scored else {}, default=float)}", file=sys.stderr, flush=True)
    started = time.time()
    trainer.fit(model, datamodule=data, ckpt_path=args.resume)
    wall = time.time() - started
    ckpt = checkpoint.best_model_path or checkpoint.last_model_path
    results = trainer.test(model, datamodule=data, ckpt_path=ckpt or None, verbose=False)
    if trainer.is_global_zero:
        summary = {"task": task, "checkpoint": ckpt, "train_files": [p.name for p in data.split["train"]],
                   "val_files": [p.name for p in data.split["val"]],
                   "test_files": [p.name for p in data.split["test"]],
                   "fit_seconds": round(wall, 1), "global_steps": trainer.global_step,
                   "train_nucleotides": model.train_nucleotides,
                   "train_nt_per_s": round(model.train_nucleotides / max(model.train_seconds, 1e-9)),
                   "test": getattr(model, "test_results", None) or (results[0] if results else {})}
        out = Path(logger.log_dir) / "test_metrics.json"
        out.write_text(json.dumps(summary, indent=2, default=float))
        print(json.dumps(summary, indent=2, default=float), file=sys.stdout)
    return 0
