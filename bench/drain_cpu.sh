#!/usr/bin/env bash
# CPU per task of one burst worker draining N no-op tasks (docs/PERFORMANCE.md, "Second
# round"): the worker's own CPU time (getrusage) and the Redis server's (INFO cpu before
# and after the drain), which a busy machine disturbs less than wall-clock rates.
#
#   bench/drain_cpu.sh [N=20000] [CONCURRENCY=1] [ROOT=the checkout to measure]
#
# A private, non-persistent redis-server on a free port; bench.settings; bench.noop (one
# RPUSH). Run it on two checkouts in turn to compare them.
set -euo pipefail
N=${1:-20000}
CONC=${2:-1}
ROOT=$(cd "${3:-$(dirname "$0")/..}" && pwd)
PY=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python
HARNESS=${BENCH_PEERS_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/bench-peers}
cd "$ROOT"
PORT=$("$PY" -c "from taskqueue.embedded_redis import free_port; print(free_port())")
DATA=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DATA" \
  --daemonize yes --pidfile "$DATA/redis.pid" >/dev/null
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DATA"' EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
export BENCH_REDIS_URL="redis://127.0.0.1:$PORT/0" DJANGO_SETTINGS_MODULE=bench.settings
export PYTHONPATH="$HARNESS:$ROOT"
"$PY" -c "
import time, django; django.setup()
import taskqueue
from bench.tasks import noop
for _ in range(0, $N, 1000):
    taskqueue.enqueue_many([noop.prepare(time.time()) for _ in range(1000)])
" 2>/dev/null
redis_cpu() { redis-cli -p "$PORT" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {print s}'; }
before=$(redis_cpu)
"$PY" -c "
import resource, subprocess, sys, time
started = time.monotonic()
subprocess.run([sys.executable, 'manage.py', 'runworker', '--log-level', 'WARNING',
                '--concurrency', '$CONC', '--burst'], check=True)
took = time.monotonic() - started
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f'drain (with start-up) {$N / took:,.0f} tasks/s; worker CPU {(r.ru_utime + r.ru_stime) / $N * 1e6:.0f} us/task')
" 2>/dev/null
after=$(redis_cpu)
done_=$(redis-cli -p "$PORT" llen bench:records)
awk -v a="$after" -v b="$before" -v n="$N" -v d="$done_" \
  'BEGIN {printf "Redis CPU %.0f us/task (worker side); %d of %d tasks ran\n", (a - b) * 1e6 / n, d, n}'
