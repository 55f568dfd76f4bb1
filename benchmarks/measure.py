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


class TreeRss(PeakRss):
    """Peak resident memory of this process and all its descendants summed: the Airflow children that
    run the DAGs, and the Spark JVM and Python workers under them."""

    def __init__(self, interval: float = 0.2):
        super().__init__(interval)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, self._tree())

    def _tree(self) -> int:
        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass  # a child that ended between the listing and the reading
        return total

    def stop(self) -> float:
        """The peak in MiB."""
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._tree()) / 2**20
