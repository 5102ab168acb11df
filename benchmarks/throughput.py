#!/usr/bin/env python3
"""Throughput and memory of ``tis-transformer impute``, side by side with the reference tool.

Inputs: a real FASTA (one shared chromosome converted to FASTA in a temporary
folder), synthetic single transcripts (random A/C/G/T, fixed seed), optional
synthetic libraries of many short records (``--many COUNTxLENGTH,...``) and the
start-up case (one short sequence given on the command line).

For each input our whole command (``tis-transformer impute FILE -o out.npy -q``)
runs as a subprocess ``--repeats`` times: median wall time (start-up included),
nucleotides per second (total nt / median wall) and peak RSS of the process
(``ru_maxrss``, as ``/usr/bin/time -v`` reports it), plus the peak PSS summed over
its process tree. In-process nt/s (a loaded ``Predictor``, start-up excluded)
is measured too. ``--reference`` runs ``transcript-transformer`` 1.1.1's CLI on
the same inputs on CPU (transcripts over 30,000 nt, which it drops, are
reported; an input made only of those is skipped). ``--check_equality``
compares the default batching with ``--max_tokens`` variations (max |Δp|).

Examples::

    python benchmarks/throughput.py --repeats 3 --reference --json throughput.json
    python benchmarks/throughput.py --limit 20 --lengths 1000 --repeats 1      # quick
    python benchmarks/throughput.py --check_equality --no_speed
    python benchmarks/throughput.py --chromosome none --lengths 600000 --many 20000x30,200000x50 --no_startup
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as bc  # noqa: E402

STARTUP_LENGTH = 120


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--chromosome", default="chrY",
                   help="shared chromosome (name in ../shared/data/GRCh38p13 or path to .npy(.gz)/.npz) "
                   "to convert to the real FASTA; 'none' to leave it out (default chrY)")
    p.add_argument("--limit", type=int, default=None, help="only the first N transcripts of the chromosome")
    p.add_argument("--lengths", default="1000,10000,30000,100000",
                   help="synthetic single-transcript lengths, comma-separated ('' for none)")
    p.add_argument("--many", default="",
                   help="synthetic libraries of many short records, COUNTxLENGTH comma-separated, e.g. "
                   "'20000x30,200000x50' (5'UTR reporter and MPRA designs; default none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic sequences")
    p.add_argument("--no_startup", "--no-startup", action="store_true",
                   help="leave out the start-up case (one short sequence on the command line)")
    p.add_argument("--repeats", type=int, default=3, help="runs per input and tool (median reported)")
    p.add_argument("--reference_repeats", "--reference-repeats", type=int, default=None,
                   help="runs of the reference tool per input (default: --repeats)")
    p.add_argument("--model", default=None, help="our model: shipped name or .onnx path (default: shipped human)")
    p.add_argument("--threads", type=int, default=None, help="passed to our --threads (default: ours)")
    p.add_argument("--max_tokens", "--max-tokens", type=int, default=None,
                   help="passed to our --max_tokens (default: ours)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="passed to our --device")
    p.add_argument("--no_in_process", "--no-in-process", action="store_true",
                   help="skip the in-process (start-up excluded) measurement")
    p.add_argument("--no_speed", "--no-speed", action="store_true",
                   help="skip the speed runs (e.g. with --check_equality alone)")
    p.add_argument("--no_pss", "--no-pss", action="store_true", help="do not poll the process tree's PSS")
    p.add_argument("--reference", action="store_true", help="also run transcript-transformer 1.1.1 (CPU)")
    p.add_argument("--reference_cmd", "--reference-cmd", default=None,
                   help="the reference's tis_transformer script (default: $TT_REFERENCE, "
                   "/work/refvenv/bin/tis_transformer, PATH)")
    p.add_argument("--fold", type=int, default=1, help="reference model fold (default 1)")
    p.add_argument("--check_equality", "--check-equality", action="store_true",
                   help="max |Δp| between the default batching and --max_tokens variations")
    p.add_argument("--equality_max_tokens", "--equality-max-tokens", default="1,4096,65536",
                   help="the --max_tokens values to compare with the default (1: one transcript per pass)")
    p.add_argument("--json", default=None, help="also write all results as JSON here")
    p.add_argument("--keep", default=None, help="keep the inputs and outputs in this folder")
    return p.parse_args(argv)


# ---------------------------------------------------------------- inputs


def build_inputs(args, folder: Path) -> list[dict]:
    inputs = []
    if args.chromosome and args.chromosome.lower() != "none":
        data = bc.load_data(args.chromosome, args.limit)
        name = bc.chromosome_name(bc.chromosome_path(args.chromosome))
        label = name if args.limit is None else f"{name} (first {len(data)})"
        path = folder / f"{name}.fa"
        count, total = bc.write_fasta(path, bc.dataset_records(data))
        inputs.append({"input": label, "kind": "fasta", "path": path, "transcripts": count, "nt": total})
    for text in filter(None, (s.strip() for s in args.lengths.split(","))):
        length = int(float(text))
        path = folder / f"synthetic_{length}.fa"
        bc.write_fasta(path, [(f"synthetic_{length}", bc.synthetic_tokens(length, args.seed))])
        label = f"synthetic {length / 1000:g} kb"
        inputs.append({"input": label, "kind": "fasta", "path": path, "transcripts": 1, "nt": length})
    for text in filter(None, (s.strip() for s in args.many.split(","))):
        count, length = (int(float(x)) for x in text.lower().split("x"))
        path = folder / f"many_{count}x{length}.fa"
        # one random stream cut into records: every record different, fixed by the seed
        tokens = bc.synthetic_tokens(count * length, args.seed).reshape(count, length)
        bc.write_fasta(path, ((f"design_{i}", t) for i, t in enumerate(tokens)))
        inputs.append({"input": f"{count:,} x {length} nt", "kind": "fasta", "path": path, "transcripts": count,
                       "nt": count * length})
    if not args.no_startup:
        tokens = bc.synthetic_tokens(STARTUP_LENGTH, args.seed)
        sequence = bc.LETTERS[tokens.astype(np.int64)].tobytes().decode()
        path = folder / "startup.fa"
        bc.write_fasta(path, [("startup", tokens)])
        inputs.append({"input": f"start-up ({STARTUP_LENGTH} nt)", "kind": "literal", "sequence": sequence,
                       "path": path, "transcripts": 1, "nt": STARTUP_LENGTH})
    return inputs


def our_command(args, item: dict, output: Path | None, max_tokens: int | None = None) -> list[str]:
    command = bc.our_cli() + ["impute"]
    command.append(item["sequence"] if item["kind"] == "literal" else str(item["path"]))
    if args.model:
        command.append(args.model)
    if output is not None:
        command += ["-o", str(output)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    max_tokens = max_tokens if max_tokens is not None else args.max_tokens
    if max_tokens is not None:
        command += ["--max_tokens", str(max_tokens)]
    if args.device:
        command += ["--device", args.device]
    return command + ["-q"]


# ---------------------------------------------------------------- runs


def run_ours(args, item: dict, folder: Path) -> dict:
    runs = []
    command = None
    for repeat in range(args.repeats):
        output = None if item["kind"] == "literal" else folder / f"ours_{repeat}.npy"
        command = our_command(args, item, output)
        runs.append(bc.measure(command, folder, folder / f"ours_{repeat}.log", poll_pss=not args.no_pss))
        if output is not None:
            check_output(output, item)
            output.unlink()
    row = {"input": item["input"], "tool": "tis-transformer", "transcripts": item["transcripts"],
           "nt": item["nt"], "command": display_command(command, item), **bc.summarize(runs)}
    row["nt_per_s"] = item["nt"] / row["wall_s_median"]
    return row


def display_command(command: list[str], item: dict) -> str:
    """The command as run, with temporary paths cut to file names and the sequence shortened."""
    shown = []
    for c in command:
        if c == item.get("sequence"):
            c = c[:12] + "..."
        elif c.startswith("/") and Path(c).name and not c.endswith(".onnx"):
            c = Path(c).name
        shown.append(c)
    return " ".join(shown)


def check_output(path: Path, item: dict) -> None:
    results = bc.read_results_npy(path)
    if len(results) != item["transcripts"]:
        raise RuntimeError(f"{path}: {len(results)} transcripts written, expected {item['transcripts']}")
    total = sum(len(p) for p in results.values())
    if total != item["nt"]:
        raise RuntimeError(f"{path}: {total} probabilities written, expected {item['nt']}")


def run_in_process(args, item: dict, predictor) -> dict:
    from tis_transformer.predictor.read import read_records

    tokens = [t for _, t in read_records(str(item["path"]))]
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        predictor.predict(tokens, predictor.isoform_index(tokens))  # as impute does, index included
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"in_process_s_median": median, "in_process_s_runs": [round(t, 3) for t in times],
            "in_process_nt_per_s": item["nt"] / median}


def run_reference(args, item: dict, folder: Path, cli: str) -> dict:
    lengths = bc.fasta_lengths(item["path"])
    kept = {k: v for k, v in lengths.items() if v <= bc.REFERENCE_MAX_LEN}
    row = {"input": item["input"], "tool": "transcript-transformer 1.1.1", "transcripts": len(kept),
           "nt": sum(kept.values()), "dropped_transcripts": len(lengths) - len(kept),
           "dropped_nt": sum(lengths.values()) - sum(kept.values())}
    if not kept:
        row["skipped"] = f"all transcripts > {bc.REFERENCE_MAX_LEN:,} nt (dropped by the reference)"
        return row
    runs = []
    repeats = args.reference_repeats if args.reference_repeats is not None else args.repeats
    for repeat in range(repeats):
        result, output = bc.run_reference(cli, item["path"], args.fold, folder / f"reference_{repeat}",
                                          poll_pss=not args.no_pss)
        runs.append(result)
        scored = bc.read_results_npy(output)
        if set(scored) != set(kept):
            raise RuntimeError(f"reference scored {len(scored)} transcripts, expected {len(kept)}")
    row.update(bc.summarize(runs))
    row["command"] = runs[-1]["command"].replace("input.fa", item["path"].name)
    row["nt_per_s"] = row["nt"] / row["wall_s_median"]
    return row


def check_equality(args, item: dict, folder: Path) -> dict:
    """max |Δp| between our default batching and each --max_tokens variation (whole CLI)."""
    base = folder / "equality_default.npy"
    bc.measure(our_command(args, item, base), folder, folder / "equality_default.log", poll_pss=False)
    reference = bc.read_results_npy(base)
    out = {"input": item["input"], "transcripts": len(reference), "variations": {}}
    for text in filter(None, (s.strip() for s in args.equality_max_tokens.split(","))):
        value = int(text)
        path = folder / f"equality_{value}.npy"
        timing = bc.measure(our_command(args, item, path, max_tokens=value), folder,
                            folder / f"equality_{value}.log", poll_pss=False)
        other = bc.read_results_npy(path)
        if set(other) != set(reference):
            raise RuntimeError(f"--max_tokens {value}: different transcripts in the output")
        delta = max(float(np.max(np.abs(other[k] - reference[k]), initial=0.0)) for k in reference)
        out["variations"][str(value)] = {"max_abs_diff": delta, "wall_s": timing["wall_s"]}
    out["max_abs_diff"] = max((v["max_abs_diff"] for v in out["variations"].values()), default=0.0)
    return out


# ---------------------------------------------------------------- report


def markdown(rows: list[dict], repeats: int) -> str:
    lines = [f"| input | tool | transcripts | nt | wall s (median of {repeats}) | nt/s | nt/s in-process "
             "| peak RSS MB | peak PSS MB (process tree) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['input']} | {r['tool']} | — | — | skipped: {r['skipped']} | — | — | — | — |")
            continue
        tool = r["tool"]
        if r.get("dropped_transcripts"):
            tool += f" ({r['dropped_transcripts']} transcripts > 30 kb dropped)"
        lines.append(
            f"| {r['input']} | {tool} | {r['transcripts']:,} | {r['nt']:,} | {r['wall_s_median']:.2f} | "
            f"{bc.fmt(r['nt_per_s'])} | {bc.fmt(r.get('in_process_nt_per_s'))} | "
            f"{bc.fmt(r['peak_rss_mb'])} | {bc.fmt(r.get('peak_tree_pss_mb'))} |")
    return "\n".join(lines)


def ratios(rows: list[dict]) -> list[dict]:
    by_input: dict[str, dict] = {}
    for r in rows:
        by_input.setdefault(r["input"], {})[r["tool"].split()[0]] = r
    out = []
    for name, pair in by_input.items():
        ours, ref = pair.get("tis-transformer"), pair.get("transcript-transformer")
        if not ours or not ref or ref.get("skipped"):
            continue
        out.append({
            "input": name,
            "speedup_nt_per_s": ours["nt_per_s"] / ref["nt_per_s"],
            "wall_ours_over_reference": ours["wall_s_median"] / ref["wall_s_median"],
            "peak_rss_ours_over_reference": ours["peak_rss_mb"] / ref["peak_rss_mb"],
        })
    return out


def ratios_markdown(items: list[dict]) -> str:
    lines = ["| input | nt/s ours ÷ reference | wall ours ÷ reference | peak RSS ours ÷ reference |",
             "|---|---:|---:|---:|"]
    for r in items:
        lines.append(f"| {r['input']} | {r['speedup_nt_per_s']:.1f}× | {r['wall_ours_over_reference']:.3f} | "
                     f"{r['peak_rss_ours_over_reference']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    started = time.time()
    report: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "machine": bc.machine_info(), "model": bc.model_info(args.model), "repeats": args.repeats,
                    "argv": sys.argv[1:]}
    cli = None
    if args.reference:
        cli = bc.reference_cli(args.reference_cmd)
        report["reference"] = {"cli": cli, "version": bc.reference_version(cli), "fold": args.fold,
                               "accelerator": "cpu"}
    keep = Path(args.keep) if args.keep else None
    with tempfile.TemporaryDirectory(prefix="tis-throughput-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = build_inputs(args, folder)
        rows: list[dict] = []
        predictor = None
        if not args.no_speed and not args.no_in_process:
            from tis_transformer.predictor.runner import Predictor

            start = time.perf_counter()
            predictor = Predictor(args.model, device=args.device or "auto", threads=args.threads or 0,
                                  max_tokens=args.max_tokens)
            report["in_process_session_s"] = time.perf_counter() - start
        for item in inputs if not args.no_speed else []:
            work = folder / ("run_" + "".join(c if c.isalnum() else "_" for c in item["input"]))
            work.mkdir(exist_ok=True)
            print(f"[{time.strftime('%H:%M:%S')}] {item['input']}: tis-transformer", file=sys.stderr, flush=True)
            row = run_ours(args, item, work)
            if predictor is not None and item["kind"] != "literal":
                row.update(run_in_process(args, item, predictor))
            rows.append(row)
            if cli:
                print(f"[{time.strftime('%H:%M:%S')}] {item['input']}: reference", file=sys.stderr, flush=True)
                rows.append(run_reference(args, item, work, cli))
        report["rows"] = rows
        report["ratios"] = ratios(rows)
        if args.check_equality:
            fasta = next((i for i in inputs if i["kind"] == "fasta"), None)
            if fasta is None:
                raise SystemExit("--check_equality needs a FASTA input (--chromosome or --lengths)")
            print(f"[{time.strftime('%H:%M:%S')}] equality check on {fasta['input']}", file=sys.stderr,
                  flush=True)
            work = folder / "equality"
            work.mkdir(exist_ok=True)
            report["equality"] = check_equality(args, fasta, work)
    report["duration_s"] = time.time() - started

    print(f"Throughput, {report['date']}, {report['machine']['cores']} cores ({report['machine']['cpu']}), "
          f"model {report['model']['path']}")
    if rows:
        print()
        print(markdown(rows, args.repeats))
    if report["ratios"]:
        print()
        print(ratios_markdown(report["ratios"]))
    if "equality" in report:
        eq = report["equality"]
        print()
        print(f"Batching check on {eq['input']} ({eq['transcripts']} transcripts): max |Δp| vs default "
              + ", ".join(f"--max_tokens {k}: {v['max_abs_diff']:.2e}" for k, v in eq["variations"].items()))
    print()
    print("Commands:")
    for r in rows:
        if r.get("command"):
            print(f"- {r['input']}, {r['tool']}: `{r['command']}`")
    print(f"\nDuration: {report['duration_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
