"""Per-job access rules (`[jobs.<key>.access]`): who may view a job, and who may run it.

Entries are caller names (emails in apps mode, API key names in token mode), `*@domain` (a
caller whose name is an address at exactly that domain, compared case-insensitively), or `*`
(everyone, `anonymous` in open mode included). Absent rules let every caller do everything, as
AppKit does. `run` narrows `view`: to run a job a caller must be named by both, so a job shown
to a team alone (`view = ["*@team.example"]`) is run by no one outside it, whatever `run` says.

A job the caller may not view answers exactly as a key no job has (404 UNKNOWN_JOB, same body),
on every route, so its name does not leak; a job they may view but not run is 403 FORBIDDEN on
the writes (trigger and cancel). The Python API (service.python_api) is the program itself, which
holds the credentials: these rules do not apply to it.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.basics.callers import Caller
from service.basics.errors import Forbidden, unknown_job
from service.settings.config import JobSettings
from service.settings.toml_file import Callers, JobAccess

WRITES = frozenset({"POST", "DELETE"})  # the methods that start or cancel a run


def admit(jobs: Mapping[str, JobSettings], key: str, caller: Caller, method: str) -> None:
    """404 as for an unknown key unless the caller may view the job; 403 for a write they may
    not make. Nothing else (not even whether the job is configured) is told before this."""
    job = jobs.get(key)
    if job is None or not may_view(job.access, caller):
        raise unknown_job(key)
    if method in WRITES and not may_run(job.access, caller):
        raise Forbidden(f'You may view job "{job.key}" but not run or cancel its runs')


def may_view(access: JobAccess, caller: Caller) -> bool:
    return names(access.view, caller)


def may_run(access: JobAccess, caller: Caller) -> bool:
    return names(access.view, caller) and names(access.run, caller)


def names(entries: Callers, caller: Caller) -> bool:
    """Whether any entry names the caller."""
    if "*" in entries:  # the default, and the common case: no scan
        return True
    return any(_matches(entry, caller.name) for entry in entries)


def _matches(entry: str, name: str) -> bool:
    if entry == "*":
        return True
    if entry.startswith("*@"):
        # The whole domain after the last "@": not a suffix, so *@example.com does not match
        # eve@evil-example.com, nor a@example.com.evil.
        local, at, domain = name.rpartition("@")
        return bool(at and local) and domain.casefold() == entry[2:].casefold()
    if "@" in entry:  # an email: the same address whatever its letters' case
        return entry.casefold() == name.casefold()
    return entry == name
