"""What the benchmark scripts measure besides time (imported by them: they run from this folder)."""

from __future__ import annotations

import threading

import psutil


class PeakRss:
    """Samples this process's resident memory (ru_maxrss would report the parent's peak: it survives
    fork and exec on Linux)."""

    def __init__(self, interval: float = 0.02):
        self.peak = 0
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def stop(self) -> float:
        """The peak in MiB."""
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._proc.memory_info().rss) / 2**20
