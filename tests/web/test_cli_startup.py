"""Light `heart` commands start fast: the command line imports a command's module only when that
command runs, so `heart --help` imports no database, search or model library, and `heart users
list` none of search, matching, booking or the models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET
from web.cli import COMMANDS, app

HEAVY = ("onnxruntime", "torch", "jieba", "sklearn", "scipy", "numpy", "transformers")
ROOT = Path(__file__).resolve().parents[2]


def modules_after(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `heart ARGS`."""
    probe = (
        "import json, sys\n"
        "from web.cli import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_heart_help_imports_no_model_search_or_database_library():
    loaded = modules_after(["--help"])
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert not loaded & {"sqlalchemy", "sqlmodel", "fastapi", "web.cli.common"}


def test_users_list_imports_neither_search_nor_matching_nor_models(tmp_path):
    env = {
        "HEART_ENVIRONMENT": "test",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATA_DIR": str(tmp_path),
    }
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    loaded = modules_after(["users", "list"], env)
    assert "sqlmodel" in loaded  # it did read the database
    assert not loaded & {*HEAVY, "search", "matching", "booking", "fastapi", "uvicorn"}


def test_every_listed_command_is_its_modules_and_the_help_lists_what_they_register():
    """`COMMANDS` (what `heart --help` lists without importing) says what the modules register:
    the same names, each from its module, with the same one-line help."""
    for name, entry in COMMANDS.items():
        part = typer.Typer()
        __import__(f"web.cli.{entry.module}", fromlist=["register"]).register(part)
        registered = typer.main.get_group(part).commands
        assert name in registered, (name, entry.module)
        command = registered[name]
        assert (command.help or "").strip() == entry.help, name
    listed = CliRunner().invoke(app, ["--help"])
    assert listed.exit_code == 0
    flat = "".join(listed.output.split())
    for name, entry in COMMANDS.items():
        assert name in flat and "".join(entry.help.split())[:12] in flat


def test_a_command_still_runs_and_shows_its_own_options():
    shown = CliRunner().invoke(app, ["index", "--help"])
    assert shown.exit_code == 0 and "--status" in shown.output
    unknown = CliRunner().invoke(app, ["nonsense"])
    assert unknown.exit_code == 2 and "No such command" in unknown.output
