"""The request-rate workload (issue 24): wrk against direct S3, HAProxy in front of it, and the
gateway, for the same 4 KiB object in the same run; and the large-download proxy rows, curl as
the client of every target.

Direct and HAProxy get URLs presigned by boto3 for SeaweedFS's host (an hour's validity, so
wrk can repeat them), sent with that `Host`; the gateway gets its plain artifact URL. The
gateway's CPU per request is its process tree's user+system time over the wrk run, divided by
the requests wrk completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import psutil
from botocore.config import Config

from tests.benchmarks import profile, proxies
from tests.benchmarks.options import format_size
from tests.benchmarks.progress import say
from tests.benchmarks.scale import ScaleBench

SCRIPT = Path(__file__).with_name("wrk.lua")
RATE_TARGETS = ("direct", "haproxy", "gateway")
PROXY_TARGETS = ("direct", "haproxy", "nginx", "gateway")
RATE_SIZE = 4096
LIST_ENTRIES = 100
KEY = "bench/rate"  # under the gateway's prefix, so every target reads the same object
# (metric, method, body bytes, concurrencies). HEAD is measured with `ab -k -i` instead of wrk:
# wrk 4.1 waits for the body a HEAD answer's Content-Length announces (its parser is never told
# the request was a HEAD), and no request completes.
OPERATIONS = (
    ("rate_get", "GET", 0, (16, 64)),
    ("rate_put", "PUT", RATE_SIZE, (16, 64)),
    ("rate_head", "HEAD", 0, (16,)),
    ("rate_list", "GET", 0, (16,)),
)
_AB_FIELDS = {
    "Complete requests:": "requests",
    "Failed requests:": "failed",
    "Non-2xx responses:": "non_2xx",
    "Time taken for tests:": "seconds",
    "50%": "p50_ms",
    "99%": "p99_ms",
}


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system seconds of `pid` and its children (`--workers`)."""
    root = psutil.Process(pid)
    user = system = 0.0
    for proc in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            user, system = user + times.user, system + times.system
    return user, system


def _wrk(url: str, method: str, body: int, concurrency: int, seconds: float, host: str | None):
    """One wrk run; its summary (requests/s, p50/p99 in ms), or RuntimeError on any error."""
    argv = [str(proxies.WRK), "-t2", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s"]
    argv += ["-s", str(SCRIPT), *(("-H", f"Host: {host}") if host else ()), url]
    env = {**os.environ, "BENCH_METHOD": method, "BENCH_BODY": str(body)}
    out = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {(out.stdout + out.stderr)[-400:]}")
    summary = json.loads(line.removeprefix("WRK_JSON "))
    if summary["socket_errors"] or summary["status_errors"] or not summary["requests"]:
        raise RuntimeError(f"wrk saw errors: {summary}")
    return summary


def _ab_head(url: str, concurrency: int, seconds: float, host: str | None) -> dict:
    """One `ab -k -i` (HEAD, keep-alive) run, as `_wrk`'s summary; ab's percentiles are whole
    milliseconds. `-n` after `-t`, which would otherwise cap the run at 50,000 requests."""
    argv = [str(proxies.AB), "-k", "-i", "-q", f"-c{concurrency}", f"-t{max(1, round(seconds))}"]
    argv += ["-n", "100000000", "-s", "10", *(("-H", f"Host: {host}") if host else ()), url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    found = {"failed": 0.0, "non_2xx": 0.0}
    for line in out.stdout.splitlines():
        for prefix, name in _AB_FIELDS.items():
            if line.strip().startswith(prefix):
                found[name] = float(line.strip().removeprefix(prefix).split()[0])
    if out.returncode != 0 or "requests" not in found or "p99_ms" not in found:
        raise RuntimeError(f"ab failed ({out.returncode}): {(out.stdout + out.stderr)[-400:]}")
    if found["failed"] or found["non_2xx"] or not found["requests"]:
        raise RuntimeError(f"ab saw errors: {found}")
    return {
        "requests": int(found["requests"]),
        "duration_us": found["seconds"] * 1e6,
        "p50_us": found["p50_ms"] * 1000,
        "p99_us": found["p99_ms"] * 1000,
    }


def _curl_seconds(url: str, host: str | None, expected: int) -> float:
    argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}"]
    argv += [*(("-H", f"Host: {host}") if host else ()), url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"curl failed ({out.returncode}): {out.stderr[-300:]}")
    size, seconds = out.stdout.split()
    if int(size) != expected:
        raise RuntimeError(f"curl got {size} bytes, expected {expected}")
    return float(seconds)


@contextlib.contextmanager
def profiling(pid: int | None, seconds: float, out: Path, metric: str):
    """py-spy on `pid` (and its `--workers`) for the block, summarised by `profile.summary`
    into `out/profile-<metric>.txt`; nothing when `pid` is None."""
    if pid is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"profile-{metric}.raw"
    argv = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "-p",
        str(pid),
        "--subprocesses",
        "-r",
        "200",
        "-f",
        "raw",
    ]
    argv += ["-d", f"{max(1, int(seconds))}", "-o", str(raw), "--nonblocking"]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            spy.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(timeout=10)
        if raw.exists():
            (out / f"profile-{metric}.txt").write_text(profile.summary(raw.read_text()))
            raw.unlink()


