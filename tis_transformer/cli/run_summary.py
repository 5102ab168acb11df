"""What both modes of ``impute`` say about a run: the site rule, the closing log lines, and the refusal to
write over an input."""

from __future__ import annotations

import logging

from tis_transformer import __version__

log = logging.getLogger("tis_transformer")


def site_rule(threshold: float | None, top_k: int | None) -> str:
    rule = []
    if top_k is not None:
        rule.append(f"the {top_k} best per transcript")
    if threshold is not None or top_k is None:
        rule.append(f"probability >= {0.5 if threshold is None else threshold:g}")
    return "start codons (ATG or near-cognate) with " + " and ".join(rule)


def closing_lines(targets: list, counts: dict, args, seconds: float) -> None:
    written = ", ".join(f"{path} ({fmt})" for path, fmt in targets if path is not None)
    sites = counts["sites"]
    log.info("%d transcripts, %s nt in %.1f s%s", counts["transcripts"], f"{counts['nucleotides']:,}", seconds,
             f" -> {written}" if written else "")
    rule = site_rule(args.threshold, args.top_k).replace("start codons (ATG or near-cognate) with ", "")
    log.info("%d sites reported in %d of %d transcripts (%s)", sites, counts["transcripts_with_sites"],
             counts["transcripts"], rule)
    if sites == 0 and counts["transcripts"] and args.top_k is None:
        log.info("no start reached the threshold; --top_k 1 reports each transcript's best start whatever its "
                 "score")


def run_header(model: str, compare: bool, across: str, sources: dict, threshold: float | None,
               top_k: int | None) -> dict:
    """The comment lines that open every table output: tool version, model, mode, inputs and site rule.

    ``across`` names what the isoform comparison spans ("input", "annotation"); ``sources``: ``{name: what}``
    of the inputs read.
    """
    return {"tis-transformer": __version__, "model": model,
            "mode": f"isoform comparison across the {across}" if compare else "each transcript alone (--alone)",
            **sources, "sites": site_rule(threshold, top_k)}
