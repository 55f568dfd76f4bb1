"""A standalone Spark cluster (one master, one worker) started from the pyspark install, for the
deployment tests: the processes ``$SPARK_HOME/sbin/start-master.sh`` and ``start-worker.sh`` run
in a Spark distribution (the pip package ships ``bin/spark-class`` but not those scripts)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyspark

SPARK_HOME = Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    master_url: str
    webui_url: str
    processes: list[subprocess.Popen]
    #: Processes of the daemons' groups still alive after the cluster stopped (should be none).
    left: list[str] = field(default_factory=list)

    def status(self) -> dict:
        """The master's JSON status: workers, active and completed applications."""
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=10) as response:
            return json.load(response)


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(root / "logs"), "SPARK_WORKER_DIR": str(root / "work"),
            # The daemons are small: the master and worker JVMs themselves.
            "SPARK_DAEMON_MEMORY": "256m"}


def _start(root: Path, name: str, args: list[str]) -> subprocess.Popen:
    log = open(root / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it until it ends
    return subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), *args], env=_env(root), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait(check, what: str, timeout: float, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Spark daemon ended (exit {process.returncode}) while waiting for {what}")
        with suppress(OSError, ValueError):
            if check():
                return
        time.sleep(0.5)
    raise TimeoutError(f"no {what} after {timeout:.0f} s")


def stop(processes: list[subprocess.Popen], timeout: float = 30) -> list[str]:
    """SIGTERM each daemon's process group (executors and their Python workers included) and wait
    until the groups are empty; what was still running after ``timeout`` is SIGKILLed and returned."""
    groups = [p.pid for p in processes]
    for group in groups:
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(max(deadline - time.monotonic(), 0.1))
    while (left := _alive_in(groups)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for group in groups:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    for process in processes:
        process.wait(10)
    return left


def _alive_in(groups: list[int]) -> list[str]:
    return [f"{p.info['pid']} {p.info['name']}" for p in psutil.process_iter(["pid", "name", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE and _group_of(p) in groups]


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None


@contextmanager
def standalone_cluster(root: Path, cores: int = 1, memory: str = "1g", timeout: float = 90) -> Iterator[Cluster]:
    """Master and one worker on free ports of 127.0.0.1, logs and work folders under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    port, webui, worker_webui = free_port(), free_port(), free_port()
    master_url = f"spark://127.0.0.1:{port}"
    processes = [_start(root, "master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                         "--port", str(port), "--webui-port", str(webui)])]
    cluster = Cluster(master_url, f"http://127.0.0.1:{webui}", processes)
    try:
        _wait(lambda: cluster.status()["status"] == "ALIVE", "master", timeout, processes)
        processes.append(_start(root, "worker", [
            "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(cores),
            "--memory", memory, "--webui-port", str(worker_webui), "--work-dir", str(root / "work"), master_url]))
        _wait(lambda: cluster.status()["aliveworkers"] == 1, "registered worker", timeout, processes)
        yield cluster
    finally:
        cluster.left = stop(processes)
