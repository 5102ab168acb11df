#!/usr/bin/env python3
"""Accuracy on held-out chromosomes: the shipped ONNX model, and the reference tool beside it.

For each chromosome, our shipped model that was trained and validated without
it (see ``tis-transformer models``; ``--model`` forces one model for all) is
scored through the lean predictor
(``tis_transformer.predictor.runner.Predictor``, onnxruntime) and the metrics are pooled
over every nucleotide of every transcript (``tis_transformer.cli.evaluate.score_dataset``):
ROC AUC and PR AUC (average precision) over all positions and over ATG
positions, and top-k accuracy with k = the number of annotated TISs.
The chromosome is one input, as its FASTA given to ``impute`` would be: the
models compare each start with the same start in the chromosome's other
transcripts (``tis_transformer.predictor.isoforms``). ``--alone`` adds a row scored with
each transcript alone, as ``impute --alone`` does.

With ``--reference``, ``transcript-transformer`` 1.1.1's pretrained human model
scores the same transcripts through its CLI (FASTA mode: one transcript per
forward pass), with the fold whose test set held that chromosome out
(chr13: 3, chr18: 4, chr20: 1, chrY: 1). Its per-nucleotide ``.npy`` output is
read back and scored the same way; transcripts it skips (over 30,000 nt) score 0.

Examples::

    python benchmarks/accuracy.py                      # every chromosome a shipped model held out
    python benchmarks/accuracy.py chrY --reference --json accuracy_chrY.json
    python benchmarks/accuracy.py chr20 --limit 50 --reference    # quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

METRICS = (("roc_auc", "ROC AUC all", 5), ("pr_auc", "PR AUC all", 4), ("roc_auc_atg", "ROC AUC ATG", 4),
           ("pr_auc_atg", "PR AUC ATG", 4), ("top_k", "top-k", 3), ("top_1", "top-1", 3))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("data", nargs="*",
                   help="chromosome names (in ../shared/data/GRCh38p13) or data files (.npy(.gz), .npz); "
                   "default: every chromosome that a shipped model held out")
    p.add_argument("--model", default=None,
                   help="our model for every file: shipped name or .onnx path (default: for each "
                   "chromosome the shipped model that held it out, else the default model)")
    p.add_argument("--limit", type=int, default=None, help="only the first N transcripts of each file")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime CPU threads (default: all cores)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--reference", action="store_true", help="also score transcript-transformer 1.1.1 (CPU)")
    p.add_argument("--reference_cmd", "--reference-cmd", default=None,
                   help="the reference's tis_transformer script (default: $TT_REFERENCE, "
                   "/work/refvenv/bin/tis_transformer, PATH)")
    p.add_argument("--fold", type=int, default=None,
                   help="reference fold for every file (default: the fold that held each chromosome out)")
    p.add_argument("--reference_output", "--reference-output", action="append", default=[],
                   metavar="CHROM=NPY", help="reuse a saved reference .npy for CHROM instead of running it")
    p.add_argument("--keep", default=None,
                   help="keep the FASTA and the reference's outputs in this folder (reusable with "
                   "--reference_output)")
    p.add_argument("--orf_baseline", action="store_true",
                   help="also score a rule with no learning: at each ATG that starts a stop-terminated ORF, "
                   "log(1 + ORF codons), plus 3 if it starts the transcript's longest such ORF; 0 elsewhere")
    p.add_argument("--alone", action="store_true",
                   help="also score ours with each transcript alone (impute --alone): no isoform context")
    p.add_argument("--json", default=None, help="also write the results as JSON here")
    return p.parse_args(argv)


def default_data(model: str | None) -> list[str]:
    if model is None:
        from tis_transformer.predictor.registry import shipped_models

        held = {bc.chromosome_name(h) for meta in shipped_models().values() for h in meta.get("held_out", [])}
        if held:
            return sorted(held)
    info = bc.model_info(model)
    held_out = info.get("held_out")
    if not held_out:
        try:
            from tis_transformer.predictor.runner import Predictor

            raw = Predictor(model, device="cpu").metadata.get("held_out")
            held_out = json.loads(raw) if raw else None
        except Exception:
            held_out = None
    return [str(name) for name in held_out] if held_out else ["chr20"]


def seen_note(info: dict, chrom: str) -> str:
    """How the model saw ``chrom``, when it did."""
    for key, note in (("trained_on", " (trained on it)"), ("validated_on", " (validated on it)")):
        if chrom in {bc.chromosome_name(name) for name in info.get(key, [])}:
            return note
    return ""


def score_ours(predictor, data, alone: bool = False) -> dict:
    from tis_transformer.cli.evaluate import score_dataset

    tokens = [data.transcript(i)[0] for i in range(len(data))]
    start = time.perf_counter()
    # the chromosome is one input, as its FASTA given to impute: its transcripts are each other's isoforms
    probabilities = predictor.predict(tokens, None if alone else predictor.isoform_index(tokens))
    seconds = time.perf_counter() - start
    result = score_dataset(data, probabilities)
    result.update({"predict_s": seconds, "nt_per_s": data.tokens.size / seconds})
    return result


def score_orf_rule(data) -> dict:
    """The longest-ORF rule of ``--orf_baseline``: what reading frames alone give."""
    from tis_transformer.cli.evaluate import score_dataset
    from tis_transformer.predictor.features import FEATURE_NAMES, LOG_SCALE, orf_features

    column = {name: i for i, name in enumerate(FEATURE_NAMES)}
    scores = []
    for i in range(len(data)):
        f = orf_features(data.transcript(i)[0])
        codons = np.expm1(f[:, column["log_orf_codons"]] * LOG_SCALE)
        candidate = (f[:, column["is_atg"]] > 0) & (f[:, column["stop_found"]] > 0)
        scores.append(np.where(candidate, np.log1p(codons) + 3.0 * f[:, column["starts_longest_orf"]], 0.0))
    return score_dataset(data, scores)


def score_reference(args, data, chrom: str, folder: Path, cli: str | None) -> dict:
    from tis_transformer.cli.evaluate import score_dataset

    fold = args.fold if args.fold is not None else bc.REFERENCE_FOLDS.get(chrom)
    if fold is None:
        raise SystemExit(f"{chrom}: in no reference fold's test set; give --fold")
    saved = dict(item.split("=", 1) for item in args.reference_output)
    result: dict = {"fold": fold}
    if chrom in saved:
        output = Path(saved[chrom])
        result["reused_output"] = str(output)
    else:
        fasta = folder / f"{chrom}.fa"
        bc.write_fasta(fasta, bc.dataset_records(data))
        print(f"[{time.strftime('%H:%M:%S')}] {chrom}: reference fold {fold} on {len(data)} transcripts",
              file=sys.stderr, flush=True)
        run, output = bc.run_reference(cli, fasta, fold, folder / f"reference_{chrom}")
        result.update({"wall_s": run["wall_s"], "peak_rss_mb": run["peak_rss_mb"],
                       "peak_tree_pss_mb": run.get("peak_tree_pss_mb"),
                       "command": run["command"].replace("input.fa", fasta.name)})
    scored = bc.read_results_npy(output)
    probabilities, skipped = [], []
    for i in range(len(data)):
        name, length = str(data.ids[i]), int(data.lengths[i])
        p = scored.get(name)
        if p is None or len(p) != length:
            skipped.append(name)
            p = np.zeros(length, dtype=np.float32)
        probabilities.append(p)
    result.update(score_dataset(data, probabilities))
    result["skipped_transcripts"] = len(skipped)
    result["skipped_ids"] = skipped[:20]
    missing = set(skipped)
    scored_nt = int(sum(int(n) for name, n in zip(data.ids, data.lengths) if str(name) not in missing))
    if "wall_s" in result:
        result["nt_per_s"] = scored_nt / result["wall_s"]
    return result


def markdown(results: list[dict]) -> str:
    lines = ["| chrom | tool | model | transcripts | TIS | " + " | ".join(m[1] for m in METRICS) + " | time s |",
             "|---|---|---|---:|---:|" + "---:|" * len(METRICS) + "---:|"]
    for r in results:
        cells = [f"{r[key]:.{digits}f}" for key, _, digits in METRICS]
        model = r["model"]
        if r.get("skipped_transcripts"):
            model += f" ({r['skipped_transcripts']} skipped, scored 0)"
        seconds = r.get("wall_s", r.get("predict_s"))
        lines.append(f"| {r['chrom']} | {r['tool']} | {model} | {r['transcripts']:,} | {r['tis']:,} | "
                     + " | ".join(cells) + f" | {bc.fmt(seconds)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    from tis_transformer.predictor.registry import held_out_model
    from tis_transformer.predictor.runner import Predictor

    names = args.data or default_data(args.model)
    predictors: dict = {}

    def predictor_for(chrom: str):
        model = args.model or held_out_model(chrom)
        if model not in predictors:
            predictors[model] = Predictor(model, device=args.device, threads=args.threads)
            report["models"][Path(predictors[model].path).name] = bc.model_info(model)
        return predictors[model]

    report: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "machine": bc.machine_info(), "models": {}, "limit": args.limit,
                    "argv": sys.argv[1:], "results": []}
    cli = None
    if args.reference and any(bc.chromosome_name(bc.chromosome_path(n)) not in
                              dict(i.split("=", 1) for i in args.reference_output) for n in names):
        cli = bc.reference_cli(args.reference_cmd)
    if args.reference:
        report["reference"] = {"cli": cli, "version": bc.reference_version(cli) if cli else "reused outputs",
                               "accelerator": "cpu"}
    tmp = tempfile.mkdtemp(prefix="tis-accuracy-")
    folder = Path(args.keep) if args.keep else Path(tmp)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            path = bc.chromosome_path(name)
            chrom = bc.chromosome_name(path)
            data = bc.load_data(name, args.limit)
            label = chrom if args.limit is None else f"{chrom} (first {len(data)})"
            print(f"[{time.strftime('%H:%M:%S')}] {chrom}: ours on {len(data)} transcripts, "
                  f"{data.tokens.size:,} nt", file=sys.stderr, flush=True)
            predictor = predictor_for(chrom)
            report["device"] = predictor.device
            ours = score_ours(predictor, data)
            model_label = predictor.path.name + seen_note(report["models"][predictor.path.name], chrom)
            report["results"].append({"chrom": label, "tool": "tis-transformer", "model": model_label, **ours})
            if args.alone and predictor.reads_isoforms:
                report["results"].append({"chrom": label, "tool": "tis-transformer --alone", "model": model_label,
                                          **score_ours(predictor, data, alone=True)})
            if args.orf_baseline:
                report["results"].append({"chrom": label, "tool": "longest-ORF rule (no learning)", "model": "-",
                                          **score_orf_rule(data)})
            if args.reference:
                ref = score_reference(args, data, chrom, folder, cli)
                report["results"].append({"chrom": label, "tool": "transcript-transformer 1.1.1",
                                          "model": f"human fold {ref['fold']}", **ref})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["duration_s"] = time.time() - started

    print(f"Accuracy on held-out chromosomes, {report['date']}; ours: "
          f"{', '.join(report['models'])} ({report.get('device', 'cpu').upper()})")
    print()
    print(markdown(report["results"]))
    print()
    print("Pooled over every nucleotide; PR AUC = average precision; top-k: k = annotated TISs; "
          "time: our in-process prediction, the reference's whole command.")
    for r in report["results"]:
        if r.get("command"):
            print(f"- {r['chrom']}, reference: `{r['command']}` ({r['wall_s']:.0f} s, "
                  f"{bc.fmt(r.get('nt_per_s'))} nt/s, peak RSS {bc.fmt(r.get('peak_rss_mb'))} MB)")
    print(f"\nDuration: {report['duration_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
