"""The progress display of a training run: stages, time left, plain lines off a terminal."""

import io
import time

import pytest

pytest.importorskip("lightning")

from tis_transformer.training.run_progress import RunProgress  # noqa: E402


def test_time_left_adds_the_current_stage_to_the_estimates_still_to_come():
    progress = RunProgress({"reading": 10.0, "prefit": None, "Performer": 480.0, "export": 60.0}, enabled=False)
    progress.stage("reading")
    assert progress.left() is None  # the prefit has no estimate yet
    progress.estimate("prefit", 100.0)
    now = progress.stage_started
    assert progress.left(now + 4) == pytest.approx(6 + 100 + 480 + 60)
    progress.stage("prefit")
    progress.stage("Performer")
    progress.update(0.25, "epoch 3")
    assert progress.left(progress.stage_started + 100) == pytest.approx(300 + 60)  # 100 s for a quarter
    assert "[3/4] Performer, 25%, epoch 3" in progress.line()
    assert set(progress.taken) == {"reading", "prefit"}


def test_plain_lines_off_a_terminal_and_a_summary_at_the_end():
    stream = io.StringIO()
    with RunProgress({"reading": 1.0, "export": 1.0}, stream=stream, interactive=False) as progress:
        progress.stage("reading")
        time.sleep(0.01)
        progress.stage("export")
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("tis-transformer: [1/2] reading") and "left" in lines[0]
    assert lines[1].startswith("tis-transformer: [2/2] export")
    assert lines[-1].startswith("tis-transformer: done in") and "reading 0:00" in lines[-1]


def test_an_error_leaves_the_redrawn_line_and_no_summary():
    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        with RunProgress({"reading": 1.0}, stream=stream, interactive=True) as progress:
            progress.stage("reading")
            progress._print(progress.line())
            raise RuntimeError("stop")
    assert stream.getvalue().startswith("\rtis-transformer: [1/1] reading") and stream.getvalue().endswith("\n")
    assert "done in" not in stream.getvalue()
