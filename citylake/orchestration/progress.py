"""Live progress of ``citylake run`` and ``citylake demo``: every DAG task as it runs.

citylake.orchestration.run reports each task's start and end and each DAG run's end as they happen
(its ``on_progress`` callback). On a terminal they are a live table on stderr (rich): per DAG and
task, its state, the rows it handled and its elapsed time, the running ones ticking; elsewhere (CI,
a log file) one log line per finished task and DAG run, so a long run is never silent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

log = logging.getLogger(__name__)

_STYLES = {"running": "yellow", "success": "green", "failed": "bold red"}


@dataclass
class _Task:
    dag_id: str
    task_id: str
    state: str
    started: float
    ended: float | None = None
    rows: int | None = None

    def elapsed(self, now: float) -> float:
        return (self.ended or now) - self.started


class RunProgress:
    """A callback for citylake.orchestration.run's ``on_progress``; use it as a context manager."""

    def __init__(self, title: str, console: Console | None = None):
        self.title = title
        self.console = console or Console(stderr=True)
        self.tasks: dict[tuple[str, str], _Task] = {}
        self.live: Live | None = None

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal:
            self.live = Live(console=self.console, get_renderable=self.table, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc_info)

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "task":
            key = (event["dag_id"], event["task_id"])
            task = self.tasks.get(key)
            if event["state"] == "running" or task is None:
                task = self.tasks[key] = _Task(event["dag_id"], event["task_id"], event["state"], event["at"])
            if event["state"] != "running":
                task.state, task.ended = event["state"], event["at"]
                if self.live is None:
                    log.info("%s.%s %s in %.1f s", task.dag_id, task.task_id, task.state, task.elapsed(task.ended))
        elif event["event"] == "dag":
            for task_id, rows in event["rows"].items():
                if (event["dag_id"], task_id) in self.tasks:
                    self.tasks[event["dag_id"], task_id].rows = rows
            if self.live is None:
                total = sum(r for r in event["rows"].values() if r is not None)
                log.info("%s: run %s in %.1f s, %s rows", event["dag_id"], event["state"], event["seconds"],
                         f"{total:,}")

    def table(self) -> Table:
        now = time.time()
        table = Table(title=self.title, title_justify="left", expand=False)
        for name, justify in (("DAG", "left"), ("task", "left"), ("state", "left"), ("rows", "right"),
                              ("elapsed", "right")):
            table.add_column(name, justify=justify)
        for task in self.tasks.values():
            table.add_row(task.dag_id, task.task_id, f"[{_STYLES.get(task.state, '')}]{task.state}",
                          "" if task.rows is None else f"{task.rows:,}", f"{task.elapsed(now):.1f} s")
        return table
