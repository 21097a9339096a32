"""The console under load: 10 logged-in console pages open while ~5,000 tasks/s flow.

    .venv/bin/python bench/console_load.py [--sessions 10] [--rate 5000] [--seconds 20]
                                           [--idle 10] [--workers 2]

Starts its own Redis on a free loopback port, a migrated SQLite database with a staff
user, and the web process the product runs (daphne serving config.asgi, as
`manage.py runall` starts it; tests/api/live.py), and --workers `manage.py runworker`
processes, which finish a few seeded tasks (so the list pages have rows). Then:

1. Opens N console sessions the way a browser does: logs in over HTTP (the login form,
   CSRF included), loads a console page, connects to `/ws/dashboard/` with the session
   cookie and the page's origin, and sends the page's `data-live` markers
   (`{"watch": [...]}`, as static/taskqueue/console.js does). The pages are a mix:
   overview, queue page, task list, workers, dead letters.
2. Measures an idle baseline: the same sessions and idle workers, no task flow.
3. Runs a producer process that bulk-enqueues `demo.tasks.fast` (queue `high`) at
   --rate tasks/s, open loop, for --seconds, while the workers drain what they can.

Every second it samples the web process's CPU (user + system, % of one core) and RSS,
the CPU of the other processes and of the machine, and the queue's lifetime counters
and event stream (XINFO STREAM entries-added: each task writes three events, pending,
processing, completed; the console's pushes are driven by these). Each session counts
the messages and bytes it receives.

How the console coalesces (dashboard/live/relay.py): one relay thread per web process
reads every queue's event stream; events only mark watched elements dirty; a push
happens at most once per PUSH_INTERVAL (0.5 s) and carries, per page, every dirty
element whose HTML changed, in one message (two when table rows are among them). So a
page gets at most 2 / PUSH_INTERVAL = 4 messages a second, whatever the task rate.
The web process still reads and parses every event, so its CPU does grow with the
event rate: that is what this measures.

Prints a table and writes the figures as JSON under bench/results/ (not committed).
Everything it starts is stopped at the end.
"""

import argparse
import asyncio
import contextlib
import http.cookiejar
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUEUE = "high"  # demo.tasks.fast's queue
STAFF = ("bench-staff", "bench-staff-password-not-a-secret")
SETUP_STAFF = f"""
from django.contrib.auth.models import Permission, User
user = User.objects.create_user({STAFF[0]!r}, password={STAFF[1]!r}, is_staff=True)
user.user_permissions.add(*Permission.objects.filter(
    codename__in=["view_console", "operate_tasks"]))
"""
# What the sessions look at (cycled): the overview most, as on a wall screen.
PAGES = ["/", "/queues/high/", "/", "/tasks/", "/workers/", "/", "/queues/high/", "/dead/"]
SEEDED = 30  # finished tasks made before the sessions open (rows on the list pages)
PUSH_INTERVAL = 0.5  # dashboard.live.relay.PUSH_INTERVAL (checked in main())
MAX_PER_SECOND = 2 / PUSH_INTERVAL  # at most two messages per push (rows, the rest)


# -- the producer (a child process: `console_load.py --produce`) ------------------------


def produce(rate: float, seconds: float, batch: int) -> None:
    """Enqueue demo.tasks.fast at `rate` tasks/s (open loop, in bulk round trips) once a
    line arrives on stdin; print {"enqueued", "seconds"} at the end."""
    import django

    django.setup()
    from demo.tasks import fast
    from taskqueue import enqueue_many

    enqueue_many([fast.prepare(-1)])  # connect, load the scripts
    print("ready", flush=True)
    sys.stdin.readline()
    sent, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        if due - sent < batch:  # wait until a whole batch is due
            time.sleep(max(0.0, min((sent + batch) / rate, seconds) - elapsed))
            continue
        n = min(due - sent, 10 * batch)  # behind: catch up in bigger round trips
        enqueue_many([fast.prepare(sent + i) for i in range(n)])
        sent += n
    took = time.monotonic() - started
    print(json.dumps({"enqueued": sent, "seconds": took}), flush=True)


# -- the console sessions ---------------------------------------------------------------


@dataclass
class Session:
    page: str
    cookie: str
    watch: list[str]
    received: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, bytes)
    closed: str = ""


