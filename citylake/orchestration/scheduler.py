"""Airflow's scheduler, DAG processor and API server on the citylake DAGs (``citylake airflow``).

:class:`AirflowServices` prepares an Airflow home under ``$CITYLAKE_HOME/airflow`` (absolute paths,
the DAGs folder of :func:`citylake.orchestration.run.dags_folder`), migrates the PostgreSQL metadata
DB (``airflow db migrate``, a no-op at head), then starts ``airflow scheduler``, ``airflow
dag-processor`` and ``airflow api-server`` as child processes with the LocalExecutor. Each child is
the leader of its own process group and writes to ``$CITYLAKE_HOME/airflow/logs/<component>.log``;
:meth:`AirflowServices.stop` ends the groups (SIGTERM, then SIGKILL after a grace period) and every
descendant it saw, so no task process or Spark JVM outlives the command.

Why a server database: the LocalExecutor runs tasks in parallel processes beside the scheduler, the
DAG processor and the API server, all writing the metadata DB at once; Airflow supports that on
PostgreSQL (and MySQL), not on SQLite, which serialises writers and is for ``dag.test()`` only.

Authentication is Airflow 3's SimpleAuthManager with generated passwords: user ``admin`` (role
admin), whose password the API server writes once to
``$CITYLAKE_HOME/airflow/simple_auth_manager_passwords.json.generated`` (made readable by its owner
only). The API server listens on 127.0.0.1 unless told otherwise.

DAG pause state: Airflow creates new DAGs paused. Once every DAG file is parsed, the DAGs chosen by
``unpause`` are unpaused through the REST API (:func:`dags_to_unpause`): by default the
asset-triggered ones (``promote_*``, ``build_*``), so an ingestion run cascades through the gate to
the libraries. Clock-scheduled DAGs (``ingest_*``, ``report_usage``) keep their state: unpausing one
makes the scheduler run its latest scheduled time at once (catchup is off, so that one only), which
an engineer should decide. The citylake process itself never imports Airflow.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from citylake.orchestration.run import airflow_environment
from citylake.settings import Home

log = logging.getLogger(__name__)

COMPONENTS = ("scheduler", "dag-processor", "api-server")
DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
# Tasks at once across all DAGs (LocalExecutor worker processes). A Spark build and two extractions
# fit a small machine; raise it on a bigger one.
DEFAULT_PARALLELISM = 4
ADMIN = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
# The unpause policies besides DAG id patterns (fnmatch).
UNPAUSE_ASSETS, UNPAUSE_ALL, UNPAUSE_NONE = "assets", "all", "none"
# AssetTriggeredTimetable.summary: how the REST API names a DAG scheduled on assets.
ASSET_SCHEDULE = "Asset"
STOP_GRACE_SECONDS = 30
POLL_SECONDS = 1.0

# A line of a component's log: (component, line without its newline).
LineCallback = Callable[[str, str], None]


class SchedulerError(RuntimeError):
    """A component failed to start, died, or the API refused a request; the message names the log."""


def require_server_db(url: str | None) -> str:
    """The metadata DB URL if it is PostgreSQL; a clear :class:`ValueError` otherwise (SQLite above all)."""
    example = "postgresql+psycopg://postgres@127.0.0.1:5432/citylake_airflow"
    if not url:
        raise ValueError(f"citylake airflow needs a PostgreSQL metadata database: --metadata-db {example} "
                         "(or $AIRFLOW__DATABASE__SQL_ALCHEMY_CONN); create the database first")
    scheme = url.partition(":")[0].split("+", 1)[0]
    if scheme == "sqlite":
        raise ValueError("the LocalExecutor cannot run on a SQLite metadata database (one writer at a time; "
                         f"Airflow supports it for dag.test() only): give --metadata-db {example}")
    if scheme != "postgresql":
        raise ValueError(f"metadata database scheme {scheme!r} is not supported by citylake airflow; "
                         f"use PostgreSQL, e.g. --metadata-db {example}")
    return url


def masked_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _local_address(host: str) -> str:
    """Where this machine's processes reach the API server bound to ``host``."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def services_environment(home: Home, metadata_db: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                         parallelism: int = DEFAULT_PARALLELISM) -> dict[str, str]:
    """The environment of the three components: :func:`citylake.orchestration.run.airflow_environment`
    plus the LocalExecutor, the execution API of this API server and the SimpleAuthManager."""
    env = airflow_environment(home, require_server_db(metadata_db))
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        # Task processes report to the execution API of this API server (Airflow's default is
        # localhost:8080, wrong for any other port).
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{_local_address(host)}:{port}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home.airflow / PASSWORDS_FILE),
        # The scheduler's log server (task logs of running tasks) next to the API server's port, so that
        # two homes on one machine do not both take Airflow's fixed 8793.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port + 1),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "False",
    })
    # An engineer may list more users (e.g. "admin:admin,li:viewer"); there is always an admin.
    users = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS") or f"{ADMIN}:admin"
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = users
    return env


