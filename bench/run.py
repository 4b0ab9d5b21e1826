"""Seadragon side by side with LiteLLM's proxy and an Ollama queue proxy: the one command.

``python -m bench.run`` installs the peers into throwaway virtualenvs, starts the fake
upstream, every path and the load generator as separate processes (the gateways on one
core, the upstream and the load generator on the other, with ``taskset``), runs the
scenarios of ``bench/README.md`` and writes ``results.md``, ``results.json`` and the
plots into ``--out`` (``bench/results/``). ``--quick`` runs every scenario small (a few
minutes); ``--no-peers`` leaves the peers out (no download).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import peers, queueing, report, scenarios
from bench.harness import Log
from bench.model import real_model
from bench.paths import (
    Cores,
    Lab,
    Target,
    backends,
    delete_rabbitmq,
    directs,
    start_bastion,
    start_litellm,
    start_seadragon,
    start_upstream,
)
from bench.processes import ROOT
from bench.profile import profile

SERVICE_S = 0.05  # the sched model's service time
CAPACITY = 2  # and how many it runs at once: 40 req/s
AGING_S = 1.0


def machine(cores: Cores, args: argparse.Namespace) -> dict[str, Any]:
    def run(*command: str) -> str:
        try:
            return subprocess.run(
                command, capture_output=True, text=True, cwd=ROOT, check=False
            ).stdout.strip()
        except OSError:
            return ""

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    from importlib.metadata import version

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": run("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(run("git", "status", "--porcelain", "--", "src")),
        "machine": f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "seadragon": version("seadragon"),
        "peers": {p.name: p.requirement for p in peers.PEERS} if not args.no_peers else {},
        "pinning": f"gateways (and worker, peers) on CPU {cores.gateway}; fake upstream and "
        f"load generator on CPU {cores.client} (taskset)",
        "command": "python -m bench.run " + " ".join(sys.argv[1:]),
        "load_average_start": os.getloadavg(),
    }


async def guarded(
    log: Log, result: dict[str, Any], key: str, scenario: Coroutine[Any, Any, dict[str, Any]]
) -> None:
    """Run one scenario; a failure is logged and leaves its rows out, not the others'.
    The results so far are written after each one, so a stopped run still leaves them."""
    try:
        result[key] = await scenario
    except Exception as exc:  # the run goes on: a peer's failure must not hide the rest
        log.say(f"-- {key} failed: {type(exc).__name__}: {exc}")
    if "write" in result:
        result["write"]()


async def bench(
    args: argparse.Namespace, info: dict[str, Any], log: Log, tmp: Path
) -> dict[str, Any]:
    sizes = scenarios.Sizes.quick() if args.quick else scenarios.Sizes()
    cores = Cores(args.gateway_cpu, args.client_cpu)
    lab = Lab(tmp, cores)
    wanted = {int(n) for n in args.scenarios.split(",")}
    result: dict[str, Any] = {"sizes": asdict(sizes)}
    result["write"] = lambda: write(args.out, info, result, log)
    if not args.no_peers:
        for peer in peers.PEERS:
            peers.install(peer)
    rabbits: list[Target] = []
    try:
        await start_upstream(lab, SERVICE_S, CAPACITY)
        direct, direct_ollama = directs(lab)
        main_backends = backends(lab.upstream, streams=False, sched_slots=CAPACITY)
        stream_backends = backends(lab.upstream, streams=True)
        memory, rabbit, memory_streams, rabbit_streams = await asyncio.gather(
            start_seadragon(lab, "memory", main_backends),
            start_seadragon(lab, "rabbitmq", main_backends),
            start_seadragon(lab, "memory", stream_backends, name="memory-streams"),
            start_seadragon(lab, "rabbitmq", stream_backends, name="rabbitmq-streams"),
        )
        memory_streams.name, rabbit_streams.name = "memory", "rabbitmq"
        rabbits += [rabbit, rabbit_streams]
        streams = [direct, memory_streams, rabbit_streams]
        paths = [direct, memory, rabbit]
        queued = [memory, rabbit]
        if not args.no_peers:
            litellm, bastion, bounded = await asyncio.gather(
                start_litellm(lab, CAPACITY),
                start_bastion(lab, 64),
                # A second instance whose dispatch limit is the backend's capacity, so that
                # its priority tiers have a queue to order (with 64 the fake queues FIFO).
                start_bastion(lab, CAPACITY, name="bastion-bounded"),
            )
            bounded.name = "bastion"
            paths += [litellm, direct_ollama, bastion]
            streams += [litellm, direct_ollama, bastion]
            queued += [litellm, bounded]
        log.say(f"paths: {', '.join(t.name for t in paths)}")
        if 1 in wanted:
            await guarded(log, result, "s1", scenarios.added_latency(log, cores, paths, sizes))
        if 2 in wanted:
            await guarded(log, result, "s2", scenarios.throughput(log, cores, paths, sizes))
        if args.profile:
            await guarded(log, result, "profile", profile(log, cores, memory, args.out, sizes))
        if 3 in wanted:
            await guarded(log, result, "s3", scenarios.streaming(log, cores, streams, sizes))
        if 4 in wanted:
            sched = queueing.scheduling(log, cores, queued, sizes, SERVICE_S, CAPACITY)
            await guarded(log, result, "s4", sched)
        if 7 in wanted:
            await guarded(log, result, "s7", queueing.memory(log, cores, queued, sizes))
        lab.stop([p for t in [*paths, *streams, *queued] for p in t.procs])
        if 5 in wanted:
            stacks: dict[str, Target] = {}
            labels = {"aging": AGING_S, "no aging": 1e6}
            started = await asyncio.gather(
                *(
                    start_seadragon(
                        lab,
                        "memory",
                        main_backends,
                        {"SEADRAGON_AGING_INTERVAL_S": str(aging)},
                        "memory-" + label.replace(" ", "-"),
                    )
                    for label, aging in labels.items()
                )
            )
            stacks = dict(zip(labels, started, strict=True))
            starve = queueing.starvation(log, cores, stacks, sizes, SERVICE_S, CAPACITY, AGING_S)
            await guarded(log, result, "s5", starve)
            lab.stop([p for t in stacks.values() for p in t.procs])
        if 6 in wanted:
            await guarded(log, result, "s6", real_model(log, lab, sizes))
    finally:
        lab.stop()
        for stack in rabbits:
            await delete_rabbitmq(stack)
    return result


def write(out: Path, info: dict[str, Any], result: dict[str, Any], log: Log) -> str:
    out.mkdir(parents=True, exist_ok=True)
    made = report.plots(result, out)
    text = report.table(result)
    one, five, fifteen = info["load_average_start"]
    loaded = one > 1.0
    lines = [
        "# Seadragon side by side: results",
        "",
        f"- date: {info['date']}; commit {info['commit']}"
        + (" (with uncommitted changes in src/)" if info["dirty"] else ""),
        f"- machine: {info['machine']}; Python {info['python']}",
        f"- peers: {', '.join(info['peers'].values()) or 'none (--no-peers)'}",
        f"- pinning: {info['pinning']}",
        f"- load average at the start: {one:.2f} {five:.2f} {fifteen:.2f}"
        + (" — a loaded, shared machine" if loaded else ""),
        f"- command: `{info['command']}`; medians of {result['sizes']['reps']} repetitions "
        f"({result['sizes']['sched_reps']} for scenario 4)",
        "",
        text,
        "",
        *[f"![{p.stem}]({p.name})" for p in made],
        "",
        "## Log",
        "",
        "```",
        *log.lines,
        "```",
        "",
    ]
    (out / "results.md").write_text("\n".join(lines))
    result = {k: v for k, v in result.items() if k != "write"}
    (out / "results.json").write_text(json.dumps({"info": info, **result}, indent=1, default=str))
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every scenario, small")
    parser.add_argument("--no-peers", action="store_true", help="Seadragon's paths only")
    parser.add_argument("--scenarios", default="1,2,3,4,5,6,7", help="e.g. 1,3")
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway at c=64")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--gateway-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    args = parser.parse_args()
    # SIGTERM ends the run through its cleanup (the paths' processes are stopped).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log = Log()
    cores = Cores(args.gateway_cpu, args.client_cpu)
    info = machine(cores, args)
    for key in ("date", "commit", "machine", "pinning", "command"):
        log.say(f"{key}: {info[key]}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seadragon-bench-") as tmp:
        result = asyncio.run(bench(args, info, log, Path(tmp)))
    print("\n" + write(args.out, info, result, log))


if __name__ == "__main__":
    main()
