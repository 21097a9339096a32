"""One command for the worker benchmark: taskqueue's rows, alone or beside the peers.

    .venv/bin/python bench/run_peers.py                     # taskqueue (sync + async bodies)
    .venv/bin/python bench/run_peers.py --peers huey,dramatiq,rq,taskqueue,taskqueue_async
    .venv/bin/python bench/run_peers.py --rounds 3 --n 10000   # any other harness option

It runs the shared peer harness (../shared/bench-peers, or BENCH_PEERS_DIR) with our
adapters (bench/taskqueue_peer.py, bench/taskqueue_async_peer.py) against a private,
non-persistent redis-server it starts on a free port and stops at the end. Results go
to bench/results/. The peers need the harness's own venv (see its README); taskqueue
runs in this project's .venv, which ~/.cache/bench-peers/venv-taskqueue points to.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taskqueue.embedded_redis import RedisProcess, free_port  # noqa: E402

OURS = {"taskqueue", "taskqueue_async"}
CACHE = Path("~/.cache/bench-peers").expanduser()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", default="taskqueue,taskqueue_async")
    args, rest = parser.parse_known_args()
    harness = Path(os.environ.get("BENCH_PEERS_DIR", ROOT.parent / "shared" / "bench-peers"))
    if not (harness / "run.py").exists():
        sys.exit(f"no peer harness at {harness}: set BENCH_PEERS_DIR")
    peers = set(args.peers.split(","))
    driver = sys.executable if peers <= OURS else str(CACHE / "venv" / "bin" / "python")
    if not Path(driver).exists():
        sys.exit(f"the peers need the harness venv {driver}: see {harness / 'README.md'}")
    link = CACHE / "venv-taskqueue"
    CACHE.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(ROOT / ".venv")
    if not shutil.which("redis-benchmark") and "--no-ceiling" not in rest:
        rest.append("--no-ceiling")
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        env = os.environ | {
            "BENCH_EXTRA_ADAPTERS": str(ROOT / "bench"),
            "BENCH_RESULTS_DIR": str(ROOT / "bench" / "results"),
        }
        command = [driver, "run.py", "--peers", args.peers, "--redis-url", redis.url, *rest]
        print("$", " ".join(command), flush=True)
        return subprocess.call(command, cwd=harness, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
