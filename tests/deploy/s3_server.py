"""An S3-compatible server on this machine for the deployment tests: moto's server (``moto_server``)
in its own process, one bucket, and the delta-rs storage options that reach it.

The server runs in a child process, not in a thread of the test: delta-rs calls from the test's
threads would otherwise wait on a server sharing their interpreter (seen to time out after 180 s)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.deploy.spark_cluster import free_port

# moto accepts any credentials; delta-rs and boto3 still want some.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "citylake-test", "AWS_SECRET_ACCESS_KEY": "citylake-test-secret",
               "AWS_REGION": "us-east-1"}


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    process: subprocess.Popen
    log_path: Path

    @property
    def storage_options(self) -> dict[str, str]:
        """delta-rs storage options for this server (plain HTTP on 127.0.0.1)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true", **CREDENTIALS}

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                            region_name=CREDENTIALS["AWS_REGION"])

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def refused_commits(self) -> int:
        """Delta log entries the server refused with 412 (a conditional put on a taken version)."""
        return sum(1 for line in self.log_path.read_text(errors="replace").splitlines()
                   if "_delta_log/" in line and "PUT " in line and '" 412' in line)


@contextmanager
def s3_server(log_dir: Path, bucket: str = "citylake", timeout: float = 30) -> Iterator[S3Server]:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    with open(log_dir / "moto.log", "wb") as log:
        process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **CREDENTIALS})
    server = S3Server(f"http://127.0.0.1:{port}", bucket, process, log_dir / "moto.log")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start (see {log_dir / 'moto.log'})") from None
                time.sleep(0.3)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
            process.wait(5)