def log_in_and_load(base: str, page: str) -> Session:
    """Log in through the login form and load `page`, like a browser: the session
    cookie, and the page's live markers (what console.js sends on the socket)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode(
        {"username": STAFF[0], "password": STAFF[1], "csrfmiddlewaretoken": token, "next": page}
    ).encode()
    headers = {"Origin": base, "Referer": f"{base}/login/"}
    request = urllib.request.Request(f"{base}/login/", data=body, headers=headers)  # noqa: S310 (http://127.0.0.1 only)
    with opener.open(request, timeout=30) as response:  # follows the redirect to `page`
        if urllib.parse.urlsplit(response.url).path != page:
            raise RuntimeError(f"login did not land on {page}: {response.url}")
        html = response.read().decode()
    cookies = {c.name: c.value for c in jar}
    if "sessionid" not in cookies:
        raise RuntimeError("login set no session cookie")
    watch = re.findall(r'data-live="([^"]+)"', html)
    return Session(page, f"sessionid={cookies['sessionid']}", watch)


async def listen(session: Session, base: str, opened: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    url = base.replace("http://", "ws://") + "/ws/dashboard/"
    headers = {"Cookie": session.cookie}
    try:
        async with connect(url, origin=base, additional_headers=headers, max_size=None) as ws:
            await ws.send(json.dumps({"watch": session.watch}))
            opened.set()
            async for message in ws:
                size = len(message.encode() if isinstance(message, str) else message)
                session.received.append((time.monotonic(), size))
            session.closed = f"closed by the server (code {ws.close_code})"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # reported: a session that closed early is a finding
        session.closed = f"{type(exc).__name__}: {exc}"
        opened.set()


# -- sampling ----------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    web_cpu: float  # % of one core over the last interval
    web_rss: int
    others_cpu: dict[str, float]
    machine_cpu: float  # % of all cores
    enqueued: int
    completed: int
    events: int


class Sampler:
    def __init__(self, procs: dict, web_pid: int, broker):
        import psutil

        self.psutil = psutil
        self.web = psutil.Process(web_pid)
        self.procs = procs  # name -> callable returning the current psutil.Process list
        self.broker = broker
        self.samples: list[Sample] = []
        self._last: dict[str, tuple[float, float]] = {}
        psutil.cpu_percent(None)

    def _cpu(self, name: str, processes: list, now: float) -> float:
        total = 0.0
        for p in processes:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except self.psutil.Error:
                pass
        before = self._last.get(name)
        self._last[name] = (now, total)
        if before is None or now <= before[0]:
            return 0.0
        return max(0.0, 100 * (total - before[1]) / (now - before[0]))

    def counters(self) -> tuple[int, int, int]:
        stats = self.broker.counts(QUEUE).stats
        key = self.broker.keys.queue(QUEUE).events
        try:
            events = self.broker.client.xinfo_stream(key)["entries-added"]
        except redis.ResponseError:  # no stream yet
            events = 0
        return stats.enqueued, stats.completed, int(events)

    def sample(self) -> Sample:
        now = time.monotonic()
        web_cpu = self._cpu("web", [self.web], now)
        others = {name: self._cpu(name, get(), now) for name, get in self.procs.items()}
        enqueued, completed, events = self.counters()
        s = Sample(
            now,
            web_cpu,
            self.web.memory_info().rss,
            others,
            self.psutil.cpu_percent(None),
            enqueued,
            completed,
            events,
        )
        self.samples.append(s)
        return s

    async def run(self, stop: asyncio.Event) -> None:
        self.sample()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            await asyncio.to_thread(self.sample)


@dataclass
class Window:
    """A phase: its start and end (monotonic) and the queue's counters at each."""

    start: float
    at_start: tuple[int, int, int]
    end: float = 0.0
    at_end: tuple[int, int, int] = (0, 0, 0)

    def close(self, end: float, counters: tuple[int, int, int]) -> None:
        self.end, self.at_end = end, counters

    def rate(self, i: int) -> int:
        return round((self.at_end[i] - self.at_start[i]) / (self.end - self.start))


