"""The Dockerfile, parsed the way Docker reads it: stages, instructions, COPY sources, ENV.

Used by the static checks (tests/test_containers.py) and the container tests (tests/container/).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

import msgspec

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for ins in self.all("ENV"):
            words = shlex.split(ins.args)
            if words and "=" not in words[0]:  # the legacy `ENV KEY value` form
                values[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                key, _, value = word.partition("=")
                values[key] = value
        return values


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1].strip())
            continue
        parts.append(line)
        yield start, " ".join(parts)
        parts = []
    if parts:
        yield start, " ".join(parts)


def _expand(value: str, args: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), value)


@cache
def dockerfile() -> tuple[Stage, ...]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, text in _logical_lines(DOCKERFILE.read_text()):
        keyword, _, args = text.partition(" ")
        ins = Instruction(keyword.upper(), args.strip(), line)
        if ins.keyword == "ARG" and not stages:
            arg, _, default = ins.args.partition("=")
            global_args[arg] = default
        elif ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=_expand(words[0], global_args), name=name))
        else:
            assert stages, f"Dockerfile:{line}: {ins.keyword} before the first FROM"
            stages[-1].instructions.append(ins)
    return tuple(stages)


def final_stage() -> Stage:
    return dockerfile()[-1]


def exec_form(args: str) -> list[str]:
    value = msgspec.json.decode(args)
    assert isinstance(value, list), f"not the exec (JSON) form: {args}"
    assert all(isinstance(v, str) for v in value)
    return value


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    dest: str
    stage: str | None  # --from=...; None: the build context


def copies(stage: Stage) -> list[Copy]:
    found = []
    for ins in stage.all("COPY"):
        words = shlex.split(ins.args)
        flags = {w.partition("=")[0]: w.partition("=")[2] for w in words if w.startswith("--")}
        paths = [w for w in words if not w.startswith("--")]
        found.append(Copy(tuple(paths[:-1]), paths[-1], flags.get("--from")))
    return found


def exposed_ports() -> set[int]:
    return {int(p.split("/")[0]) for ins in final_stage().all("EXPOSE") for p in ins.args.split()}


def workdir(stage: Stage) -> PurePosixPath:
    return PurePosixPath(stage.last("WORKDIR").args)


def repo_file_in_image(image_path: PurePosixPath) -> Path | None:
    """The repository file that the final stage copies to `image_path`, if any."""
    stage = final_stage()
    for cp in copies(stage):
        if cp.stage is not None:
            continue
        dest = workdir(stage) / cp.dest
        for source in cp.sources:
            try:
                rest = image_path.relative_to(dest)
            except ValueError:
                continue
            return ROOT / source / rest
    return None


def image_path(relative: str) -> PurePosixPath:
    """A path as the service resolves it in the container: relative to the WORKDIR."""
    return workdir(final_stage()) / relative
