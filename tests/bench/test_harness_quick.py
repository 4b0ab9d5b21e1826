"""The comparison harness in its quick mode, Seadragon's own paths only (no peer download):
it runs every scenario end to end and its table carries a number for every path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from bench.processes import ROOT

from seadragon.backends.local import LocalModel
from services import require_rabbitmq

NUMBER = re.compile(r"-?\d[\d,]*(\.\d+)?")


def table(markdown: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return cells[0], cells[1:]


def test_quick_mode_measures_every_scenario_on_both_queue_modes(tmp_path: Path) -> None:
    require_rabbitmq()
    command = [sys.executable, "-m", "bench.run", "--quick", "--no-peers", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "taskset" in done.stdout and "load average" in done.stdout

    head, rows = table((tmp_path / "results.md").read_text())
    assert head[:2] == ["#", "measure"] and head[-2:] == ["target", "met"]
    assert head[2:-2] == ["memory", "rabbitmq"]  # no peer was run
    by_scenario: dict[str, list[list[str]]] = {}
    for row in rows:
        by_scenario.setdefault(row[0], []).append(row)
    expected = {"1", "2", "3", "4", "5", "7"} | ({"6"} if LocalModel.available() else set())
    assert set(by_scenario) == expected
    for number, scenario_rows in by_scenario.items():
        for row in scenario_rows:
            memory, rabbitmq = row[2], row[3]
            assert NUMBER.search(memory), row
            if number not in ("5", "6"):  # both are measured in memory mode only
                assert NUMBER.search(rabbitmq), row

    [faults] = [r for r in by_scenario["3"] if "lost / duplicated" in r[1]]
    assert faults[2] == "0 / 0 / 0"  # memory mode loses and repeats no chunk

    result = json.loads((tmp_path / "results.json").read_text())
    assert result["info"]["commit"] and result["sizes"]["reps"] == 1
    rss = result["s7"]["memory"]
    assert rss["depth"] >= result["sizes"]["queued"] * 0.9  # the requests were really queued
    assert rss["failed"] == 0
    aging = result["s5"]
    assert aging["no aging"]["served_during"] == 0  # without aging, low waits it out
    assert aging["aging"]["served_during"] > 0