def phase(name: str, w: Window, sampler: Sampler, sessions: list) -> dict:
    """The figures of one phase. CPU: the 1 s samples taken inside it (each covers the
    second before it); messages: what each session received between start and end."""
    samples = [s for s in sampler.samples if w.start + 0.5 < s.t <= w.end + 0.5]
    seconds = w.end - w.start
    buckets_n = max(1, round(seconds))
    rates, byte_rates, busiest, by_page, gaps = [], [], 0, {}, []
    for session in sessions:
        inside = [(t, b) for t, b in session.received if w.start <= t < w.end]
        rates.append(len(inside) / seconds)
        by_page.setdefault(session.page, []).append(len(inside) / seconds)
        byte_rates.append(sum(b for _, b in inside) / seconds)
        buckets = [0] * buckets_n
        for t, _ in inside:
            buckets[min(buckets_n - 1, int(t - w.start))] += 1
        busiest = max(busiest, *buckets)
        gaps += [b[0] - a[0] for a, b in itertools.pairwise(inside)]
    cpu = [s.web_cpu for s in samples]
    others = {
        name: round(statistics.mean(s.others_cpu[name] for s in samples), 1)
        for name in samples[0].others_cpu
    }
    return {
        "phase": name,
        "seconds": round(seconds, 1),
        "enqueued_per_s": w.rate(0),
        "completed_per_s": w.rate(1),
        "events_per_s": w.rate(2),
        "web_cpu_mean_pct": round(statistics.mean(cpu), 1),
        "web_cpu_max_pct": round(max(cpu), 1),
        "web_rss_max_mb": round(max(s.web_rss for s in samples) / 2**20, 1),
        "pushes_per_s_per_session_mean": round(statistics.mean(rates), 2),
        "pushes_per_s_per_session_min": round(min(rates), 2),
        "pushes_per_s_per_session_max": round(max(rates), 2),
        "pushes_in_one_second_max": busiest,
        "shortest_gap_between_two_pushes_s": round(min(gaps), 3) if gaps else None,
        "pushes_per_s_by_page": {p: round(statistics.mean(r), 2) for p, r in by_page.items()},
        "bytes_per_s_per_session_mean": round(statistics.mean(byte_rates)),
        "bytes_per_s_per_session_max": round(max(byte_rates)),
        "other_cpu_mean_pct": others,
        "machine_cpu_mean_pct": round(statistics.mean(s.machine_cpu for s in samples), 1),
    }


# -- the run -----------------------------------------------------------------------------


async def measure(args, stack, broker) -> dict:
    import psutil

    from demo.tasks import fast
    from taskqueue import enqueue_many

    env = {**stack.env, "DJANGO_SETTINGS_MODULE": "config.settings"}
    worker_argv = [sys.executable, "manage.py", "runworker", "--log-level", "WARNING"]
    workers = [
        subprocess.Popen([*worker_argv, "--grace", "5"], cwd=ROOT, env=env)
        for _ in range(args.workers)
    ]
    producer = await asyncio.create_subprocess_exec(
        *(sys.executable, str(Path(__file__).resolve()), "--produce", "--rate", str(args.rate)),
        *("--seconds", str(args.seconds), "--batch", str(args.batch)),
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    listeners: list[asyncio.Task] = []
    try:
        await wait_until(lambda: len(broker.workers()) == args.workers, 60, "the workers")
        # a few finished tasks, so the task list and the queue page have rows to watch
        enqueue_many([fast.prepare(i) for i in range(SEEDED)])
        await wait_until(lambda: broker.counts(QUEUE).completed >= SEEDED, 60, "the seeds")

        base = f"http://127.0.0.1:{stack.port}"
        pages = [PAGES[i % len(PAGES)] for i in range(args.sessions)]
        sessions = [await asyncio.to_thread(log_in_and_load, base, page) for page in pages]
        opened = [asyncio.Event() for _ in sessions]
        listeners = [
            asyncio.create_task(listen(s, base, ev)) for s, ev in zip(sessions, opened, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in opened)), 30)
        failed = [s.closed for s in sessions if s.closed]
        if failed:
            raise RuntimeError(f"sessions failed to open: {failed}")
        if (await asyncio.wait_for(producer.stdout.readline(), 60)).strip() != b"ready":
            raise RuntimeError("the producer did not start")

        def tree(popen) -> list:
            try:
                p = psutil.Process(popen.pid)
                return [p, *p.children(recursive=True)]
            except psutil.Error:
                return []

        procs = {
            "workers": lambda: [p for w in workers for p in tree(w)],
            "producer": lambda: tree(producer),
            "redis": lambda: tree(stack.redis.process),
            "bench (clients)": lambda: [psutil.Process()],
        }
        sampler = Sampler(procs, stack.processes[0].pid, broker)
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop))

        await asyncio.sleep(args.warmup)  # the first pushes of every watched element
        idle = Window(time.monotonic(), sampler.counters())
        await asyncio.sleep(args.idle)
        idle.close(time.monotonic(), sampler.counters())
        load = Window(time.monotonic(), sampler.counters())
        producer.stdin.write(b"go\n")
        await producer.stdin.drain()
        produced = json.loads(await asyncio.wait_for(producer.stdout.readline(), args.seconds + 60))
        load.close(time.monotonic(), sampler.counters())
        await asyncio.sleep(1.1)  # the sample that covers the end of the load phase
        stop.set()
        await sampling
    finally:
        for w in workers:
            w.terminate()
        if producer.returncode is None:
            producer.kill()
        await producer.wait()
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)

    figures = [phase("idle", idle, sampler, sessions), phase("load", load, sampler, sessions)]
    figures[1]["producer_enqueued_per_s"] = round(produced["enqueued"] / produced["seconds"])
    return {
        "command": " ".join([".venv/bin/python", "bench/console_load.py", *sys.argv[1:]]),
        "sessions": [
            {"page": s.page, "watches": len(s.watch), "closed_early": s.closed or None}
            for s in sessions
        ],
        "target_rate": args.rate,
        "workers": args.workers,
        "coalescing_bound_per_s": MAX_PER_SECOND,
        "phases": figures,
        "backlog_at_end": broker.counts(QUEUE).pending,
        "cpus": os.cpu_count(),
    }


