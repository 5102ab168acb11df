"""Training data: length-bucketed batches of transcripts, cropped windows, and the files of a split."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

from tis_transformer.predictor.batch import length_batches
from tis_transformer.predictor.features import FeatureTables
from tis_transformer.predictor.input_files import DATA_SUFFIXES
from tis_transformer.predictor.isoforms import IsoformIndex
from tis_transformer.predictor.model_inputs import ModelInputs
from tis_transformer.predictor.read import InputError
from tis_transformer.predictor.tokens import PAD
from tis_transformer.predictor.trees import TreeScorer
from tis_transformer.training.datasets import check_distinct_names, concatenate, Dataset, load_dataset
from tis_transformer.training.feature_tables import fit_feature_tables


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
        transcript (``tis_transformer.predictor.features``), cropped like the tokens.
    tables : FeatureTables, optional
        The features' tables (``fit_feature_tables`` on the training
        transcripts); None zeroes the hexamer and start-context columns.
    trees : TreeScorer, optional
        With ``features``, append these trees' logit as a last column
        (``tis_transformer.predictor.trees``).
    isoforms : IsoformIndex, optional
        The starts of all of ``data``, for trees that read isoform columns
        (``tis_transformer.predictor.isoforms``); None scores each transcript alone.
    """

    def __init__(self, data: Dataset, max_tokens: int, max_per_batch: int, shuffle: bool,
                 seed: int = 0, crop_len: int | None = None, random_crop: bool = False,
                 features: bool = False, tis_crop_frac: float = 0.0,
                 tables: FeatureTables | None = None, trees: TreeScorer | None = None,
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
        # the model's inputs as the predictor computes them
        self.inputs = ModelInputs(tables or FeatureTables(), trees=trees) if features else None
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
                f = self.inputs.with_trees(t, alike)
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
    """Split a directory's files into train, validation and test lists.

    Each validation or test entry is a file name in ``data_path`` or a path
    to a data file anywhere else; every other file of ``data_path`` is
    trained on.

    Raises
    ------
    InputError
        An entry that is neither, one in both sets, or a file elsewhere that
        is one of the training files under another name.
    """
    files = find_data_files(data_path)
    names = {p.name: p for p in files}

    def locate(entry: str) -> Path:
        if entry in names:
            return names[entry]
        path = Path(entry)
        if path.is_file() and path.name.endswith(DATA_SUFFIXES):
            inside = next((p for p in files if p.resolve() == path.resolve() and p.name == path.name), None)
            return inside or path
        raise InputError(f"{entry}: not found in {data_path} (have {', '.join(sorted(names))}) nor a data file "
                         f"({', '.join(DATA_SUFFIXES)})")

    val, test = [locate(e) for e in val_set], [locate(e) for e in test_set]
    overlap = {p.resolve() for p in val} & {p.resolve() for p in test}
    if overlap:
        raise InputError(f"{', '.join(sorted(p.name for p in overlap))}: in both the validation and the test set")
    train = [p for p in files if p not in val + test]
    for p in val + test:
        twin = next((t for t in train if _same_file(t, p)), None)
        if twin is not None:
            raise InputError(f"{p}: holds the same data as the training file {twin}; it would be trained and "
                             f"evaluated on")
    check_distinct_names(train + val + test)
    return {"train": train, "val": val, "test": test}


def _same_file(a: Path, b: Path) -> bool:
    """The same file (through links too), or a copy of it: equal sizes and equal bytes."""
    try:
        if a.samefile(b):
            return True
        if a.stat().st_size != b.stat().st_size:
            return False
        with open(a, "rb") as first, open(b, "rb") as second:
            while True:
                block = first.read(1 << 20)
                if block != second.read(1 << 20):
                    return False
                if not block:
                    return True
    except OSError:
        return False


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
        self.tables: FeatureTables | None = None

    def setup(self, stage: str | None = None) -> None:
        for name, paths in self.split.items():
            if name not in self.sets and paths:
                self.sets[name] = load_files(paths)
        if self.features and self.tables is None:
            train = self.sets["train"]
            self.tables = fit_feature_tables([train.transcript(i) for i in range(len(train))])

    def _loader(self, name: str, shuffle: bool) -> torch.utils.data.DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        # trees are fitted with the model's feature head (prefit_feature_head) and kept in its weights
        network = getattr(getattr(self.trainer, "lightning_module", None), "network", None)
        trees = network.tree_scorer() if network is not None else None
        if trees is not None and trees.isoform_columns and name not in self.isoforms:
            data = self.sets[name]
            inputs = ModelInputs(self.tables or FeatureTables(), trees=trees)
            self.isoforms[name] = inputs.isoform_index([data.transcript(i)[0] for i in range(len(data))])
        batches = BatchedTranscripts(self.sets[name], self.max_tokens, self.max_per_batch,
                                     shuffle=shuffle, seed=self.seed,
                                     crop_len=self.crop_len if name == "train" else None,
                                     random_crop=self.random_crop, features=self.features,
                                     tis_crop_frac=self.tis_crop_frac if name == "train" else 0.0,
                                     tables=self.tables, trees=trees, isoforms=self.isoforms.get(name))
        batches.set_epoch(epoch)
        return torch.utils.data.DataLoader(batches, batch_size=None, shuffle=shuffle,
                                           num_workers=self.num_workers)

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)
