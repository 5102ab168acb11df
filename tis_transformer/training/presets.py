"""Named recipes (``presets/NAME.yaml``) and config files, and the settings of a run resolved from them.

A preset or config file is a YAML mapping of option names
(``tis_transformer.training.options``) to values. A run's settings are, in
increasing precedence: the option defaults (the original architecture), the
preset (``default`` unless ``--preset`` names another; ``performer`` for
MLM pretraining), the ``--config``
file, and the flags typed on the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tis_transformer.predictor.read import InputError
from tis_transformer.training.options import all_option_names, field_type, option_fields, optional

__all__ = ["PRESETS_DIR", "preset_names", "read_preset", "read_config", "resolve", "DEFAULT_PRESET"]

PRESETS_DIR = Path(__file__).with_name("presets")
DEFAULT_PRESET = "default"
# MLM pretraining needs transformer layers, which the default recipe leaves out
DEFAULT_PRESETS = {"train": DEFAULT_PRESET, "pretrain": "performer"}


def preset_names() -> list[str]:
    """The presets shipped with the package."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def read_preset(name: str) -> dict:
    """The options a shipped preset sets."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"no preset named {name!r} (have {', '.join(preset_names())})")
    return read_config(path, what=f"preset {name}")


def read_config(path: str | Path, what: str | None = None) -> dict:
    """Read and check a YAML mapping of options.

    Raises
    ------
    InputError
        When the file cannot be read or parsed, is not a mapping, or holds an
        unknown option or a value of the wrong type.
    """
    import yaml

    what = what or str(path)
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise InputError(f"{what}: {error.strerror or error}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(f"{what}: not valid YAML{line}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(f"{what}: expected a mapping of option: value, not a {type(values).__name__}")
    known = all_option_names()
    for key, value in values.items():
        if key not in known:
            raise InputError(f"{what}: unknown option {key!r}")
        _check_value(key, value, what)
    return values


def _check_value(key: str, value, what: str) -> None:
    option = option_fields("train").get(key) or option_fields("pretrain")[key]
    kind = field_type(option)
    if value is None and optional(option):
        return
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}[kind](value)
    if not ok:
        # YAML 1.1 reads 00:00:08:00 as a number (base 60) and 2e-3 (no dot) as a string
        hint = {str: " (quote it, e.g. '00:00:08:00')", float: " (write 0.002 or 2.0e-3)"}.get(kind, "")
        raise InputError(f"{what}: {key} must be a {kind.__name__}, not {value!r}{hint}")
    choices = option.metadata.get("choices")
    if choices and value not in choices:
        raise InputError(f"{what}: {key} must be one of {', '.join(map(str, choices))}, not {value!r}")


def resolve(task: str, typed: argparse.Namespace) -> argparse.Namespace:
    """Settings of a run: option defaults < preset < config file < typed flags.

    Parameters
    ----------
    task : str
        ``train`` or ``pretrain``; options of the other task in a preset or
        config file are left out.
    typed : argparse.Namespace
        The parsed command line, holding only the options typed (their flags
        have no defaults) plus ``preset``, ``config`` and the positionals.

    Returns
    -------
    argparse.Namespace
        Every option of ``task`` set, plus everything else of ``typed``;
        ``preset_values`` and ``config_values`` record where values came from.
    """
    fields = option_fields(task)
    values = {name: option.default for name, option in fields.items()}
    preset_name = getattr(typed, "preset", None) or DEFAULT_PRESETS.get(task, DEFAULT_PRESET)
    preset = read_preset(preset_name)
    config = read_config(typed.config) if getattr(typed, "config", None) else {}
    for layer in (preset, config):
        values.update({k: v for k, v in layer.items() if k in fields})
    values.update({k: v for k, v in vars(typed).items() if k in fields})
    if values.get("name") is None:
        values["name"] = task
    for name, value in values.items():  # a float option given as 2 in YAML is 2.0
        if field_type(fields[name]) is float and isinstance(value, int):
            values[name] = float(value)
    out = argparse.Namespace(**{**vars(typed), **values})
    out.preset = preset_name
    out.typed = sorted(k for k in vars(typed) if k in fields)
    return out


def settings(args: argparse.Namespace, task: str) -> dict:
    """The resolved options of a run as a plain dict (for the model card)."""
    return {name: getattr(args, name) for name in option_fields(task)}
