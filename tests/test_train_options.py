"""The training commands' options, listed with and without the training extra."""

import subprocess
import sys

import pytest

# the help as a predictor-only install prints it: torch, Lightning and PyYAML unimportable
WITHOUT_EXTRA = ("import sys; sys.modules.update(torch=None, lightning=None, yaml=None); "
                 "from tis_transformer.__main__ import main; sys.exit(main(sys.argv[1:]))")


def help_text(*argv, extra=True):
    code = WITHOUT_EXTRA if not extra else "import sys; from tis_transformer.__main__ import main; " \
                                           "sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", ["train", "pretrain", "crossval"])
def test_help_lists_every_option_without_the_training_extra(command):
    result = help_text(command, "--help", extra=False)
    assert result.returncode == 0, result.stderr
    assert "--max_time" in result.stdout and "--preset NAME" in result.stdout
    flat = " ".join(result.stdout.split())
    assert "training extra is not installed" in flat and "pip install torch==2.13.0" in flat
    assert "(default 0.002)" not in flat and "(default 0.001)" not in flat  # no preset read, no value shown


def test_help_shows_the_default_preset_values_with_the_extra():
    result = help_text("train", "--help")
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "trees ROUNDS" in flat and "(default 600)" in flat  # default.yaml's trees, not the option's own 0
    assert "training extra is not installed" not in flat


def test_running_without_the_training_extra_is_one_line(tmp_path):
    result = help_text("train", str(tmp_path), "a", "b", extra=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "needs the training extra" in result.stderr
