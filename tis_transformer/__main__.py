"""Command-line interface: ``tis-transformer <command> ...``.

The predictor commands (``impute``, ``models``) load only numpy and
onnxruntime; the training commands import torch when they run.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__

TRAIN_EXTRA_HINT = ("this command needs the training extra: "
                    "pip install torch==2.13.0 && pip install 'tis-transformer[train]'")


def _impute_parser(sub) -> None:
    p = sub.add_parser("impute", help="predict TIS probabilities for every nucleotide",
                       description="Predict a TIS probability for every nucleotide of each transcript.")
    p.add_argument("input", nargs="?", help="a nucleotide sequence, a FASTA file (.fa/.fasta/.fna, gzip or "
                   "not) or an original-format .npy; none with --genome")
    p.add_argument("model", nargs="?", default=None,
                   help="ONNX model file or shipped model name (default: the shipped human model)")
    p.add_argument("-o", "--output", action="append", metavar="[FORMAT:]PATH",
                   help="output file; the format follows its suffix (.npy, .tsv, .gff3, .bed) or a "
                   "FORMAT: prefix (npy, tsv, gff3, bed, positions). Repeat for several outputs of one "
                   "run. Default: INPUT stem + .npy for files, the site table on stdout for a sequence")
    genome = p.add_argument_group("genome mode", "transcripts from a genome and its annotation; ORFs in genome "
                                  "coordinates (-o .tsv, .bed (BED12), .gtf, .gff3)")
    genome.add_argument("--genome", metavar="GENOME.fa", help="genome FASTA (plain, gzip or bgzip)")
    genome.add_argument("--annotation", metavar="ANNOTATION.gtf|.gff3",
                        help="GTF or GFF3 whose exon features make the transcripts")
    genome.add_argument("--biotypes", metavar="B1,B2", help="predict only transcripts of these biotypes "
                        "(default: all)")
    p.add_argument("--format", choices=["npy", "tsv", "gff3", "bed", "positions", "gtf"],
                   help="output format when one output is given (positions: every nucleotide's "
                   "probability as a table)")
    sites = p.add_mutually_exclusive_group()
    sites.add_argument("--threshold", type=float, default=None,
                       help="report sites with probability >= THRESHOLD (default 0.5)")
    sites.add_argument("--top_k", type=int, default=None, help="report the K best sites per transcript")
    p.add_argument("--alone", action="store_true",
                   help="score each transcript as if it were the only one in the input. By default the "
                   "shipped models compare each start codon with the same start in the input's other "
                   "transcripts (isoforms of a gene), which helps most on whole transcriptomes")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: CUDA when onnxruntime-gpu sees a GPU, else CPU (default auto)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    p.add_argument("--max_tokens", type=int, default=None,
                   help="padded nucleotides per batch (default: chosen for the device)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or log lines")


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on annotated transcripts (ROC/PR AUC, top-k)",
                       description="Pooled ROC AUC, PR AUC (all positions and ATG only) and top-k "
                       "accuracy of a model on annotated transcripts, one row per data file.")
    p.add_argument("model", help="an ONNX model (file or shipped name) or a Lightning .ckpt")
    p.add_argument("data", nargs="+", help="annotated data files (.npz from prepare, or original .npy/.npy.gz)")
    p.add_argument("--json", help="also write the metrics as JSON here")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")


def _prepare_parser(sub) -> None:
    p = sub.add_parser("prepare", help="convert training data into a compact .npz dataset",
                       description="Write a pickle-free .npz dataset from an original .npy(.gz) file, "
                       "or from a FASTA whose headers carry CDS:start-end (GENCODE style) or with a "
                       "TSV of transcript_id<TAB>TIS position (1-based).")
    p.add_argument("input", help="original .npy/.npy.gz, or FASTA")
    p.add_argument("output", help="output .npz")
    p.add_argument("--tis_table", help="TSV of transcript_id<TAB>position (1-based) for a FASTA input")


def _export_parser(sub) -> None:
    p = sub.add_parser("export", help="export a trained checkpoint to ONNX with its metadata",
                       description="Export a TIS checkpoint to an ONNX model (dynamic batch and length) "
                       "with metadata, and check parity with PyTorch on the given transcripts.")
    p.add_argument("checkpoint", help="Lightning checkpoint of a TIS model")
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    p.add_argument("--name", default=None, help="model name stored in the metadata")
    p.add_argument("--description", default="", help="free text stored in the metadata")
    p.add_argument("--parity_data", default=None,
                   help="data file whose transcripts are used for the parity check")
    p.add_argument("--parity_transcripts", type=int, default=8)
    p.add_argument("--metrics", default=None, help="JSON of held-out metrics to store in the metadata")


def build_parser(train_options: bool = False) -> argparse.ArgumentParser:
    """The argument parser.

    Parameters
    ----------
    train_options : bool
        Add the options of ``pretrain`` and ``train``, which imports torch;
        left off for every other command so that predicting never does.
    """
    parser = argparse.ArgumentParser(
        prog="tis-transformer",
        description="Translation initiation sites on transcripts, from sequence alone.")
    parser.add_argument("--version", action="version", version=f"tis-transformer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _impute_parser(sub)
    sub.add_parser("models", help="list the shipped models and their metadata")
    _evaluate_parser(sub)
    _prepare_parser(sub)
    for task, text in (("pretrain", "masked-language-model pretraining (train extra)"),
                       ("train", "train the per-nucleotide TIS classifier (train extra)")):
        p = sub.add_parser(task, help=text, description=text.capitalize() + ". VAL_SET and TEST_SET "
                           "name files in DATA_PATH; every other file there is trained on.")
        if train_options:
            try:
                from .train import add_arguments
            except ImportError as error:
                raise SystemExit(f"tis-transformer: error: {TRAIN_EXTRA_HINT} ({error})")
            add_arguments(p, task)
    _export_parser(sub)
    return parser


def _configure_logging(quiet: bool) -> None:
    # our own logger only: libraries (onnxscript, Lightning) keep their own settings
    log = logging.getLogger("tis_transformer")
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("tis-transformer: %(message)s"))
        log.addHandler(handler)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(train_options=argv[:1] in (["pretrain"], ["train"])).parse_args(argv)
    _configure_logging(quiet=getattr(args, "quiet", False))
    try:
        if args.command == "impute":
            from .impute import run
            return run(args)
        if args.command == "models":
            from .models import print_models
            return print_models()
        if args.command == "evaluate":
            from .evaluate import run
            return run(args)
        if args.command == "prepare":
            from .prepare import run
            return run(args)
        if args.command == "export":
            try:
                from .export import run
            except ImportError as error:
                raise SystemExit(f"tis-transformer: error: {TRAIN_EXTRA_HINT} ({error})")
            return run(args)
        from .train import run
        return run(args, args.command)
    except KeyboardInterrupt:
        print("tis-transformer: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        # user-facing errors are one line; programming errors keep their traceback
        print(f"tis-transformer: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
