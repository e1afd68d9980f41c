"""An S3 destination's upload policy reaches the backend on every write path, checked at the
wire (the fault proxy's capture of request heads) and, where SeaweedFS keeps it, in the bucket.

SeaweedFS here stores and verifies `x-amz-checksum-sha256` (BadDigest on a mismatch), keeps the
storage class, and enforces SSE-C (a read without the key is refused); it answers SSE-S3 and
SSE-KMS with InternalError (no KMS configured), so those are checked at the wire only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.faults.proxy import FaultProxy
from tests.helpers.seaweed import SeaweedS3
from tests.helpers.stack import BUCKET, clean_env, s3_env, start_gateway

pytestmark = pytest.mark.slow  # a gateway process and the session's SeaweedFS

MIB = 1024 * 1024
SSE_C_KEY = bytes(range(32))
EXTRA_ARGS = {"StorageClass": "STANDARD_IA", "Tagging": "team=ml"}
API = "/api/2.0/mlflow-artifacts/artifacts"


class Policy:
    def __init__(self, url: str, proxy: FaultProxy) -> None:
        self.url = url
        self.proxy = proxy


@pytest.fixture(scope="module")
def policy(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Policy]:
    """Experiment 1: SSE-C and the tags; 2: SSE-KMS (wire only); others: the implicit
    destination, with MLFLOW_S3_UPLOAD_EXTRA_ARGS as MLflow reads it."""
    workdir: Path = tmp_path_factory.mktemp("s3-policy")
    with FaultProxy("127.0.0.1", seaweed.s3_port) as proxy:
        key_file = workdir / "sse-c.key"
        key_file.write_text(base64.b64encode(SSE_C_KEY).decode() + "\n")
        s3 = {"endpoint_url": proxy.endpoint, "region": "us-east-1"}
        config = {
            "destinations": {
                "ssec": {
                    "uri": f"s3://{BUCKET}/policy-c",
                    **s3,
                    "sse_customer_key_file": str(key_file),
                    "storage_class": "STANDARD_IA",
                    "tagging": "tier=gold",
                },
                "kms": {
                    "uri": f"s3://{BUCKET}/policy-kms",
                    **s3,
                    "server_side_encryption": "aws:kms",
                    "sse_kms_key_id": "alias/models",
                    "bucket_key_enabled": True,
                },
                "plain": {"uri": f"s3://{BUCKET}/policy-plain", **s3},  # the raw small PUT
            },
            "routes": [
                {"experiments": ["1"], "destination": "ssec"},
                {"experiments": ["2"], "destination": "kms"},
                {"experiments": ["4"], "destination": "plain"},
            ],
        }
        path = workdir / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        env = clean_env(**s3_env(proxy.endpoint))
        env["MLFLOW_S3_UPLOAD_EXTRA_ARGS"] = json.dumps(EXTRA_ARGS)
        args = [
            "--config",
            str(path),
            "--artifacts-destination",
            f"s3://{BUCKET}/policy-env",
            "--s3.part-size",
            str(5 * MIB),
            "--s3.read-timeout",
            "5",
        ]
        process, url = start_gateway(workdir, args, env)
        try:
            yield Policy(url, proxy)
        finally:
            process.stop()


def _writes(heads: list, key_part: str) -> list[tuple[str, str, dict]]:
    """Requests that create objects or uploads (PutObject, CreateMultipartUpload, copies)."""
    return [
        h
        for h in heads
        if key_part in h[1] and ((h[0] == "PUT" and "?" not in h[1]) or h[1].endswith("?uploads"))
    ]


@pytest.mark.parametrize("size", [1000, 11 * MIB], ids=["single", "multipart"])
def test_mlflow_extra_args_reach_every_write(policy: Policy, s3, size: int) -> None:
    heads = policy.proxy.capture()
    data = os.urandom(size)
    name = f"env-{size}.bin"
    assert requests.put(f"{policy.url}{API}/3/{name}", data=data, timeout=60).status_code == 200
    writes = _writes(heads, name)
    assert writes, heads
    for _, _, headers in writes:
        assert headers["x-amz-storage-class"] == "STANDARD_IA"
        assert headers["x-amz-tagging"] == "team=ml"
    stored = s3.head_object(Bucket=BUCKET, Key=f"policy-env/3/{name}")
    assert stored["StorageClass"] == "STANDARD_IA"  # SeaweedFS keeps it
    if size < 5 * MIB:
        # One PutObject: S3 verifies the checksum the gateway computed.
        assert stored["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        sent = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert writes[0][2]["x-amz-checksum-sha256"] == sent
    else:  # CreateMultipartUpload; the digest is a tag, set without rewriting the bytes
        assert [h[1].endswith("?uploads") for h in writes] == [True]
        tagging = [h for h in heads if name in h[1] and h[1].endswith("?tagging")]
        assert [h[0] for h in tagging] == ["PUT"]
        tags = s3.get_object_tagging(Bucket=BUCKET, Key=f"policy-env/3/{name}")["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags} == {
            "team": "ml",  # the policy's tags kept beside it
            "sha256": hashlib.sha256(data).hexdigest(),
        }


@pytest.mark.parametrize("size", [1000, 11 * MIB], ids=["single", "multipart"])
def test_sse_c_is_stored_for_real_and_every_read_carries_the_key(
    policy: Policy, s3, size: int
) -> None:
    heads = policy.proxy.capture()
    data = os.urandom(size)
    url = f"{policy.url}{API}/1/c-{size}.bin"
    assert requests.put(url, data=data, timeout=60).status_code == 200
    assert requests.get(url, timeout=60).content == data
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=60)
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    assert requests.head(url, timeout=60).headers["Repr-Digest"].startswith("sha-256=:")
    key_md5 = base64.b64encode(hashlib.md5(SSE_C_KEY).digest()).decode()
    touching = [h for h in heads if f"c-{size}.bin" in h[1]]
    assert touching
    for method, target, headers in touching:
        if method == "DELETE" or ("uploadId=" in target and method == "POST"):
            continue  # AbortMultipartUpload / CompleteMultipartUpload carry no key
        if target.endswith("?tagging"):
            continue  # nor do tags (the digest of a multipart object)
        assert headers.get("x-amz-server-side-encryption-customer-key-md5") == key_md5, target
    with pytest.raises(Exception, match="customer key"):  # SeaweedFS enforces it
        s3.get_object(Bucket=BUCKET, Key=f"policy-c/1/c-{size}.bin")


def test_sse_kms_headers_reach_the_backend(policy: Policy) -> None:
    """SeaweedFS has no KMS here and refuses the write (503): the headers are the check."""
    heads = policy.proxy.capture()
    resp = requests.put(f"{policy.url}{API}/2/k.bin", data=b"x" * 100, timeout=60)
    assert resp.status_code == 503, resp.text
    writes = _writes(heads, "k.bin")
    assert writes
    headers = writes[0][2]
    assert headers["x-amz-server-side-encryption"] == "aws:kms"
    assert headers["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/models"
    assert headers["x-amz-server-side-encryption-bucket-key-enabled"] == "true"


def test_the_raw_small_put_sends_the_checksum_too(policy: Policy, s3) -> None:
    """No policy: a small PutObject goes on the gateway's own socket (not botocore), and still
    carries `x-amz-checksum-sha256`, which SeaweedFS verifies and keeps."""
    heads = policy.proxy.capture()
    data = os.urandom(1000)
    url = f"{policy.url}{API}/4/raw.bin"
    assert requests.put(url, data=data, timeout=60).status_code == 200
    writes = _writes(heads, "raw.bin")
    assert len(writes) == 1, heads
    headers = writes[0][2]
    assert "botocore" not in headers.get("user-agent", "").lower()  # the raw path, not boto
    sent = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert headers["x-amz-checksum-sha256"] == sent
    assert headers["x-amz-content-sha256"] == hashlib.sha256(data).hexdigest()
    stored = s3.head_object(Bucket=BUCKET, Key="policy-plain/4/raw.bin", ChecksumMode="ENABLED")
    assert stored["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored.get("ChecksumSHA256") == sent
    assert requests.get(url, timeout=60).headers["Repr-Digest"] == f"sha-256=:{sent}:"


def test_a_proxied_part_passes_its_content_md5_to_s3(policy: Policy, s3) -> None:
    """A part link's part is checked by the gateway as it streams, and its Content-MD5 goes on
    to UploadPart, so S3 checks the bytes it stores too."""
    heads = policy.proxy.capture()
    mpu = f"{policy.url}/api/2.0/mlflow-artifacts/mpu"
    created = requests.post(
        f"{mpu}/create/4/run", json={"path": "/home/me/part.bin", "num_parts": 1}, timeout=60
    ).json()
    data = os.urandom(100_000)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    credential = created["credentials"][0]
    headers = {**credential["headers"], "Content-MD5": md5}
    put = requests.put(credential["url"], data=data, headers=headers, timeout=60)
    assert put.status_code == 200, put.text
    parts = [h for h in heads if h[0] == "PUT" and "partNumber=1" in h[1] and "part.bin" in h[1]]
    assert [h[2].get("content-md5") for h in parts] == [md5]
    done = {"path": "part.bin", "upload_id": created["upload_id"]}
    parts_body = [{"part_number": 1, "etag": put.headers["ETag"]}]
    complete = requests.post(
        f"{mpu}/complete/4/run", json={**done, "parts": parts_body}, timeout=60
    )
    assert complete.status_code == 200, complete.text
    assert s3.get_object(Bucket=BUCKET, Key="policy-plain/4/run/part.bin")["Body"].read() == data