async def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout} s")
        await asyncio.sleep(0.1)


def report(result: dict) -> str:
    idle, load = result["phases"]
    rows = [
        ("tasks/s enqueued", "enqueued_per_s", ""),
        ("tasks/s completed", "completed_per_s", ""),
        ("queue events/s (what drives pushes)", "events_per_s", ""),
        ("web CPU, mean of 1 s samples", "web_cpu_mean_pct", " %"),
        ("web CPU, max 1 s sample", "web_cpu_max_pct", " %"),
        ("web RSS, max", "web_rss_max_mb", " MB"),
        ("pushes/s per session, mean", "pushes_per_s_per_session_mean", ""),
        ("pushes/s per session, lowest session", "pushes_per_s_per_session_min", ""),
        ("pushes/s per session, highest session", "pushes_per_s_per_session_max", ""),
        ("pushes in any one second, one session, max", "pushes_in_one_second_max", ""),
        ("shortest gap between two pushes to a session", "shortest_gap_between_two_pushes_s", " s"),
        ("bytes/s per session, mean", "bytes_per_s_per_session_mean", ""),
        ("bytes/s per session, max", "bytes_per_s_per_session_max", ""),
        ("whole machine CPU, mean (all cores)", "machine_cpu_mean_pct", " %"),
    ]
    watches: dict[str, list[int]] = {}
    for session in result["sessions"]:
        watches.setdefault(session["page"], []).append(session["watches"])
    lines = [
        f"| {len(result['sessions'])} console sessions | idle ({idle['seconds']} s) "
        f"| load ({load['seconds']} s, target {result['target_rate']:,} tasks/s) |",
        "|---|---:|---:|",
    ]
    for label, key, unit in rows:
        cells = ["-" if p[key] is None else f"{p[key]:,}{unit}" for p in (idle, load)]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    for name in idle["other_cpu_mean_pct"]:
        lines.append(
            f"| CPU of {name}, mean | {idle['other_cpu_mean_pct'][name]} % "
            f"| {load['other_cpu_mean_pct'][name]} % |"
        )
    lines += [
        "",
        f"producer: {load['producer_enqueued_per_s']:,} tasks/s over the load phase; "
        f"{result['workers']} worker process(es); backlog left pending: "
        f"{result['backlog_at_end']:,}",
        f"coalescing bound: {result['coalescing_bound_per_s']:g} messages/s per page "
        f"(2 per {PUSH_INTERVAL} s push)",
        "pushes/s per session by page, idle -> load: "
        + ", ".join(
            f"{page} {rate} -> {load['pushes_per_s_by_page'][page]}"
            for page, rate in idle["pushes_per_s_by_page"].items()
        ),
        "pages: "
        + ", ".join(
            f"{page} x{len(w)} ({min(w)}-{max(w)} live elements)" for page, w in watches.items()
        ),
    ]
    closed = [f"{s['page']}: {s['closed_early']}" for s in result["sessions"] if s["closed_early"]]
    if closed:
        lines.append("SESSIONS CLOSED BEFORE THE END: " + "; ".join(closed))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rate", type=int, default=5000, help="tasks/s the producer enqueues")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the task flow")
    parser.add_argument("--idle", type=float, default=10.0, help="length of the idle baseline")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2, help="runworker processes")
    parser.add_argument("--batch", type=int, default=100, help="tasks per enqueue round trip")
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        produce(args.rate, args.seconds, args.batch)
        return 0

    from tests.api.live import LiveStack

    with tempfile.TemporaryDirectory(prefix="tq-console-bench-") as workdir:
        stack = LiveStack(Path(workdir))
        os.environ.update(stack.env)
        import django

        django.setup()
        from dashboard.live import relay
        from taskqueue import client

        assert relay.PUSH_INTERVAL == PUSH_INTERVAL, "the relay's interval changed"
        load_before = os.getloadavg()
        stack.start()
        try:
            stack.manage("shell", "-c", SETUP_STAFF)
            result = asyncio.run(measure(args, stack, client.get_broker()))
        finally:
            stack.stop()
    result["load_average_before"] = [round(x, 2) for x in load_before]
    print(report(result))
    print(f"load average (1, 5, 15 min) before the run: {result['load_average_before']}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"console_load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfigures: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
