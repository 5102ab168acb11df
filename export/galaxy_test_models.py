"""Build galaxy/test-data/tiny_isoforms.onnx and its alone variant: a model pair small enough for the Galaxy tests.

Fitted as ``tis-transformer train -o`` fits them (the feature head prefitted, trees comparing isoforms; the alone
variant the same without isoform columns; both shipped through ``ship()``), but on 150 short coding transcripts of
chr22 with a head of 8 units and 30 tree rounds in two stages, so that the files stay under 100 kB. Their scores
mean little; the Galaxy tests check that the wrapper pairs a model with its alone variant.

    python export/galaxy_test_models.py [DATA_DIR] [OUT_DIR]

DATA_DIR defaults to ../shared/data/GRCh38p13, OUT_DIR to galaxy/test-data (the tests read the two .onnx files;
the .json cards written beside them are not needed). About 10 s on one core.
"""

import sys
from pathlib import Path

import numpy as np
import torch

from tis_transformer.export.ship import ship
from tis_transformer.predictor.features import FEATURE_NAMES
from tis_transformer.training.datasets import from_arrays, read_original
from tis_transformer.training.feature_tables import fit_feature_tables
from tis_transformer.training.modules import TISModel
from tis_transformer.training.prefit import prefit_feature_head

ROOT = Path(__file__).resolve().parents[1]


def fitted(network: dict, tables, train, isoform_trees: bool) -> TISModel:
    torch.manual_seed(2)
    model = TISModel(network, pos_weight=10.0, freeze_feature_head=True)
    model.network.set_feature_tables(tables)
    prefit_feature_head(model, train, 4, seed=2, tree_rounds=30, tree_stages=2, isoform_trees=isoform_trees)
    return model


def main() -> int:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "GRCh38p13"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "galaxy" / "test-data"
    torch.set_num_threads(1)
    data = read_original(data_dir / "chr22.npy.gz")
    rng = np.random.default_rng(0)
    coding = [i for i in range(len(data)) if data.transcript(i)[1].any() and 300 <= data.lengths[i] <= 1500]
    picks = sorted(rng.choice(coding, size=150, replace=False).tolist())
    pairs = [data.transcript(i) for i in picks]
    train = from_arrays([data.ids[i] for i in picks], [t for t, _ in pairs], [y for _, y in pairs])
    tables = fit_feature_tables(pairs)
    network = {"depth": 0, "n_features": len(FEATURE_NAMES), "feature_head": 8, "tree_blend": 0.85}
    model, alone = fitted(network, tables, train, True), fitted(network, tables, train, False)
    card = {"trained_on": ["150 short coding transcripts of chr22.npy.gz"]}
    ship(model, out / "tiny_isoforms.onnx",
         "tiny model for the Galaxy tool tests (30 tree rounds, head of 8): trees comparing isoforms", card, train, {},
         alone=(alone, "tiny model for the Galaxy tool tests: its alone variant, trees fitted without isoform "
                "columns (--alone)", card))
    return 0


if __name__ == "__main__":
    sys.exit(main())
