"""Wall time, peak memory and held-out metrics of ``tis-transformer train`` with its defaults, then ``impute``.

The run is what a user training a model for a new organism types: one
command, no options but ``-o``::

    tis-transformer train DATA_DIR chrY.npy.gz TEST_FILE -o model.onnx

DATA_DIR is a temporary folder of links to the shared chromosomes trained on
plus chrY (validation); the test file is a chromosome kept outside DATA_DIR,
given by its path. Only five chromosomes are shared (chr13, chr18, chr20,
chr22, chrY), so the test file is one of the four autosomes, held out of
DATA_DIR (by default chr13: training on chr18, chr20, chr22). The produced
model then predicts ``examples/example.fa`` and the test chromosome through
``impute``.

Example (2 cores: 3:21 wall on 2026-11-30, benchmarks/README.md)::

    OMP_NUM_THREADS=2 python benchmarks/train_time.py --json runs/train_time.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import ROOT, SHARED_DATA, machine_info, measure  # noqa: E402

TRAINED = ("chr18", "chr20", "chr22")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder of the shared chromosomes")
    parser.add_argument("--test", default="chr13", help="chromosome held out of DATA_DIR and tested on")
    parser.add_argument("--train", default=",".join(TRAINED), help="chromosomes trained on")
    parser.add_argument("--keep", type=Path, help="keep the model, logs and run folder here")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--extra", default="", help="more train options, e.g. '--preset smoke' to try it out")
    args = parser.parse_args()
    # this checkout, not an installed copy: the module with PYTHONPATH
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    cli = [sys.executable, "-m", "tis_transformer"]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        data_dir = work / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        for chrom in args.train.split(",") + ["chrY"]:
            link = data_dir / f"{chrom}.npy.gz"
            if not link.exists():
                link.symlink_to((args.data / f"{chrom}.npy.gz").resolve())
        test = (args.data / f"{args.test}.npy.gz").resolve()
        model = work / "model.onnx"
        command = cli + ["train", str(data_dir), "chrY.npy.gz", str(test), "-o", str(model),
                         "--log_dir", str(work / "runs"), *args.extra.split()]
        print("running:", " ".join(command), flush=True)
        trained = measure(command, ROOT, work / "train.log")
        card = json.loads(model.with_suffix(".json").read_text())
        results = {"machine": machine_info(), "threads": os.environ.get("OMP_NUM_THREADS"),
                   "command": " ".join(command), "train": trained,
                   "stages_s": card["training_seconds"], "export_s": card["export_seconds"],
                   "chosen_checkpoint": card["chosen_checkpoint"], "val_pr_auc": card["val_pr_auc"],
                   "validation": card["validation_metrics"], "test": card["metrics"], "impute": {}}
        for name, given in (("example.fa", ROOT / "examples" / "example.fa"), (args.test, test)):
            out = work / f"{name.split('.')[0]}.sites.tsv"
            run = measure(cli + ["impute", str(given), str(model), "-o", str(out), "--threads",
                                 os.environ.get("OMP_NUM_THREADS", "0")], ROOT, work / f"impute_{name}.log")
            sites = sum(1 for line in out.read_text().splitlines() if line and not line.startswith(("#", "transcript")))
            results["impute"][name] = {**run, "sites": sites}
    text = json.dumps(results, indent=2, default=float)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
