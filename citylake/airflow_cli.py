"""``citylake airflow``: run Airflow's scheduler, DAG processor and API server on the citylake DAGs
(:mod:`citylake.orchestration.scheduler`) until Ctrl-C or SIGTERM, then stop all of them.

    citylake airflow --metadata-db postgresql+psycopg://postgres@127.0.0.1:5432/citylake_airflow
                     [--host 127.0.0.1] [--port 8080] [--parallelism 4] [--unpause assets|all|none|GLOB …]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time

from citylake.settings import Home

log = logging.getLogger("citylake")

# Lines of the components' logs echoed on the terminal (all of them are in the log files): errors,
# but not a task's stderr, which the scheduler logs at error level and the task's own log holds.
_ALARM = re.compile(r"\[(error|critical)\b|\b(ERROR|CRITICAL)\b|^Traceback")
_TASK_OUTPUT = "[task.stderr]"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``airflow`` on the ``citylake`` parser."""
    from citylake.cli import _positive  # (citylake.cli is loaded when it registers this command)
    from citylake.orchestration import scheduler as s

    cmd = sub.add_parser(
        "airflow", help="run Airflow's scheduler, DAG processor and API server on the citylake DAGs (LocalExecutor)",
        description="Prepare the Airflow home under $CITYLAKE_HOME/airflow, migrate the PostgreSQL metadata DB, "
                    "start airflow scheduler, dag-processor and api-server (LocalExecutor) and keep them running "
                    "until Ctrl-C or SIGTERM. Logs: $CITYLAKE_HOME/airflow/logs/<component>.log.")
    cmd.add_argument("--metadata-db", metavar="URL", default=os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
                     help="SQLAlchemy URL of the PostgreSQL metadata DB (default $AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)")
    cmd.add_argument("--host", default=s.DEFAULT_HOST,
                     help=f"address the API server and UI listen on (default {s.DEFAULT_HOST}: this machine only)")
    cmd.add_argument("--port", type=_positive, default=s.DEFAULT_PORT, help=f"default {s.DEFAULT_PORT}")
    cmd.add_argument("--parallelism", type=_positive, default=s.DEFAULT_PARALLELISM,
                     help=f"task instances running at once (LocalExecutor workers; default {s.DEFAULT_PARALLELISM})")
    cmd.add_argument("--unpause", action="append", metavar="WHICH",
                     help="DAGs to unpause once parsed (repeatable): 'assets' the asset-triggered ones (default), "
                          "'all' (clock-scheduled DAGs then run their latest scheduled time once, catchup being "
                          "off), 'none', or a DAG id pattern such as 'ingest_gongan'")


def run(args: argparse.Namespace) -> int:
    from citylake.orchestration.scheduler import AirflowServices, masked_url

    home = Home.from_env()

    def echo(component: str, line: str) -> None:
        if args.verbose or (_ALARM.search(line) and not line.endswith(_TASK_OUTPUT)):
            print(f"[{component}] {line}", file=sys.stderr, flush=True)

    services = AirflowServices(home, args.metadata_db, host=args.host, port=args.port,
                               parallelism=args.parallelism, unpause=args.unpause or ["assets"], on_line=echo)
    stop, ready = threading.Event(), threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s: stopping the Airflow components", signal.Signals(signum).name)
        stop.set()
        if not ready.is_set():  # still starting: leave the wait at once (the finally stops everything)
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.perf_counter()
    try:
        log.info("metadata DB %s; Airflow home %s; DAGs %s", masked_url(args.metadata_db), home.airflow,
                 services.dags)
        services.start()
        print(f"started airflow scheduler, dag-processor, api-server (LocalExecutor, parallelism {args.parallelism}); "
              f"logs in {services.logs}/<component>.log", flush=True)
        services.wait_ready()
        api = services.api()
        dags = services.wait_parsed(api)
        unpaused = services.apply_unpause(api, dags)
        paused = sorted(d["dag_id"] for d in dags if d["is_paused"] and d["dag_id"] not in unpaused)
        print(f"ready in {time.perf_counter() - started:.0f} s: {len(dags)} citylake DAGs; unpaused now: "
              f"{len(unpaused)}; paused: {', '.join(paused) or 'none'}", flush=True)
        print(f"Airflow UI: {services.url}/  (user {api.username}, password in {services.passwords_file})"
              if api.password is not None else f"Airflow UI: {services.url}/  (every user is admin)", flush=True)
        print("Ctrl-C stops every component.", flush=True)
        ready.set()
        services.watch(stop)
    except KeyboardInterrupt:
        pass
    finally:
        killed = services.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"stopped{f' (killed {len(killed)} process(es) that did not stop in time)' if killed else ''}", flush=True)
    return 0
