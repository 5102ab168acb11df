"""The run's counts as MultiQC custom content (``-o multiqc:NAME_mqc.tsv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from tis_transformer import __version__

__all__ = ["multiqc_sample", "multiqc_table"]


def multiqc_table(counts: Mapping[str, float], sample: str) -> str:
    """MultiQC custom content: a one-row table of the run's counts.

    MultiQC finds files named ``*_mqc.tsv`` and reads the ``#`` lines as the
    section's configuration; the row is the sample.
    """
    header = ["# id: 'tis_transformer'",
              "# section_name: 'TIS Transformer'",
              "# description: 'Translation initiation sites predicted by tis-transformer "
              f"{__version__}'",
              "# plot_type: 'table'",
              "# pconfig:",
              "#     id: 'tis_transformer_table'",
              "#     namespace: 'TIS Transformer'"]
    names = list(counts)
    rows = ["Sample\t" + "\t".join(names),
            sample.replace("\t", " ") + "\t" + "\t".join(_number(counts[n]) for n in names)]
    return "\n".join(header + rows) + "\n"


def _number(value: float) -> str:
    """Counts in full (1097011, not 1.09701e+06); other values to 6 significant digits."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def multiqc_sample(path: str | None) -> str:
    """The sample name of a MultiQC file: ``NAME_mqc.tsv`` gives NAME."""
    name = Path(path).name if path else ""
    for ending in ("_mqc.tsv", "_mqc.txt", ".tsv", ".txt"):
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return name or "tis-transformer"
