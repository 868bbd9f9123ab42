"""`[limits]` rates as written ("10/minute", "2 per hour"), read by the `limits` library.

Every rate is parsed at start-up (`check_rates`), so a rate the library cannot read stops it with
a ConfigError naming the setting, rather than the first request that would count against it.
"""

from __future__ import annotations

from collections.abc import Mapping

import limits

from service.basics.errors import ConfigError
from service.settings.toml_file import JobLimits, LimitsTable


def parse_rate(setting: str, text: str) -> limits.RateLimitItem:
    """`text` ("10/minute", "2 per hour") as a rate; a ConfigError naming `setting` if not."""
    try:
        item = limits.parse(text)
    except ValueError:
        item = None
    if item is None or item.amount < 1:
        raise ConfigError(
            f"{setting}: {text!r} is not a rate: write e.g. 10/minute, 2 per hour, 100/second"
        )
    return item


def job_rates(jobs: Mapping[str, JobLimits]) -> dict[str, limits.RateLimitItem]:
    """Job key → its own trigger rate, for the jobs that set one; a bad rate is a ConfigError."""
    return {
        key: parse_rate(f"[jobs.{key}.limits] trigger", job.trigger)
        for key, job in jobs.items()
        if job.trigger is not None
    }


def check_rates(table: LimitsTable, jobs: Mapping[str, JobLimits]) -> None:
    """Parse every rate at start-up, so a bad one stops it (ConfigError naming the setting)."""
    parse_rate("[limits] read", table.read)
    parse_rate("[limits] trigger", table.trigger)
    job_rates(jobs)
