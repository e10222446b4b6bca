"""PostgreSQL and S3 for the store tests: the cluster harness's servers alone
(``python -m scripts.cluster up --services-only``)."""

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from tests.support.cluster import require_tools, running_cluster

_databases = itertools.count()


@dataclass(frozen=True)
class BackingServices:
    postgres_url: str  # a role that may create databases, on the harness's server
    s3_endpoint: str
    access_key: str
    secret_key: str
    bucket: str


@contextmanager
def running_backing_services() -> Iterator[BackingServices]:
    require_tools()
    with running_cluster("--services-only") as services:
        env = services.env
        yield BackingServices(
            env["CAMSERVE_STORE_URL"],
            env["AWS_ENDPOINT_URL"],
            env["AWS_ACCESS_KEY_ID"],
            env["AWS_SECRET_ACCESS_KEY"],
            env["CLUSTER_BUCKET"],
        )


def fresh_database(services: BackingServices) -> str:
    """A new, empty database on the harness's server; its URL."""
    name = f"camserve_test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(services.postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    return services.postgres_url.rsplit("/", 1)[0] + "/" + name
