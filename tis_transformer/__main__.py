"""Command-line interface: ``tis-transformer <command> ...``.

The predictor commands (``impute``, ``models``) load only numpy and
onnxruntime; the training commands import torch when they run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator

from tis_transformer import __version__
from tis_transformer.predictor.read import InputError

TRAIN_EXTRA_HINT = ("this command needs the training extra: "
                    "pip install torch==2.13.0 && pip install 'tis-transformer[train]'")


IMPUTE_EXAMPLES = """\
examples:
  tis-transformer impute transcripts.fa                  sites to transcripts.tsv
  tis-transformer impute transcripts.fa.gz -o sites.tsv -o sites.gff3 -o all.npy
  tis-transformer impute transcripts.fa --top_k 1 -o -   each transcript's best start, on stdout
  zcat transcripts.fa.gz | tis-transformer impute - -o sites.bed
  tis-transformer impute ATGGCCTAA...                    a sequence typed on the command line
  tis-transformer impute transcripts.fa my_model.onnx    a model exported from your own training
  tis-transformer impute transcripts.fa fold*.onnx       an ensemble: the mean probability of the models

reading the scores:
  Every nucleotide gets the probability that translation starts there. The
  model is trained on annotated human TISs, about 1 position in 4,700, so
  probabilities are small almost everywhere; 0.5 marks a strong candidate.
  The site table lists start codons (ATG or one letter from it, such as CTG)
  at or above --threshold (default 0.5); --top_k 1 gives each transcript's
  most likely start whatever its score. By default each start is compared
  with the same start in the input's other transcripts (isoforms), so give
  whole transcriptomes or all isoforms of your genes in one input; --alone
  scores every transcript by itself.
"""


def _count(minimum: int, what: str):
    """An argparse type: an integer of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what}, not {value}")
        return value
    return parse


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, not {text}")
    return value


def _impute_parser(sub) -> None:
    p = sub.add_parser("impute", help="predict TIS probabilities for every nucleotide",
                       description="Predict a TIS probability for every nucleotide of each transcript, "
                       "and list the likely start sites with their ORFs.",
                       epilog=IMPUTE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="a FASTA file (.fa/.fasta/.fna, gzip or not), an original-format "
                   ".npy, - for FASTA on standard input, or a sequence (A, C, G, T, U, N); none with --genome")
    p.add_argument("model", nargs="*", default=[],
                   help="ONNX model file or shipped model name (default: the shipped human model). "
                   "Several make an ensemble: each runs on its own inputs and the per-nucleotide "
                   "probabilities are averaged (mean of probabilities, not of logits), e.g. the K "
                   "models of a cross-validation")
    p.add_argument("-o", "--output", action="append", metavar="[FORMAT:]PATH",
                   help="output file, - for standard output; the format follows its suffix (.tsv, .gff3, "
                   ".bed, .npy; .gtf in genome mode) or a FORMAT: prefix (tsv, gff3, bed, npy, positions, multiqc: "
                   "MultiQC custom content, also chosen by a name ending _mqc.tsv). Repeat for several "
                   "outputs of one run. Default: the site table in INPUT_STEM.tsv for a file, on "
                   "standard output for a sequence or standard input")
    genome = p.add_argument_group("genome mode", "transcripts from a genome and its annotation; ORFs in genome "
                                  "coordinates (-o .tsv, .bed (BED12), .gtf, .gff3)")
    genome.add_argument("--genome", metavar="GENOME.fa", help="genome FASTA (plain, gzip or bgzip)")
    genome.add_argument("--annotation", metavar="ANNOTATION.gtf|.gff3",
                        help="GTF or GFF3 whose exon features make the transcripts")
    genome.add_argument("--biotypes", metavar="B1,B2", help="predict only transcripts of these biotypes "
                        "(default: all)")
    p.add_argument("--format", choices=["npy", "tsv", "gff3", "bed", "positions", "multiqc", "gtf"],
                   help="output format when one output is given (positions: every nucleotide's "
                   "probability as a table; gtf: genome mode only)")
    sites = p.add_mutually_exclusive_group()
    sites.add_argument("--threshold", type=_probability, default=None,
                       help="report start codons with probability >= THRESHOLD (default 0.5)")
    sites.add_argument("--top_k", type=_count(1, "must be at least 1"), default=None,
                       help="report the K best start codons per transcript")
    p.add_argument("--alone", action="store_true",
                   help="score each transcript as if it were the only one in the input. By default the "
                   "shipped models compare each start codon with the same start in the input's other "
                   "transcripts (isoforms of a gene), which helps most on whole transcriptomes")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: CUDA when onnxruntime-gpu sees a GPU, else CPU (default auto)")
    p.add_argument("--threads", type=_count(0, "must be 0 (all cores) or more"), default=0,
                   help="CPU threads (default 0: all cores)")
    p.add_argument("--max_tokens", type=_count(1, "must be at least 1"), default=None,
                   help="padded nucleotides per batch (default: chosen for the device)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or log lines")
    p.add_argument("--report", metavar="HTML", help="also write a self-contained HTML report: the run, "
                   "distributions, and tracks of the best transcripts")
    p.add_argument("--report_top", type=_count(0, "must be 0 or more"), default=20, metavar="N",
                   help="draw the N best-scoring transcripts in the report (default 20)")
    p.add_argument("--plot", action="append", default=[], metavar="ID",
                   help="also draw this transcript in the report (repeatable)")


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on annotated transcripts (ROC/PR AUC, top-k, top-1)",
                       description="Pooled ROC AUC, PR AUC (all positions and ATG only), top-k accuracy (k = "
                       "annotated TISs) and top-1 (the share of coding transcripts whose best-scored position is "
                       "their TIS) of a model on annotated transcripts, one row per data file. Each file is one "
                       "input, its transcripts each other's isoforms, as a FASTA given to impute; --alone scores "
                       "each transcript by itself. Score a shipped fold model on the chromosome it held out (e.g. "
                       "human_chr13 on chr13): the others were trained on it.")
    p.add_argument("model", help="an ONNX model (file or shipped name) or a Lightning .ckpt")
    p.add_argument("data", nargs="+", help="annotated data files (.npz from prepare, or original .npy/.npy.gz)")
    p.add_argument("--json", help="also write the metrics as JSON here")
    p.add_argument("--alone", action="store_true", help="score each transcript alone, as impute --alone does "
                   "(with the model's alone variant when it has one)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")