def admin_user(env: dict[str, str]) -> str:
    """The first user of role admin in the SimpleAuthManager's user list."""
    for entry in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","):
        name, _, role = entry.strip().partition(":")
        if role.strip().lower() == "admin":
            return name.strip()
    raise ValueError("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS names no user of role admin")


class AirflowApi:
    """A small client of Airflow's REST API v2 (the API server's ``/api/v2``), with a SimpleAuthManager
    token (``POST /auth/token``, or ``GET`` when every user is admin)."""

    def __init__(self, base_url: str, username: str | None = None, password: str | None = None,
                 timeout: float = 30):
        self.base_url, self.username, self.password, self.timeout = base_url.rstrip("/"), username, password, timeout
        self._token: str | None = None

    @classmethod
    def for_home(cls, home: Home, base_url: str, username: str = ADMIN) -> AirflowApi:
        """Log in as ``username`` with the password the API server generated in the home."""
        path = home.airflow / PASSWORDS_FILE
        passwords = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return cls(base_url, username, passwords.get(username))

    def _open(self, request: urllib.request.Request) -> Any:
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def token(self) -> str:
        if self._token is None:
            url = f"{self.base_url}/auth/token"
            if self.password is None:
                request = urllib.request.Request(url, method="GET")
            else:
                body = json.dumps({"username": self.username, "password": self.password}).encode()
                request = urllib.request.Request(url, data=body, method="POST",
                                                 headers={"Content-Type": "application/json"})
            self._token = self._open(request)["access_token"]
        return self._token

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """``method`` on ``/api/v2/<path>``; the decoded JSON answer. HTTP errors raise SchedulerError."""
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            request = urllib.request.Request(
                f"{self.base_url}/api/v2/{path.lstrip('/')}{query}", data=data, method=method,
                headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"})
            try:
                return self._open(request)
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 1:  # an expired token: log in again once
                    self._token = None
                    continue
                detail = exc.read().decode("utf-8", errors="replace")[:500]
                raise SchedulerError(f"Airflow API {method} {path}: HTTP {exc.code} {detail}") from exc
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def dags(self, tag: str = "citylake") -> list[dict[str, Any]]:
        """Every DAG with ``tag``, all pages."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.get("dags", tags=tag, limit=100, offset=len(found))
            found += page["dags"]
            if not page["dags"] or len(found) >= page["total_entries"]:
                return found

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, logical_date: str | None = None, conf: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        """A manual run of ``dag_id`` (without ``logical_date``: none, like an asset-triggered run)."""
        return self.request("POST", f"dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": conf or {}})

    def run_due(self, dag_id: str) -> dict[str, Any]:
        """Run a paused clock-scheduled DAG now, once: a manual run for its due logical date, then unpause it.

        Unpausing alone makes the scheduler create the run of the latest scheduled time (catchup is
        off); a manual run without that date would come on top of it. Holding the date, the manual run
        is the one the scheduler finds there, and it moves on to the next scheduled time."""
        due = self.get(f"dags/{dag_id}")["next_dagrun_logical_date"]
        run = self.trigger(dag_id, logical_date=due)
        self.set_paused(dag_id, False)
        return run


def health(base_url: str, timeout: float = 5) -> dict[str, Any] | None:
    """The API server's ``/api/v2/monitor/health`` (no login needed), or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/api/v2/monitor/health", timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def _healthy(report: dict[str, Any] | None) -> bool:
    return bool(report) and all((report.get(part) or {}).get("status") == "healthy"
                                for part in ("metadatabase", "scheduler", "dag_processor"))


def dags_to_unpause(dags: Iterable[dict[str, Any]], policy: Sequence[str]) -> list[str]:
    """The paused DAGs (REST API ``DAGResponse`` dicts) that ``policy`` unpauses: ``assets`` the
    asset-triggered ones, ``all`` every one, ``none`` none, anything else a DAG id pattern (fnmatch)."""
    chosen = []
    for dag in dags:
        if not dag["is_paused"]:
            continue
        for rule in policy:
            if (rule == UNPAUSE_ALL or (rule == UNPAUSE_ASSETS and dag.get("timetable_summary") == ASSET_SCHEDULE)
                    or (rule not in (UNPAUSE_ASSETS, UNPAUSE_NONE) and fnmatch.fnmatchcase(dag["dag_id"], rule))):
                chosen.append(dag["dag_id"])
                break
    return sorted(chosen)


def dag_files(folder: Path) -> set[str]:
    """Names of the files the DAG processor parses in ``folder`` (Airflow's safe mode: the file
    mentions both "airflow" and "dag")."""
    names = set()
    for path in folder.glob("*.py"):
        text = path.read_bytes().lower()
        if b"airflow" in text and b"dag" in text:
            names.add(path.name)
    return names


@dataclass
class AirflowServices:
    """The three Airflow components on one citylake home (module doc). Use as a context manager, or
    :meth:`start` and :meth:`stop` in a ``finally``."""

    home: Home
    metadata_db: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    parallelism: int = DEFAULT_PARALLELISM
    unpause: Sequence[str] = (UNPAUSE_ASSETS,)
    on_line: LineCallback | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _readers: list[threading.Thread] = field(default_factory=list)
    _seen: dict[int, psutil.Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Absolute: every component and task process must find the same home whatever its cwd.
        self.home = Home(self.home.root.resolve())
        self.env = services_environment(self.home, self.metadata_db, host=self.host, port=self.port,
                                        parallelism=self.parallelism)
        self.dags = Path(self.env["AIRFLOW__CORE__DAGS_FOLDER"])

    @property
    def logs(self) -> Path:
        return self.home.airflow / "logs"

    @property
    def url(self) -> str:
        return f"http://{_local_address(self.host)}:{self.port}"

    @property
    def passwords_file(self) -> Path:
        return self.home.airflow / PASSWORDS_FILE

    def __enter__(self) -> AirflowServices:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def migrate(self) -> float:
        """``airflow db migrate`` on the metadata DB (also writes the home's airflow.cfg and its keys
        once, before the components read them); the seconds it took."""
        self.logs.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.logs / "migrate.log", "w", encoding="utf-8") as out:
            done = subprocess.run(self._airflow("db", "migrate"), env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise SchedulerError(f"airflow db migrate on {masked_url(self.metadata_db)} failed "
                                 f"(exit {done.returncode}):\n{_tail(self.logs / 'migrate.log')}")
        # airflow.cfg holds the Fernet key, the API secret and the JWT secret: its owner's only.
        (self.home.airflow / "airflow.cfg").chmod(0o600)
        return time.perf_counter() - started

    def start(self) -> None:
        """Migrate, then start the three components (returns at once; :meth:`wait_ready` waits)."""
        self.migrate()
        commands = {"scheduler": self._airflow("scheduler"), "dag-processor": self._airflow("dag-processor"),
                    "api-server": self._airflow("api-server", "--host", self.host, "--port", str(self.port))}
        try:
            for name in COMPONENTS:
                # Its own session and process group: Ctrl-C on the terminal reaches this process only,
                # which stops the components in order, and the group is what stop() ends.
                process = subprocess.Popen(commands[name], env=self.env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, start_new_session=True)
                self.processes[name] = process
                reader = threading.Thread(target=self._copy_log, args=(name, process), daemon=True,
                                          name=f"log-{name}")
                reader.start()
                self._readers.append(reader)
        except BaseException:
            self.stop()
            raise

    def _copy_log(self, name: str, process: subprocess.Popen) -> None:
        with open(self.logs / f"{name}.log", "a", encoding="utf-8") as out:
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                out.write(line + "\n")
                out.flush()
                if self.on_line:
                    self.on_line(name, line)

    def check_alive(self) -> None:
        """Raise :class:`SchedulerError` naming the component that exited, and its log."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise SchedulerError(f"airflow {name} exited (code {process.returncode}); "
                                     f"log: {self.logs / (name + '.log')}\n{_tail(self.logs / (name + '.log'))}")

    def wait_ready(self, timeout: float = 300) -> float:
        """Wait until the API server reports the metadata DB, the scheduler and the DAG processor healthy
        and the admin can log in; the seconds waited."""
        started = time.perf_counter()
        while True:
            self.check_alive()
            if _healthy(health(self.url)) and (self.passwords_file.exists() or self._all_admins()):
                break
            if time.perf_counter() - started > timeout:
                raise SchedulerError(f"Airflow was not healthy within {timeout:.0f} s: {health(self.url)}; "
                                     f"logs in {self.logs}")
            time.sleep(POLL_SECONDS)
        if self.passwords_file.exists():
            self.passwords_file.chmod(0o600)
        return time.perf_counter() - started

    def _all_admins(self) -> bool:
        return self.env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() == "true"

    def api(self) -> AirflowApi:
        """A REST API client logged in as the admin user."""
        return AirflowApi.for_home(self.home, self.url, admin_user(self.env))

    def wait_parsed(self, api: AirflowApi, timeout: float = 300) -> list[dict[str, Any]]:
        """Wait until every DAG file of the DAGs folder has its DAGs (or its import error) in the
        metadata DB; the citylake DAGs."""
        expected = dag_files(self.dags)
        started = time.perf_counter()
        while True:
            self.check_alive()
            dags = api.dags()
            errors = api.get("importErrors", limit=100)["import_errors"]
            seen = {Path(d["fileloc"]).name for d in dags} | {Path(e["filename"]).name for e in errors}
            if expected <= seen:
                for error in errors:
                    log.warning("DAG file %s failed to import (see the Airflow UI)", error["filename"])
                return dags
            if time.perf_counter() - started > timeout:
                raise SchedulerError(f"the DAG processor did not parse {sorted(expected - seen)} within "
                                     f"{timeout:.0f} s; log: {self.logs / 'dag-processor.log'}")
            time.sleep(2 * POLL_SECONDS)

    def apply_unpause(self, api: AirflowApi, dags: list[dict[str, Any]]) -> list[str]:
        """Unpause the DAGs the policy chooses (:func:`dags_to_unpause`); their ids."""
        chosen = dags_to_unpause(dags, self.unpause)
        for dag_id in chosen:
            api.set_paused(dag_id, False)
        return chosen

    def _remember_descendants(self) -> None:
        for process in self.processes.values():
            try:
                for child in psutil.Process(process.pid).children(recursive=True):
                    self._seen.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass

    def watch(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: check that every component lives (SchedulerError if one died) and note
        their descendants (task processes), which stop() ends too."""
        while not stop.wait(POLL_SECONDS):
            self.check_alive()
            self._remember_descendants()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> list[int]:
        """End every component: SIGTERM to its process group, SIGKILL to what is left after ``grace``
        seconds (groups and every descendant seen). The pids that needed SIGKILL."""
        self._remember_descendants()
        running = {name: p for name, p in self.processes.items() if p.poll() is None}
        for process in running.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
        killed = []
        for process in self.processes.values():
            if process.poll() is None:
                killed.append(process.pid)
            _signal_group(process.pid, signal.SIGKILL)  # anything left in the group
            process.wait()
        for pid, child in self._seen.items():
            try:
                if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                    child.kill()
                    killed.append(pid)
            except psutil.NoSuchProcess:
                pass
        for reader in self._readers:
            reader.join(timeout=5)
        if killed:
            log.warning("killed %d Airflow process(es) that did not stop within %.0f s", len(killed), grace)
        return killed

    def pids(self) -> list[int]:
        """Every live process of the components: the components and their descendants."""
        self._remember_descendants()
        return sorted({p.pid for p in self.processes.values() if p.poll() is None}
                      | {pid for pid, c in self._seen.items() if c.is_running()})


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the component is its group's leader (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
