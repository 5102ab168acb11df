"""Helpers shared by the benchmark scripts: data, FASTA files, measured runs, the reference tool.

Not part of the package; the scripts put this folder on ``sys.path`` themselves.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from tis_transformer.predictor.input_files import data_name  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data" / "GRCh38p13"
# transcript-transformer 1.1.1 human folds: the fold whose test set holds each chromosome
REFERENCE_FOLDS = {"chr13": 3, "chr18": 4, "chr20": 1, "chrY": 1}
# its FASTA mode keeps transcripts of at most this many nucleotides (its --max_seq_len default)
REFERENCE_MAX_LEN = 30_000
LETTERS = np.frombuffer(b"ATCGN", dtype=np.uint8)


# ---------------------------------------------------------------- data and FASTA


def chromosome_path(name: str) -> Path:
    """A data file given as a path, or as a chromosome name in the shared data folder."""
    path = Path(name)
    if path.exists():
        return path
    for candidate in (SHARED_DATA / f"{name}.npy.gz", SHARED_DATA / f"{name}.npy", SHARED_DATA / name):
        if candidate.exists():
            return candidate
    raise SystemExit(f"{name}: no such file, nor {SHARED_DATA}/{name}.npy.gz")


def chromosome_name(path: Path) -> str:
    return data_name(path)


def load_data(name: str, limit: int | None = None):
    """The annotated transcripts of one chromosome file (first ``limit`` of them)."""
    from tis_transformer.training.datasets import from_arrays, load_dataset

    data = load_dataset(chromosome_path(name))
    if limit is not None and limit < len(data):
        pairs = [data.transcript(i) for i in range(limit)]
        data = from_arrays([str(i) for i in data.ids[:limit]], [t for t, _ in pairs], [y for _, y in pairs])
    return data


def write_fasta(path: Path, records) -> tuple[int, int]:
    """Write ``(id, tokens)`` records as FASTA (60 letters a line); returns (transcripts, nt)."""
    count = total = 0
    with open(path, "w") as handle:
        for name, tokens in records:
            sequence = LETTERS[np.asarray(tokens, dtype=np.int64)].tobytes().decode()
            handle.write(f">{name}\n")
            for start in range(0, len(sequence), 60):
                handle.write(sequence[start : start + 60] + "\n")
            count += 1
            total += len(sequence)
    return count, total


def dataset_records(data):
    for i in range(len(data)):
        yield str(data.ids[i]), data.transcript(i)[0]


def synthetic_tokens(length: int, seed: int = 0) -> np.ndarray:
    """Random A/C/G/T tokens of one transcript, reproducible from ``seed`` and ``length``."""
    rng = np.random.default_rng([seed, length])
    return rng.integers(0, 4, size=length, dtype=np.uint8)


def fasta_lengths(path: Path) -> dict[str, int]:
    """Length of every record of a FASTA, by id (first word of the header)."""
    lengths: dict[str, int] = {}
    name = None
    with open(path) as handle:
        for line in handle:
            if line.startswith(">"):
                name = line[1:].split()[0] if line[1:].split() else ""
                lengths[name] = 0
            elif name is not None:
                lengths[name] += len(line.strip())
    return lengths


def read_results_npy(path: Path) -> dict[str, np.ndarray]:
    """Per-nucleotide probabilities by transcript id from a results ``.npy``.

    Reads both layouts: ours (rows ``['>id', int64 tokens, float32 probabilities]``)
    and the reference tool's FASTA-mode output (rows ``[id, float32 probabilities, ...]``).
    The files are outputs of the two tools run here, so unpickling them is trusted.
    """
    rows = np.load(path, allow_pickle=True)
    out = {}
    for row in rows:
        name = str(row[0])
        name = name[1:] if name.startswith(">") else name
        floats = [x for x in row[1:] if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)]
        if not floats:
            raise ValueError(f"{path}: no probability array in the row of {name}")
        out[name] = np.asarray(floats[0], dtype=np.float32)
    return out


# ---------------------------------------------------------------- measured runs


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of a process and all its descendants (shared pages split fairly)."""
    children = _children_map()
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def measure(command: list[str], cwd: Path, log: Path, poll_pss: bool = True,
            stdin_text: str | None = None) -> dict:
    """Run a command to its end and measure it.

    Returns wall seconds (start-up included), the peak RSS of its largest process
    (``ru_maxrss`` as ``/usr/bin/time`` reports it) and, when
    polled, the peak summed PSS of its process tree (every 0.05 s, after 2 s every 0.25 s).
    """
    peak_pss = [0]
    done = threading.Event()
    # A child's ru_maxrss starts from the memory of the process that forked it (Linux
    # carries the pre-exec high-water mark over), so a small launcher forks the command:
    # GNU time, whose own child is measured, else this process (a warning is recorded).
    timer = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    time_file = Path(str(log) + ".time")
    launch = [timer, "-f", "%M", "-o", str(time_file), *command] if timer else command
    with open(log, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(launch, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)

        def poll():
            # every 0.05 s for the first 2 s (short runs), then every 0.25 s
            while not done.wait(0.05 if time.perf_counter() - start < 2.0 else 0.25):
                peak_pss[0] = max(peak_pss[0], _tree_pss_kb(process.pid))

        poller = threading.Thread(target=poll, daemon=True)
        if poll_pss:
            poller.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        if poll_pss:
            poller.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    peak_kb = usage.ru_maxrss
    if timer and process.returncode == 0:
        peak_kb = int(time_file.read_text().split()[-1])
    result = {
        "wall_s": wall,
        "peak_rss_mb": peak_kb / 1024.0,
        "rss_source": "GNU time %M" if timer else "wait4 ru_maxrss (includes the launcher's own memory)",
        "returncode": process.returncode,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
    }
    if poll_pss:
        result["peak_tree_pss_mb"] = peak_pss[0] / 1024.0 if peak_pss[0] else None
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"command failed ({process.returncode}): {' '.join(command)}\n{tail}")
    return result


