"""A local nginx in front of several ``serve`` processes, as a deployment would have it (optional).

Round-robin per request over keep-alive upstream connections (nginx's default balancing), so one
browser session's GET /submit and its POSTs land on different processes: the session cookie and
CSRF token must be valid in every process (they share MEYASUBAKO_SECRET_KEY and the database).
Used by ``bench/bench_scale.py --nginx`` when an ``nginx`` binary is on PATH (Debian: apt-get
install nginx); nothing else in the project needs nginx.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.harness import free_port

CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream meyasubako {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://meyasubako;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def available() -> bool:
    return shutil.which("nginx") is not None


class Nginx:
    def __init__(self, tmp: Path, upstreams: Sequence[str]) -> None:
        self.tmp = tmp / "nginx"
        self.port = free_port()
        self.upstreams = [u.removeprefix("http://") for u in upstreams]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.tmp.mkdir(parents=True, exist_ok=True)
        conf = self.tmp / "nginx.conf"
        servers = "\n".join(f"        server {u};" for u in self.upstreams)
        conf.write_text(CONF.format(tmp=self.tmp, servers=servers, port=self.port))
        nginx = shutil.which("nginx")
        assert nginx is not None
        with open(self.tmp / "stderr.log", "ab") as err:
            self.proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(self.tmp)],
                                         stdout=err, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.tmp / 'stderr.log').read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown of master and workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
