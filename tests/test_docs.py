"""The documentation: a README that fits on a page, in its order, and links and paths that exist;
the documents name only code that exists (each dotted `service.x.y`: a module, or a name a module
defines).

The README's curl lines and Python example run in tests/e2e/test_readme_e2e.py.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, ROOT / "bench" / "README.md", ROOT / "tests" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A path in backticks under one of the repository's folders: `examples/mounted_app.py`.
REPO_PATH = re.compile(
    r"`((?:service|tests|docs|config|examples|deploy|bench|docker|\.ci)/[\w./-]*[\w/])`"
)


def headings(text: str) -> list[str]:
    in_code = False
    found = []
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("## "):
            found.append(line.removeprefix("## "))
    return found


def test_the_readme_fits_on_a_page():
    assert len(README.read_bytes()) <= 10_000


def test_the_readme_says_what_it_is_shows_it_then_the_commands_examples_deploy_config_links():
    text = README.read_text()
    assert headings(text) == [
        "Two commands",
        "Trigger a run and watch it",
        "Deploy to Databricks Apps",
        "Configuration",
        "Benchmarks",
        "Documentation",
    ]
    intro, _, _ = text.partition("## Two commands")
    assert "Databricks Lakeflow Jobs" in intro
    assert intro.rstrip().endswith("(docs/dashboard.png)")  # the screenshot, last of the intro
    assert (ROOT / "docs" / "dashboard.png").is_file()


def test_the_readme_shows_curl_the_browser_and_python():
    section = README.read_text().split("## Trigger a run and watch it")[1].split("\n## ")[0]
    assert "curl -s" in section
    assert "http://127.0.0.1:8000/" in section
    assert "```python" in section


def test_the_readmes_benchmarks_link_the_soaks_report_and_plot_with_its_date_and_machine():
    section = README.read_text().split("## Benchmarks")[1].split("\n## ")[0]
    report = re.search(r"\(bench/results-soak-(\d{4}-\d{2}-\d{2})\.json\)", section)
    assert report is not None, "no link to a soak report"
    day = report.group(1)
    assert f"(bench/results-soak-{day}.png)" in section
    assert (ROOT / "bench" / f"results-soak-{day}.json").is_file()
    assert (ROOT / "bench" / f"results-soak-{day}.png").is_file()
    machine = json.loads((ROOT / "bench" / f"results-soak-{day}.json").read_text())["report"]
    assert machine["minutes"] >= 30
    assert machine["ok"] is True
    assert machine["machine"].split(",")[1].strip() in section  # "2 cores"


def test_the_readme_links_every_page_of_the_docs_and_the_benchmarks():
    links = set(LINK.findall(README.read_text()))
    expected = {f"docs/{page.name}" for page in DOCS} | {"bench/README.md"}
    assert expected - links == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_that_exists(page):
    targets = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t)]
    missing = [t for t in targets if not (page.parent / t.split("#")[0]).exists()]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_named_exists(page):
    named = REPO_PATH.findall(page.read_text())
    # `service/X.py` and `tests/test_X.py` name a pattern, not a file.
    named = [path for path in named if not re.search(r"(^|[/_])X(\.|/|$)", path)]
    # What `make app-bundle` stages is built, not kept: deploy/databricks-app/build/.
    named = [path for path in named if not path.startswith("deploy/databricks-app/build")]
    missing = [path for path in named if not (ROOT / path).exists()]
    assert missing == []


DOCUMENTS = sorted((ROOT / "docs").glob("*.md"))
PATH = re.compile(r"(?<![\w/.])(?:service|tests)/[\w/.-]*[\w/]")
DOTTED = re.compile(r"(?<![\w/.])service(?:\.\w+)+")
# Logger names are not modules: `logger service.audit` stays as the log line writes it.
LOGGER = re.compile(r"logger\W*$")


def missing_paths(text: str) -> list[str]:
    return sorted({p for p in PATH.findall(text) if not (ROOT / p.rstrip("/")).exists()})


def missing_names(text: str) -> list[str]:
    missing = set()
    for match in DOTTED.finditer(text):
        if LOGGER.search(text, max(0, match.start() - 12), match.start()):
            continue
        if not resolves(match.group(0)):
            missing.add(match.group(0))
    return sorted(missing)


def resolves(dotted: str) -> bool:
    """`service.x.y` is a module, or `service.x` defines `y` (and `y` has `z`, ...)."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:n]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[n:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_path_a_document_names_exists(document: Path) -> None:
    assert missing_paths(document.read_text()) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_module_a_document_names_exists(document: Path) -> None:
    assert missing_names(document.read_text()) == []


def test_a_moved_or_misspelt_name_is_caught() -> None:
    text = "`service.nowhere`, service/runs/nowhere.py and `service.runs.follow.Nowhere`"
    assert missing_names(text) == ["service.nowhere", "service.runs.follow.Nowhere"]
    assert missing_paths(text) == ["service/runs/nowhere.py"]


def test_a_logger_s_name_is_not_a_module() -> None:
    assert missing_names("one line (logger `service.audit`) per write") == []
