"""The deployment samples in deploy/: the systemd units pass `systemd-analyze verify`, the nginx
server block passes `nginx -t` (Debian's nginx), and the units' command lines parse as `heart`
commands. scripts/test installs nginx, systemd and openssl; outside CI a missing tool skips only
the test that needs it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
import typer

from web.cli import app as heart_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ["heart-hub.service", "heart-worker.service"]
VENV_HEART = "/opt/heart-hub/venv/bin/heart"


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        if os.environ.get("CI") or os.environ.get("HEART_TEST_DEPLOY_TOOLS") == "required":
            pytest.fail(f"{name} is missing: scripts/test installs it")
        pytest.skip(f"{name} is not installed (scripts/test installs it)")
    return found


def exec_start(unit: str) -> list[str]:
    lines = (DEPLOY / unit).read_text(encoding="utf-8").splitlines()
    [line] = [line for line in lines if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.mark.parametrize("unit", UNITS)
def test_the_systemd_unit_passes_systemd_analyze_verify(unit, tmp_path):
    analyze = tool("systemd-analyze")
    # verify insists that ExecStart's program exists: stand in for the installed venv.
    heart = tmp_path / "heart"
    heart.write_text("#!/bin/sh\n", encoding="utf-8")
    heart.chmod(0o755)
    copy = tmp_path / unit
    copy.write_text(
        (DEPLOY / unit).read_text(encoding="utf-8").replace(VENV_HEART, str(heart)),
        encoding="utf-8",
    )
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    findings = [line for line in (result.stdout + result.stderr).splitlines() if unit in line]
    assert result.returncode == 0 and findings == [], result.stdout + result.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_command_line_is_a_valid_heart_command(unit):
    program, *args = exec_start(unit)
    assert program == VENV_HEART
    group = typer.main.get_command(heart_app)
    name, *rest = args
    parent = click.Context(group, info_name="heart")
    command = group.get_command(parent, name)  # type: ignore[attr-defined]
    assert command is not None, name
    command.make_context(name, rest, parent=parent)  # raises on an unknown option or bad value


def test_the_nginx_server_block_passes_nginx_t(tmp_path):
    nginx = tool("nginx")
    openssl = tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=heart.test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (DEPLOY / "nginx-heart-hub.conf").read_text(encoding="utf-8")
    site = (
        site.replace("/etc/ssl/heart-hub/fullchain.pem", str(cert))
        .replace("/etc/ssl/heart-hub/privkey.pem", str(key))
        .replace("/var/log/nginx/heart-hub.access.log", str(tmp_path / "access.log"))
    )
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    # As Debian's nginx.conf does for sites-enabled/: the server block inside http {}.
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", f"{tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "[warn]" not in result.stderr, result.stderr
