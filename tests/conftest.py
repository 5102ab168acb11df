"""Shared fixtures: small files in the repository, and subsets of the real human transcripts in ../shared/data
(tests that need those skip when ../shared is not beside the clone)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CHROMOSOMES = SHARED / "GRCh38p13"
# the original tool's example transcripts and its results on them (copies of ../shared/data's)
EXAMPLE_FASTA = ROOT / "examples" / "example.fa"
SEED_RESULTS = ROOT / "tests" / "data" / "seed_results_example.npy"


def needs_shared(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")


def subset(data, indices):
    """A Dataset holding only the transcripts at ``indices``."""
    from tis_transformer.training.datasets import from_arrays

    pairs = [data.transcript(i) for i in indices]
    return from_arrays([data.ids[i] for i in indices], [t for t, _ in pairs], [y for _, y in pairs])


@pytest.fixture(scope="session")
def chry():
    """All of chrY (816 transcripts, 1.1 M nt)."""
    from tis_transformer.training.datasets import read_original

    needs_shared(CHROMOSOMES / "chrY.npy.gz")
    return read_original(CHROMOSOMES / "chrY.npy.gz")


@pytest.fixture(scope="session")
def small_split(tmp_path_factory):
    """A data directory of short real transcripts: train (chr22), val and test (chrY) .npz files."""
    from tis_transformer.training.datasets import read_original, save_dataset

    needs_shared(CHROMOSOMES / "chr22.npy.gz")
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("split")
    train = read_original(CHROMOSOMES / "chr22.npy.gz")
    test = read_original(CHROMOSOMES / "chrY.npy.gz")

    def pick(data, count, max_len):
        # short coding transcripts keep the suite fast and the signal dense
        coding = [i for i in range(len(data)) if data.transcript(i)[1].any() and data.lengths[i] <= max_len]
        return sorted(rng.choice(coding, size=min(count, len(coding)), replace=False).tolist())

    save_dataset(subset(train, pick(train, 300, 1200)), out / "train.npz")
    chosen = pick(test, 80, 1500)
    save_dataset(subset(test, chosen[:40]), out / "val.npz")
    save_dataset(subset(test, chosen[40:]), out / "test.npz")
    return out