PREPARE_EXAMPLES = """\
examples:
  tis-transformer prepare chr1.npy.gz chr1.npz
  tis-transformer prepare transcripts.fa data.npz --tis_table tis.tsv
  tis-transformer prepare --genome genome.fa.gz --annotation genes.gtf data/
                                    data/chr1.npz, data/chr2.npz, ... for train data/ chr2.npz chr3.npz
"""


def _prepare_parser(sub) -> None:
    p = sub.add_parser("prepare", help="convert training data into compact .npz datasets",
                       usage="%(prog)s [-h] INPUT OUTPUT.npz [--tis_table TSV]\n"
                       "       %(prog)s [-h] --genome GENOME.fa --annotation ANNOTATION.gtf|.gff3 OUT_DIR "
                       "[--biotypes B1,B2]",
                       description="Write a pickle-free .npz dataset from an original .npy(.gz) file, "
                       "or from a FASTA whose headers carry CDS:start-end (GENCODE style) or with a "
                       "TSV of transcript_id<TAB>TIS position (1-based). With --genome and --annotation, "
                       "write one CHROMOSOME.npz per genome sequence into OUT_DIR: every transcript of the "
                       "annotation, coding or not, with the first nucleotide of its annotated CDS labelled "
                       "as its TIS.", epilog=PREPARE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="original .npy/.npy.gz, or FASTA; with --genome: OUT_DIR, a new "
                   "folder or one without .npz/.npy files")
    p.add_argument("output", nargs="?", help="output .npz (none with --genome)")
    p.add_argument("--tis_table", help="TSV of transcript_id<TAB>position (1-based) for a FASTA input")
    genome = p.add_argument_group("from a genome", "transcripts built from an annotation's exon features, "
                                  "as impute --genome builds them")
    genome.add_argument("--genome", metavar="GENOME.fa", help="genome FASTA (plain, gzip or bgzip)")
    genome.add_argument("--annotation", metavar="ANNOTATION.gtf|.gff3",
                        help="GTF or GFF3 whose exon features make the transcripts and whose CDS gives the TIS")
    genome.add_argument("--biotypes", metavar="B1,B2", help="only transcripts of these biotypes (default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="no log lines")


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


class _OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors in one line with the tool's prefix, as every other error; ``--help`` still shows the usage."""

    def error(self, message: str):
        self.exit(2, f"tis-transformer: error: {message} (see '{self.prog} --help')\n")


def build_parser(train_options: bool = False) -> argparse.ArgumentParser:
    """The argument parser.

    Parameters
    ----------
    train_options : bool
        Add the options of ``pretrain`` and ``train``, which imports torch;
        left off for every other command so that predicting never does.
    """
    parser = _OneLineErrorParser(
        prog="tis-transformer",
        description="Translation initiation sites on transcripts, from sequence alone.")
    parser.add_argument("--version", action="version", version=f"tis-transformer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _impute_parser(sub)
    sub.add_parser("models", help="list the shipped models and their metadata")
    _evaluate_parser(sub)
    _prepare_parser(sub)
    recipes = {"pretrain": "Without options, pretrain runs the transformer layers of --preset performer; train "
                           "--transfer_checkpoint starts from its checkpoint.",
               "train": "Without options, train runs the recipe of the shipped models (--preset default); "
                        "-o MODEL.onnx ends with a model for impute."}
    for task, text in (("pretrain", "masked-language-model pretraining (train extra)"),
                       ("train", "train the per-nucleotide TIS classifier (train extra)")):
        p = sub.add_parser(task, help=text, description=text[0].upper() + text[1:] + ". VAL_SET and TEST_SET "
                           "name files in DATA_PATH or paths to files elsewhere; every other file of DATA_PATH is "
                           "trained on. " + recipes[task])
        if train_options:
            from tis_transformer.cli.train_options import add_arguments
            add_arguments(p, task)
    p = sub.add_parser("crossval", help="cross-validate: K models, each file predicted by one that never saw it "
                       "(train extra)", description="Group the data files into K folds of about equal annotated "
                       "TIS count; for each, train a model on the other files (validating on the smallest of them) "
                       "and predict the fold's files with it. Writes OUT_DIR/predictions/FILE.tsv (impute's site "
                       "table), OUT_DIR/metrics.tsv (held-out metrics per file) and each fold's model. Takes the "
                       "options of train.")
    if train_options:
        from tis_transformer.cli.train_options import add_crossval_arguments
        add_crossval_arguments(p, _count(2, "must be at least 2: each fold is scored by a model trained on the others"))
    _export_parser(sub)
    return parser


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a message is logged.

    A handler holding the stream of the first ``main()`` call would write to a
    closed stream once a caller (pytest's capture, a notebook) replaces it.
    """

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _configure_logging(quiet: bool) -> None:
    # our own logger only: libraries (onnxscript, Lightning) keep their own settings
    log = logging.getLogger("tis_transformer")
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    if not log.handlers:
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("tis-transformer: %(message)s"))
        log.addHandler(handler)
    log.propagate = False


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so that no partial output is left."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP (a timeout, a batch scheduler, a closed terminal) into an exception."""
    handled = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_terminated) for s in handled}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(train_options=argv[:1] in (["pretrain"], ["train"], ["crossval"]))
    args, unparsed = parser.parse_known_args(argv)
    if unparsed and args.command == "impute" and not any(a.startswith("-") and a != "-" for a in unparsed):
        # argparse takes positionals only before the first option: models named after one are models too
        args.model = [*args.model, *unparsed]
    elif unparsed:
        parser.exit(2, f"tis-transformer: error: unrecognized arguments: {' '.join(unparsed)} "
                       f"(see 'tis-transformer {args.command} --help')\n")
    _configure_logging(quiet=getattr(args, "quiet", False))
    try:
        with _signals_unwind():
            return _dispatch(args)
    except KeyboardInterrupt:
        print("tis-transformer: interrupted", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"tis-transformer: stopped by signal {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as a tool killed by SIGPIPE does
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except InputError as error:
        # user-facing errors are one line; any other exception is a bug and keeps its traceback
        print(f"tis-transformer: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"tis-transformer: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1


# command -> (module, function, needs the training extra); each handler takes the parsed arguments
COMMANDS = {
    "impute": ("cli.impute", "run", False),
    "models": ("cli.models", "run", False),
    "evaluate": ("cli.evaluate", "run", False),
    "prepare": ("cli.prepare", "run", False),
    "export": ("cli.export", "run", True),
    "pretrain": ("cli.train", "run", True),
    "train": ("cli.train", "run", True),
    "crossval": ("cli.crossval", "run", True),
}


def _dispatch(args) -> int:
    module_name, function, needs_train = COMMANDS[args.command]
    try:
        module = importlib.import_module(f".{module_name}", __package__)
    except ImportError as error:
        if not needs_train:
            raise
        raise SystemExit(f"tis-transformer: error: {TRAIN_EXTRA_HINT} ({error})") from None
    return getattr(module, function)(args)


if __name__ == "__main__":
    sys.exit(main())