def summarize(runs: list[dict]) -> dict:
    """Median wall time, and the largest peak memory over the runs."""
    pss = [r["peak_tree_pss_mb"] for r in runs if r.get("peak_tree_pss_mb")]
    return {
        "wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "wall_s_runs": [round(r["wall_s"], 3) for r in runs],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "peak_tree_pss_mb": max(pss) if pss else None,
        "cpu_s_median": statistics.median(r["user_s"] + r["sys_s"] for r in runs),
    }


# ---------------------------------------------------------------- the two tools


def our_cli() -> list[str]:
    """Our console script of the running interpreter (no pyenv shim in front of it)."""
    beside = Path(sys.executable).parent / "tis-transformer"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tis-transformer")
    if found:
        return [found]
    return [sys.executable, "-m", "tis_transformer"]


def reference_cli(given: str | None) -> str:
    """The reference tool's ``tis_transformer`` script: --reference_cmd, $TT_REFERENCE, /work/refvenv, PATH."""
    for candidate in (given, os.environ.get("TT_REFERENCE"), "/work/refvenv/bin/tis_transformer",
                      shutil.which("tis_transformer")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit("reference tool not found: install transcript-transformer==1.1.1 in a venv "
                     "(see benchmarks/README.md) and pass --reference_cmd VENV/bin/tis_transformer")


def reference_version(cli: str) -> str:
    python = Path(cli).parent / "python"
    if not python.exists():
        return "unknown"
    code = ("import importlib.metadata as m; print(m.version('transcript-transformer'), "
            "m.version('torch'))")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
        tt, torch = out.stdout.split()
        return f"transcript-transformer {tt}, torch {torch}"
    except Exception:
        return "unknown"


def run_reference(cli: str, fasta: Path, fold: int, workdir: Path, poll_pss: bool = True,
                  accelerator: str = "cpu") -> tuple[dict, Path]:
    """Run the reference tool's FASTA mode on a copy of ``fasta`` in a fresh folder.

    It writes an index beside its input and its outputs (``<prefix>.npy``, ``.csv``,
    ``lightning_logs/``) into the working folder, so each run gets its own folder.
    Returns the measurement and the path of its per-nucleotide ``.npy``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    local = workdir / "input.fa"
    shutil.copyfile(fasta, local)
    command = [cli, "--fasta", local.name, "--model", "human", "--fold", str(fold),
               "--accelerator", accelerator, "--out_prefix", "reference"]
    result = measure(command, workdir, workdir / "log.txt", poll_pss=poll_pss)
    result["command"] = " ".join(command)
    return result, workdir / "reference.npy"


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import onnxruntime

    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": memory, "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__}


def model_info(model: str | None) -> dict:
    """Path, size and metadata of the model our predictor will load."""
    from tis_transformer.predictor.registry import resolve_model

    path = resolve_model(model)
    info = {"path": str(path), "file_size": path.stat().st_size}
    meta_path = path.with_suffix(".json")
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        for key in ("name", "trained_on", "validated_on", "held_out", "sha256", "parameters", "exported", "package_version"):
            if key in meta:
                info[key] = meta[key]
    return info


def fmt(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"