class RateBench(ScaleBench):
    """ScaleBench plus `rate` and `proxies`; HAProxy and nginx start on first use."""

    _proxy_stack: contextlib.ExitStack | None = None
    _proxies: dict[str, proxies.Proxy]

    def _proxy(self, name: str) -> proxies.Proxy:
        if self._proxy_stack is None:
            proxies.ensure_tools()
            self._proxy_stack = contextlib.ExitStack()
            self._proxies = {}
        if name not in self._proxies:
            self._proxies[name] = proxies.start(
                self._proxy_stack, name, self.s3.endpoint, self.workdir
            )
        return self._proxies[name]

    def close_proxies(self) -> None:
        if self._proxy_stack is not None:
            self._proxy_stack.close()

    def _presigner(self):
        """botocore presigns with SigV2 unless told otherwise; SigV4 as the gateway signs."""
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        return boto3.client("s3", config=config, **self.s3.client_kwargs())

    def _s3_host(self) -> str:
        return self.s3.endpoint.removeprefix("http://").rstrip("/")

    def _through(self, target: str, presigned: str) -> tuple[str, str | None]:
        """The URL and `Host` a client uses to reach `presigned` through `target`."""
        if target == "direct":
            return presigned, None
        return presigned.replace(self.s3.endpoint, self._proxy(target).base_url, 1), (
            self._s3_host()
        )

    def _urls(self, metric: str, target: str, client) -> tuple[str, str | None]:
        key = f"gateway/{KEY}"
        if target == "gateway":
            base = self.servers["gateway"]
            if metric == "rate_list":
                root = base.artifacts_url.rsplit("/artifacts", 1)[0]
                return f"{root}/artifacts?path={KEY}/list", None
            name = "put.bin" if metric == "rate_put" else "obj.bin"
            return f"{base.artifacts_url}/{KEY}/{name}", None
        bucket = self.s3.bucket
        if metric == "rate_list":
            params = {"Bucket": bucket, "Prefix": f"{key}/list/", "Delimiter": "/"}
            presigned = client.generate_presigned_url("list_objects_v2", Params=params)
        else:
            name = f"put-{target}.bin" if metric == "rate_put" else "obj.bin"
            operation = {"rate_put": "put_object", "rate_head": "head_object"}.get(
                metric, "get_object"
            )
            presigned = client.generate_presigned_url(
                operation, Params={"Bucket": bucket, "Key": f"{key}/{name}"}, ExpiresIn=3600
            )
        return self._through(target, presigned)

    async def rate(self) -> None:
        """wrk, -t2, `--rate-seconds` per sample, targets interleaved per repetition."""
        client = self.s3.boto3_client()
        client.put_object(Bucket=self.s3.bucket, Key=f"gateway/{KEY}/obj.bin", Body=b"r" * 4096)
        for i in range(LIST_ENTRIES):
            client.put_object(Bucket=self.s3.bucket, Key=f"gateway/{KEY}/list/{i:03}", Body=b"l")
        targets = [t for t in RATE_TARGETS if t != "gateway" or "gateway" in self.servers]
        seconds = self.opts.rate_seconds
        say(f"request rate: wrk {seconds:g} s per sample, {self.opts.reps} rep(s)")
        client = self._presigner()
        for metric, method, body, concurrencies in OPERATIONS:
            for concurrency in concurrencies:
                params = {"concurrency": concurrency, "size": RATE_SIZE}
                for rep in range(self.opts.reps):
                    for target in targets:
                        await self._rate_sample(
                            metric, target, rep, method, body, params, seconds, client
                        )

    async def _rate_sample(self, metric, target, rep, method, body, params, seconds, client):
        try:
            url, host = self._urls(metric, target, client)
            server = self.servers.get(target)
            before = _cpu_seconds(server.pid) if server else (0.0, 0.0)
            profiled = self.opts.profile and server and rep == 0 and params["concurrency"] == 16
            with profiling(server.pid if profiled else None, seconds, self.opts.out, metric):
                if method == "HEAD":
                    summary = await asyncio.to_thread(
                        _ab_head, url, params["concurrency"], seconds, host
                    )
                else:
                    summary = await asyncio.to_thread(
                        _wrk, url, method, body, params["concurrency"], seconds, host
                    )
            after = _cpu_seconds(server.pid) if server else None
        except (Exception, asyncio.TimeoutError) as exc:
            self.add(metric, target, rep, None, "req/s", params, str(exc)[:500])
            return
        rate = summary["requests"] / (summary["duration_us"] / 1e6)
        self.add(metric, target, rep, rate, "req/s", params)
        self.add(f"{metric}_p50", target, rep, summary["p50_us"] / 1000, "ms", params)
        self.add(f"{metric}_p99", target, rep, summary["p99_us"] / 1000, "ms", params)
        if after is not None:
            user, system = (end - start for end, start in zip(after, before, strict=True))
            per = 1e6 / summary["requests"]
            self.add(f"{metric}_cpu", target, rep, (user + system) * per, "µs", params)
            self.add(f"{metric}_sys", target, rep, system * per, "µs", params)

    async def proxies(self) -> None:
        """One download of each `--proxy-sizes` object with curl through every target."""
        client = self.s3.boto3_client()
        for size in self.opts.proxy_sizes:
            key = f"{KEY}/proxy-{size}.bin"
            path = self.workdir / "proxy-object.bin"
            with open(path, "wb") as out:
                out.truncate(size)  # sparse: the bytes' values do not matter, only their count
            await asyncio.to_thread(client.upload_file, str(path), self.s3.bucket, f"gateway/{key}")
            path.unlink()
            presigned = self._presigner().generate_presigned_url(
                "get_object", Params={"Bucket": self.s3.bucket, "Key": f"gateway/{key}"}
            )
            say(f"proxy rows: {format_size(size)}, curl, {self.opts.reps} rep(s)")
            for rep in range(self.opts.reps):
                for target in PROXY_TARGETS:
                    if target == "gateway" and "gateway" not in self.servers:
                        continue
                    if target == "gateway":
                        url, host = f"{self.servers['gateway'].artifacts_url}/{key}", None
                    else:
                        url, host = self._through(target, presigned)
                    try:
                        seconds = await asyncio.to_thread(_curl_seconds, url, host, size)
                    except Exception as exc:
                        self.add("proxy_download", target, rep, None, "s", {"size": size}, str(exc))
                        continue
                    self.add("proxy_download", target, rep, seconds, "s", {"size": size})
            client.delete_object(Bucket=self.s3.bucket, Key=f"gateway/{key}")
