"""Stage a Databricks App's source: the sidecar as Apps installs and starts it (make app-bundle).

    python3 deploy/databricks-app/stage.py [DEST] [--config FILE] [--no-app-yaml]

DEST (default: deploy/databricks-app/build, the bundle's source_code_path) receives:

    app.yaml             how Apps starts it (this folder's; --no-app-yaml keeps DEST's own, for
                         an app of yours that runs the sidecar beside it: examples/node-app/)
    requirements.txt     the runtime dependencies exactly as uv.lock has them, with hashes: Apps
                         pip-installs it before starting the app
    service/             the package as its wheel holds it: its modules and static/ files
    jobs_sidecar-<version>.dist-info/
                         the package's metadata (name, version, console script), so that
                         importlib.metadata finds it beside the code
    config/jobs.toml     the job settings (--config; default config/jobs.toml)

Apps runs `python -m service serve` in DEST, so Python imports the package from there: nothing
of the project itself is pip-installed, and the requirements file stays the lock's own. Only
what this script writes is replaced; anything else in DEST is left alone.
"""

from __future__ import annotations

import argparse
import shutil
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGE = "service"


def stage(dest: Path, config: Path, *, app_yaml: bool = True) -> None:
    """Write the app's source into `dest` (created if missing)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dest.mkdir(parents=True, exist_ok=True)
    if app_yaml:
        shutil.copyfile(HERE / "app.yaml", dest / "app.yaml")
    shutil.copyfile(HERE / "requirements.txt", dest / "requirements.txt")
    _copy_package(dest)
    _write_metadata(dest, project)
    (dest / "config").mkdir(exist_ok=True)
    shutil.copyfile(config, dest / "config" / "jobs.toml")


def _copy_package(dest: Path) -> None:
    """The modules of every package under service/ and its static files, as the wheel has them
    (pyproject: packages `service*`, package data `static/*`); no caches."""
    target = dest / PACKAGE
    if target.exists():
        shutil.rmtree(target)
    source = ROOT / PACKAGE
    for init in sorted(source.rglob("__init__.py")):
        folder = init.parent
        for module in folder.glob("*.py"):
            out = target / module.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(module, out)
    shutil.copytree(source / "static", target / "static")


def _write_metadata(dest: Path, project: dict[str, object]) -> None:
    """A dist-info directory (core metadata 2.1) naming the package, its version and script."""
    name, version = str(project["name"]), str(project["version"])
    for old in dest.glob(f"{name.replace('-', '_')}-*.dist-info"):
        shutil.rmtree(old)
    info = dest / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        f"Summary: {project['description']}\n"
        f"Requires-Python: {project['requires-python']}\n"
    )
    scripts = project.get("scripts")
    entries = scripts.items() if isinstance(scripts, dict) else ()
    lines = "".join(f"{script} = {target}\n" for script, target in entries)
    (info / "entry_points.txt").write_text(f"[console_scripts]\n{lines}")
    (info / "top_level.txt").write_text(f"{PACKAGE}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default=str(HERE / "build"))
    parser.add_argument("--config", default=str(ROOT / "config" / "jobs.toml"))
    parser.add_argument("--no-app-yaml", action="store_true")
    args = parser.parse_args()
    stage(Path(args.dest), Path(args.config), app_yaml=not args.no_app_yaml)
    print(f"staged the app's source in {args.dest}")


if __name__ == "__main__":
    main()
