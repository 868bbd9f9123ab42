"""pyproject.toml: metadata that installs without deprecation warnings, and the console script."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def test_the_license_is_an_spdx_string_not_a_deprecated_table():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"


def test_the_build_backend_understands_an_spdx_license():
    # setuptools reads `license = "<SPDX>"` from 77.0 on; older ones reject it.
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]


def test_the_console_script_runs_the_cli():
    assert PYPROJECT["project"]["scripts"] == {"jobs-sidecar": "service.cli:main"}
