"""Peak resident memory of the running process, split into anonymous and file-backed pages.

Standard library only: the benchmark's peers import it from their own environments.
"""
from __future__ import annotations

import threading
from pathlib import Path


class PeakMemory:
    """Samples this process's RssAnon / RssFile from /proc every 50 ms; ``peaks`` in bytes."""

    def __init__(self):
        self.peaks = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in self.peaks:
                self.peaks[key] = max(self.peaks[key], int(value.split()[0]) * 1024)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
