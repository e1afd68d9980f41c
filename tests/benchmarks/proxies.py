"""HAProxy and nginx in front of SeaweedFS's S3 port, and wrk: the C reference points the
`rate` and `proxies` workloads compare the gateway with (issue 24).

HAProxy runs with `option splice-auto` (the kernel moves bodies between its sockets, as the
gateway's `http/splice` does), nginx with `proxy_buffering off` (streams, no temp files). Both
pass the client's `Host` through, so a URL presigned for SeaweedFS's own host and port stays
valid when the client sends that `Host` to the proxy. Debian's packages, installed when missing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.progress import say
from tests.helpers import debian
from tests.helpers.processes import ManagedProcess, free_port

WRK = Path("/usr/bin/wrk")
AB = Path("/usr/bin/ab")  # apache2-utils: the HEAD row's client (wrk waits for a HEAD body)
HAPROXY = Path("/usr/sbin/haproxy")
NGINX = Path("/usr/sbin/nginx")
PACKAGES = ("wrk", "haproxy", "nginx", "curl", "apache2-utils")
HEALTH = "/bench-proxy-health"


@dataclass(frozen=True)
class Proxy:
    name: str
    base_url: str  # http://127.0.0.1:<port>
    pid: int


def ensure_tools() -> None:
    for line in debian.ensure_installed(PACKAGES, (WRK, AB, HAPROXY, NGINX, Path("/usr/bin/curl"))):
        say(f"  {line}")


def _haproxy_config(port: int, backend: str) -> str:
    return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 10s
    timeout client 300s
    timeout server 300s
    option http-keep-alive
    option splice-auto
frontend bench
    bind 127.0.0.1:{port}
    monitor-uri {HEALTH}
    default_backend s3
backend s3
    server seaweed {backend} maxconn 1024
"""


def _nginx_config(port: int, backend: str, root: Path) -> str:
    return f"""daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream s3 {{ server {backend}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location = {HEALTH} {{ return 200; }}
        location / {{
            proxy_pass http://s3;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            client_max_body_size 0;
        }}
    }}
}}
"""


def start(stack: contextlib.ExitStack, name: str, s3_endpoint: str, workdir: Path) -> Proxy:
    """`haproxy` or `nginx` on a free loopback port in front of `s3_endpoint`, stopped (whole
    process group) when the stack closes."""
    port, backend = free_port(), s3_endpoint.removeprefix("http://").rstrip("/")
    root = workdir / name
    root.mkdir(parents=True, exist_ok=True)
    config = root / f"{name}.cfg"
    if name == "haproxy":
        config.write_text(_haproxy_config(port, backend))
        argv = [str(HAPROXY), "-db", "-f", str(config)]
    else:
        config.write_text(_nginx_config(port, backend, root))
        argv = [str(NGINX), "-p", str(root), "-c", str(config)]
    process = ManagedProcess(
        argv, f"http://127.0.0.1:{port}{HEALTH}", root / f"{name}.log", cwd=root, stop_grace=5.0
    )
    stack.callback(process.stop)
    say(f"starting {name} on port {port}")
    process.start()
    return Proxy(name, f"http://127.0.0.1:{port}", process.pid)
