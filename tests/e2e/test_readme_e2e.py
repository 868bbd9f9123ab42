"""The README's examples as a reader runs them: its curl lines (with curl) against the service and
the emulator on loopback, and its Python example as a script against the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path

import msgspec
import pytest

from service.emulator import ScaledClock, Scenario, create_emulator_app
from tests.e2e.servers import SPEED, running, stack

pytestmark = pytest.mark.looptime(False)
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECTION = README.split("## Trigger a run and watch it")[1].split("\n## ")[0]


def block(language: str, index: int = 0) -> str:
    """The fenced blocks of `language` in the README's trigger-and-watch section, by order."""
    blocks = re.findall(rf"```{language}\n(.*?)```", SECTION, re.S)
    assert len(blocks) > index, f"no {language} block {index}"
    return str(blocks[index])


def curl_lines() -> list[str]:
    """The curl block's commands, a continued line joined to its first."""
    return [line for line in block("sh").replace("\\\n", " ").splitlines() if line.strip()]


def cli_lines() -> list[str]:
    """The shell block of `jobs-sidecar` commands, each the same call as the curl line."""
    return [line for line in block("sh", 1).splitlines() if line.strip()]


async def shell(line: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", line, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (line, err.decode())
    return out.decode()


def stream_data(text: str) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on PATH")
async def test_the_readme_curl_lines_work_as_written():
    lines = curl_lines()
    assert len(lines) == 9
    async with stack() as s:
        address = str(s.api.base_url).removeprefix("http://").rstrip("/")
        # A pipeline run that has ended, for the output line (the README's reader has one).
        started = await s.api.post("/api/jobs/pipeline/run?stream=true", json={})
        pipeline_run = stream_data(started.text)[0]["runId"]

        async def run(line: str, run_id: object = None) -> str:
            line = line.replace("localhost:8000", address)
            return await shell(line.replace("<runId>", str(run_id)))

        jobs = json.loads(await run(lines[0]))
        first = json.loads(await run(lines[1]))
        keyed = [json.loads(await run(lines[2])) for _ in range(2)]  # "again": the same run
        streamed = stream_data(await run(lines[3]))
        watched = stream_data(await run(lines[4], first["runId"]))
        runs = json.loads(await run(lines[5]))
        status = json.loads(await run(lines[6]))
        cancelled = await run(lines[7], first["runId"])
        output = json.loads(await run(lines[8], pipeline_run))
    assert "etl" in {job["key"] for job in jobs["jobs"]}
    assert isinstance(first["runId"], int)
    assert keyed[0]["runId"] == keyed[1]["runId"] != first["runId"]
    assert "runId" in streamed[0]
    assert streamed[-1]["status"] == "TERMINATED"
    assert watched[-1]["status"] == "TERMINATED"  # it watched the first run to its end
    assert len(runs["runs"]) == 3  # the first, the keyed one (once), the streamed one
    assert status["status"] == "TERMINATED"
    assert cancelled == ""  # 204: cancelling a finished run is harmless
    assert [task["task_key"] for task in output["tasks"]]


async def test_the_readme_python_example_follows_a_run_to_its_end(tmp_path):
    command = re.search(
        r"DATABRICKS_HOST=(\S+)\s+DATABRICKS_TOKEN=(\S+) JOBS_CONFIG=(\S+) \.venv/bin/python",
        SECTION,
    )
    assert command is not None, "the README says how to run it against make run's emulator"
    script = tmp_path / "example.py"
    script.write_text(block("python", 1))
    scenario = msgspec.structs.replace(Scenario.demo(), speed=SPEED)
    emulator = create_emulator_app(scenario, clock=ScaledClock(speed=SPEED))
    async with running(emulator) as emulator_url:
        env = {
            "PATH": os.environ["PATH"],
            "DATABRICKS_HOST": emulator_url,  # the README's is make run's: 127.0.0.1:8001
            "DATABRICKS_TOKEN": command[2],
            "JOBS_CONFIG": command[3],
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert command[1] == "http://127.0.0.1:8001"
    assert out.decode().splitlines()[-1] == "TERMINATED SUCCESS"


async def test_the_readme_cli_lines_work_as_written():
    lines = cli_lines()
    assert len(lines) == len(curl_lines())  # one command beside each curl line
    async with stack() as s:
        env = {**os.environ, "SIDECAR_URL": str(s.api.base_url).rstrip("/")}
        started = await s.api.post("/api/jobs/pipeline/run?stream=true", json={})
        pipeline_run = stream_data(started.text)[0]["runId"]

        async def run(line: str, run_id: object = None) -> str:
            line = line.split("  #", maxsplit=1)[0].replace("<runId>", str(run_id))
            process = await asyncio.create_subprocess_exec(
                "bash", "-c", line, cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 0, (line, err.decode())
            return out.decode()

        jobs = await run(lines[0])
        first = await run(lines[1])
        keyed = [await run(lines[2]) for _ in range(2)]  # again: the same run
        watched = await run(lines[3])
        run_id = re.search(r"\b(9\d{14})\b", first)
        assert run_id is not None, first
        await run(lines[4], run_id[1])
        table = await run(lines[5])
        status = await run(lines[6])
        await run(lines[7], run_id[1])
        output = await run(lines[8], pipeline_run)
    assert "etl" in jobs
    assert keyed[0] == keyed[1]
    assert "succeeded" in watched.lower()
    assert run_id[1] in table
    assert status.strip()
    assert output.strip()


async def test_the_readme_client_example_follows_a_run_to_its_end(tmp_path):
    script = tmp_path / "client_example.py"
    script.write_text(block("python", 0))
    async with stack() as s:
        url = str(s.api.base_url).rstrip("/")
        script.write_text(block("python", 0).replace("http://127.0.0.1:8000", url))
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().split() == ["TERMINATED", "SUCCESS"]


def test_the_readme_names_only_examples_that_exist():
    named = re.findall(r"`(\w+\.py)`", SECTION)
    assert named
    assert [name for name in named if not (ROOT / "examples" / name).is_file()] == []


async def test_the_browser_address_serves_the_dashboard():
    async with stack() as s:
        page = await s.api.get("/")
        docs = await s.api.get("/docs")
    assert "http://127.0.0.1:8000/" in SECTION
    assert page.headers["content-type"].startswith("text/html")
    assert docs.status_code == 200
