"""Progress of a whole training run on standard error: its stages, the time each took, and the time left.

On a terminal one line is redrawn every second; anywhere else (a log file, a
batch job) a plain line is written when a stage starts or ends and every
``PLAIN_INTERVAL`` seconds between. The time left adds the current stage's
remaining time to estimates of the stages still to come; an estimate is
replaced by the measured time as soon as a stage is done, and the Performer's
by its ``max_time`` or its measured step rate.
"""

from __future__ import annotations

import time
from typing import IO

import lightning as L

from tis_transformer.predictor.progress import ClockedLine, _clock

__all__ = ["RunProgress", "PerformerProgress", "PLAIN_INTERVAL"]

PLAIN_INTERVAL = 30.0


class RunProgress(ClockedLine):
    """Stages of a run with an estimate of seconds each.

    Parameters
    ----------
    stages : dict
        ``{name: estimated seconds or None}`` in running order.
    enabled : bool
        Show anything at all.
    stream : file, optional
        Where to write (default standard error).
    interactive : bool, optional
        Redraw one line (default: whether ``stream`` is a terminal).
    """

    thread_name = "tis-transformer-run"

    def __init__(self, stages: dict, enabled: bool = True, stream: IO | None = None,
                 interactive: bool | None = None):
        self.estimates = dict(stages)
        self.taken: dict[str, float] = {}
        super().__init__(enabled, stream, interactive)
        self.current: str | None = None
        self.fraction: float | None = None  # of the current stage, when it knows
        self.detail = ""
        self.stage_started = self.started

    def __exit__(self, kind, error, traceback) -> None:
        self._stop_clock()
        self._finish_stage()
        if self.enabled and kind is None:
            self._print(f"tis-transformer: done in {_clock(time.perf_counter() - self.started)} ("
                        + ", ".join(f"{k} {_clock(v)}" for k, v in self.taken.items()) + ")")
        elif self._drawn:
            print(file=self.stream, flush=True)  # leave the redrawn line before an error message

    def estimate(self, stage: str, seconds: float | None) -> None:
        """Set or replace a stage's estimate."""
        with self._lock:
            self.estimates[stage] = seconds

    def stage(self, name: str) -> None:
        """Start stage ``name`` (ending the one before)."""
        self._finish_stage()
        with self._lock:
            self.current, self.fraction, self.detail = name, None, ""
            self.stage_started = time.perf_counter()
        if self.enabled and not self.interactive:
            self._print(self.line())

    def update(self, fraction: float | None = None, detail: str = "") -> None:
        """How far the current stage is (0 to 1), and a few words about it."""
        with self._lock:
            self.fraction = None if fraction is None else min(max(fraction, 0.0), 1.0)
            self.detail = detail

    def _finish_stage(self) -> None:
        with self._lock:
            if self.current is not None:
                self.taken[self.current] = time.perf_counter() - self.stage_started
                self.current = None

    def left(self, now: float | None = None) -> float | None:
        """Estimated seconds to the end of the run; None when a stage still to run has no estimate."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            names = list(self.estimates)
            current, fraction = self.current, self.fraction
            in_stage = now - self.stage_started
            later = names[names.index(current) + 1:] if current in names else \
                [n for n in names if n not in self.taken]
            estimate = self.estimates.get(current) if current else 0.0
        if current is None:
            here = 0.0
        elif fraction and fraction > 0.02:
            here = in_stage * (1 - fraction) / fraction
        elif estimate is not None:
            here = max(estimate - in_stage, 0.0)
        else:
            return None
        rest = [self.estimates[n] for n in later]
        return None if any(r is None for r in rest) else here + sum(rest)

    def line(self, now: float | None = None) -> str:
        """The progress text."""
        now = time.perf_counter() if now is None else now
        names = list(self.estimates)
        with self._lock:
            current, fraction, detail = self.current, self.fraction, self.detail
        number = names.index(current) + 1 if current in names else len(self.taken)
        parts = [f"[{number}/{len(names)}] {current or 'done'}"]
        if fraction is not None:
            parts.append(f"{fraction:.0%}")
        if detail:
            parts.append(detail)
        left = self.left(now)
        parts.append(f"{_clock(now - self.started)} elapsed, "
                     + (f"about {_clock(left)} left" if left is not None else "time left ?"))
        return "tis-transformer: " + ", ".join(parts)

    def _tick(self) -> None:
        interval = 1.0 if self.interactive else PLAIN_INTERVAL
        while not self._stop.wait(interval):
            self._print(self.line())

    def _print(self, text: str) -> None:
        if self.interactive:
            print("\r" + text.ljust(110), end="", file=self.stream, flush=True)
            self._drawn = True
            if text.startswith("tis-transformer: done"):
                print(file=self.stream, flush=True)
                self._drawn = False
        else:
            print(text, file=self.stream, flush=True)


class PerformerProgress(L.Callback):
    """Tells a ``RunProgress`` how far the Performer's training is: steps, epochs and elapsed ``max_time``."""

    def __init__(self, progress: RunProgress, total_steps: int | None, max_seconds: float | None):
        self.progress = progress
        self.total_steps = total_steps
        self.max_seconds = max_seconds
        self.started = time.perf_counter()

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        fractions = []
        if self.total_steps:
            fractions.append(trainer.global_step / self.total_steps)
        if self.max_seconds:
            fractions.append((time.perf_counter() - self.started) / self.max_seconds)
        best = trainer.callback_metrics.get("val_pr_auc")
        detail = f"epoch {trainer.current_epoch}, step {trainer.global_step}"
        if best is not None:
            detail += f", val PR AUC {float(best):.4f}"
        self.progress.update(max(fractions) if fractions else None, detail)
