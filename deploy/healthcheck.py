"""The orchestrator's health checks (compose.yaml's `healthcheck:`), run inside the
container from the application directory:

    python deploy/healthcheck.py web      # exit 0: this web process answers HTTP
    python deploy/healthcheck.py worker   # exit 0: a worker on this host is alive

`web` asks GET /api/v1/health on 127.0.0.1:8000 and is satisfied by 200 *or* 503: both
mean daphne and Django answer. A 503 says Redis is down or no worker is alive, which
restarting this web process would not fix, so it must not make the orchestrator restart
it (point alerting at /api/v1/health instead; docs/deployment.md). It sends the Host
and X-Forwarded-Proto a proxy would, so ALLOWED_HOSTS and SECURE_SSL_REDIRECT answer
as they do for real requests.

`worker` reads the worker registry (the same one the console shows): healthy when a
worker registered from this host name (a container's own) has sent a heartbeat within
the last 60 s. It stays healthy while Redis is briefly away only as long as the last
heartbeat is recent; then it fails, which is the truth: that worker runs nothing.
"""

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

WEB_URL = "http://127.0.0.1:8000/api/v1/health"
ALIVE_STATUSES = (200, 503)  # 503: the deployment is degraded, this process is not
TIMEOUT_S = 4.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to judge, not one to follow


def probe_host() -> str:
    """The first of ALLOWED_HOSTS that is a name we can send ('*' and '.x' are not)."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip()
        if host and host != "*" and not host.startswith("."):
            return host
    return "localhost"


def web_status(url: str = WEB_URL) -> int | None:
    """The HTTP status the web process answers, or None when nothing answers."""
    if not url.startswith("http://"):
        raise ValueError(f"the probe asks plain http:// on this host, not {url!r}")
    headers = {"Host": probe_host(), "X-Forwarded-Proto": "https"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http:// only
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def worker_alive(host: str) -> bool:
    """A worker registered from `host` whose heartbeat is recent (not lost)."""
    from taskqueue import inspect
    from taskqueue.errors import BrokerUnavailable

    try:
        return any(w.host == host and not w.lost for w in inspect.workers())
    except BrokerUnavailable:
        return False


def main(argv: list[str]) -> int:
    if argv[1:] == ["web"]:
        status = web_status()
        print(f"web: {status or 'no answer'}")
        return 0 if status in ALIVE_STATUSES else 1
    if argv[1:] == ["worker"]:
        import socket

        import django

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        alive = worker_alive(socket.gethostname())
        print(f"worker: {'alive' if alive else 'no live worker on this host'}")
        return 0 if alive else 1
    print("usage: python deploy/healthcheck.py web|worker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
