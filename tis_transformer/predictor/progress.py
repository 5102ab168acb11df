"""A progress line on standard error while transcripts are predicted.

On a terminal one line is redrawn every second (transcripts done of the
total, nucleotides per second, time left); anywhere else (a log file, a
Galaxy job, a pipe) a plain line is written every ``PLAIN_INTERVAL`` seconds,
with no carriage returns. Results arrive in chunks, so a clock thread, not
the arrival of results, keeps the line moving.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO

__all__ = ["ClockedLine", "Progress"]

PLAIN_INTERVAL = 10.0
_BAR_WIDTH = 24


class ClockedLine:
    """A status line on a stream, kept moving by a clock thread between ``__enter__`` and ``__exit__``.

    Subclasses define ``_tick`` (the thread's loop); ``interactive`` lines are
    redrawn in place, other streams get plain lines.
    """

    thread_name = "tis-transformer-progress"

    def __init__(self, enabled: bool, stream: IO | None = None, interactive: bool | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._drawn = False

    def __enter__(self):
        self.started = time.perf_counter()
        if self.enabled:
            self._thread = threading.Thread(target=self._tick, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def _stop_clock(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _tick(self) -> None:
        raise NotImplementedError


class Progress(ClockedLine):
    """Counts transcripts and nucleotides as they pass and shows them.

    Parameters
    ----------
    enabled : bool
        Show anything at all.
    total : dict, optional
        ``{"transcripts": n, "nucleotides": n}`` of the whole input when a
        first pass has counted them: the line then has a bar and a time left.
    stream : file, optional
        Where to write (default standard error).
    interactive : bool, optional
        Redraw one line (default: whether ``stream`` is a terminal).
    """

    def __init__(self, enabled: bool, total: dict | None = None, stream: IO | None = None,
                 interactive: bool | None = None):
        super().__init__(enabled, stream, interactive)
        self.total = total
        self.records = 0
        self.nucleotides = 0

    def __exit__(self, kind, error, traceback) -> None:
        self._stop_clock()
        if self.enabled and kind is None and self.records:
            self._show(final=True)
        elif self._drawn and self.interactive:
            print(file=self.stream, flush=True)  # leave the redrawn line before an error message

    def track(self, results: Iterable[tuple]) -> Iterator[tuple]:
        """Pass ``(id, tokens, probabilities)`` results through, counting them."""
        for item in results:
            with self._lock:
                self.records += 1
                self.nucleotides += len(item[1])
            yield item

    def line(self, now: float | None = None) -> str:
        """The progress text at time ``now``."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            records, nucleotides = self.records, self.nucleotides
        elapsed = max(now - self.started, 1e-9)
        rate = nucleotides / elapsed
        parts = []
        if self.total and self.total.get("transcripts"):
            fraction = min(nucleotides / max(self.total["nucleotides"], 1), 1.0)
            filled = int(round(fraction * _BAR_WIDTH))
            parts.append(f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] "
                         f"{records:,}/{self.total['transcripts']:,} transcripts")
            left = (self.total["nucleotides"] - nucleotides) / rate if nucleotides else None
            timing = f"{_clock(elapsed)} elapsed, " + (f"{_clock(left)} left" if left is not None else "time left ?")
        else:
            parts.append(f"{records:,} transcripts")
            timing = f"{_clock(elapsed)} elapsed"
        parts.append(f"{nucleotides:,} nt, {rate:,.0f} nt/s, {timing}")
        return "tis-transformer: " + ", ".join(parts)

    def _tick(self) -> None:
        interval = 1.0 if self.interactive else PLAIN_INTERVAL
        while not self._stop.wait(interval):
            self._show(final=False)

    def _show(self, final: bool) -> None:
        text = self.line()
        if self.interactive:
            # pad over a longer earlier line; the final line ends the redrawing
            print("\r" + text.ljust(100), end="\n" if final else "", file=self.stream, flush=True)
            self._drawn = not final
        else:
            print(text, file=self.stream, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
