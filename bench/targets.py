"""Ratios of one side-by-side harness run against the performance targets (issue 16).

    .venv/bin/python bench/targets.py                       # the newest bench/results/run-*.json
    .venv/bin/python bench/targets.py bench/results/run-XXXX.json

Prints a Markdown table: each target, our figure, the peer figure it is compared with,
the ratio and whether the target is met. Medians over the run's rounds, as the harness's
own summary uses. Needs a run with the peers and both our adapters:
`bench/run_peers.py --peers celery,rq,dramatiq,huey,arq,taskqueue,taskqueue_async`.
"""

import json
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
OURS = ("taskqueue", "taskqueue_async")
# peer configurations whose tasks all run in one worker process (celery c1 has a parent
# process that only forwards; rq's default worker forks one child per task, one at a time)
SINGLE_PROCESS = {
    ("celery", "c1"),
    ("rq", "simple"),
    ("rq", "default"),
    ("dramatiq", "c1"),
    ("huey", "default"),
    ("arq", "default"),
    ("arq", "c1"),
}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def collect(run: dict) -> dict:
    """{peer: {"single", "bulk", "configs": {config: {"drain", "p99", "rss", "nproc"}}}}"""
    out: dict = {}
    for rnd in run["rounds"]:
        for peer, result in rnd["results"].items():
            row = out.setdefault(peer, {"single": [], "bulk": [], "configs": {}})
            enqueue = result.get("enqueue", {})
            row["single"] += [s["rate"] for s in enqueue.get("single", [])]
            if enqueue.get("bulk"):
                row["bulk"].append(enqueue["bulk"]["rate"])
            for config, worker in result.get("workers", {}).items():
                figures = row["configs"].setdefault(config, {"drain": [], "p99": [], "rss": []})
                figures["drain"].append(worker.get("drain", {}).get("rate"))
                figures["p99"].append(worker.get("latency", {}).get("p99_ms"))
                memory = worker.get("memory", {})
                if memory.get("nproc"):
                    figures["rss"].append(memory["rss_mb"] / memory["nproc"])
    for row in out.values():
        row["single"], row["bulk"] = median(row["single"]), median(row["bulk"])
        for config, figures in row["configs"].items():
            row["configs"][config] = {k: median(v) for k, v in figures.items()}
    return out


def best(rows: dict, value, keep=lambda peer, config: True) -> tuple[float, str]:
    """The largest (or, for latency, pass a negated value) figure among the peers."""
    found = [
        (value(figures), f"{peer}[{config}]")
        for peer, row in rows.items()
        if peer not in OURS
        for config, figures in row["configs"].items()
        if keep(peer, config) and value(figures) is not None
    ]
    return max(found)


def best_enqueue(rows: dict, kind: str) -> tuple[float, str]:
    return max((row[kind], peer) for peer, row in rows.items() if peer not in OURS and row[kind])


def targets(run: dict) -> list[tuple[str, str, str, str, bool]]:
    rows = collect(run)
    single_peer, single_name = best_enqueue(rows, "single")
    bulk_peer, bulk_name = best_enqueue(rows, "bulk")
    drain_1p, drain_1p_name = best(
        rows, lambda f: f["drain"], lambda p, c: (p, c) in SINGLE_PROCESS
    )
    drain_any, drain_any_name = best(rows, lambda f: f["drain"])
    neg_p99, p99_name = best(rows, lambda f: -f["p99"] if f["p99"] is not None else None)
    lines = []
    for ours in OURS:
        row = rows[ours]
        configs = row["configs"]
        default, c1 = configs["default"], configs.get("c1", configs["default"])
        best_ours = max(configs, key=lambda c: configs[c]["drain"] or 0)
        label = "sync body" if ours == "taskqueue" else "async body"
        lines += [
            ratio(
                f"drain, one process, `--concurrency 1` ≥ 2x best single-process peer ({label})",
                c1["drain"],
                drain_1p,
                drain_1p_name,
                2,
            ),
            ratio(
                f"drain, one process, defaults ≥ 2x best single-process peer ({label})",
                default["drain"],
                drain_1p,
                drain_1p_name,
                2,
            ),
            ratio(
                f"drain, best configuration ({best_ours}) ≥ 1.5x best peer configuration ({label})",
                configs[best_ours]["drain"],
                drain_any,
                drain_any_name,
                1.5,
            ),
            at_most(
                f"idle latency p99 (defaults) ≤ best peer's ({label})",
                default["p99"],
                -neg_p99,
                f"{p99_name} {-neg_p99:.1f} ms",
            ),
            ratio(
                f"enqueue one at a time ≥ 1.2x fastest peer ({label})",
                row["single"],
                single_peer,
                single_name,
                1.2,
            ),
            ratio(
                f"bulk enqueue ≥ 5x best peer's bulk ({label})",
                row["bulk"],
                bulk_peer,
                bulk_name,
                5,
            ),
            at_most(
                f"worker RSS (defaults) ≤ 60 MB per process ({label})",
                default["rss"],
                60.0,
                "the target",
            ),
        ]
    return lines


def ratio(name, ours, theirs, whom, needed):
    got = ours / theirs
    return (
        name,
        f"{ours:,.0f}/s",
        f"{whom} {theirs:,.0f}/s",
        f"{got:.2f}x (needs {needed}x)",
        got >= needed,
    )


def at_most(name, ours, limit, whom):
    return (name, f"{ours:.1f}", whom, f"limit {limit:.1f}", ours <= limit)


def render(lines) -> str:
    out = ["| target | ours | compared with | ratio | met |", "|---|---:|---|---|---|"]
    out += [f"| {n} | {o} | {w} | {r} | {'yes' if ok else '**no**'} |" for n, o, w, r, ok in lines]
    return "\n".join(out)


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else max(RESULTS.glob("run-*.json"), default=None)
    if path is None:
        sys.exit(f"no run in {RESULTS}: run bench/run_peers.py with the peers first")
    run = json.loads(path.read_text())
    missing = [p for p in OURS if p not in run["rounds"][0]["results"]]
    if missing or len(run["rounds"][0]["results"]) <= len(OURS):
        sys.exit(f"{path} needs the peers and both our adapters (missing: {missing or 'peers'})")
    print(f"Targets, from {path.name}:\n")
    print(render(targets(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
