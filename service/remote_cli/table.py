"""`runs` as a table that fits the terminal: columns narrowed, then the least needed dropped."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from service.client.events import state_of
from service.remote_cli.progress import clock, elapsed_s, words

GAP = "  "
# Columns, most needed first; a narrow terminal loses them from the end of this list, except
# that the run id and the state always stay.
HEADERS = ("RUN ID", "STATE", "JOB", "DURATION", "STARTED")
ORDER = ("RUN ID", "JOB", "STATE", "STARTED", "DURATION")  # as shown, left to right
NARROWEST = {"JOB": 6, "STATE": 9}  # cut to no less than this (with …) before dropping


def row(run: dict[str, Any], now_ms: float) -> dict[str, str]:
    state = state_of(run)
    start = run.get("start_time")
    started = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start / 1000))
        if isinstance(start, int) and start > 0
        else ""
    )
    return {
        "RUN ID": str(run.get("run_id", "")),
        "JOB": str(run.get("jobKey") or ""),
        "STATE": words(state.get("life_cycle_state"), run.get("result"), run),
        "STARTED": started,
        "DURATION": clock(elapsed_s(run, now_ms)) if started else "",
    }


def render(runs: Sequence[dict[str, Any]], width: int, now_ms: float) -> list[str]:
    """The table's lines, none longer than `width`."""
    rows = [row(run, now_ms) for run in runs]
    shown = list(HEADERS)
    while True:
        widths = {name: max([len(name), *(len(r[name]) for r in rows)]) for name in shown}
        over = sum(widths.values()) + len(GAP) * (len(shown) - 1) - width
        for name, least in NARROWEST.items():
            if over > 0 and name in widths and widths[name] > least:
                cut = min(over, widths[name] - least)
                widths[name] -= cut
                over -= cut
        if over <= 0 or len(shown) <= 2:
            break
        shown.pop()
    columns = [name for name in ORDER if name in shown]
    lines = [_line(dict(zip(columns, columns, strict=True)), columns, widths)]
    lines += [_line(r, columns, widths) for r in rows]
    return [line[:width] for line in lines]


def _line(cells: dict[str, str], columns: list[str], widths: dict[str, int]) -> str:
    parts = []
    for name in columns:
        text, size = cells[name], widths[name]
        if len(text) > size:
            text = text[: size - 1] + "…"
        parts.append(text.rjust(size) if name == "RUN ID" else text.ljust(size))
    return GAP.join(parts).rstrip()
