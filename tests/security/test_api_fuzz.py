"""Schemathesis over the app's own OpenAPI: every operation, as each role, a bounded number of
examples: no server error, and every documented response matches its schema."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import make_settings
from tests.security.conftest import in_savepoint
from web.app import create_app

# Anonymous calls only meet the 401 guard and admin acts as staff: the matrix covers both.
ROLES = ("district_own", "expert_own", "staff")
CHECKS = [not_a_server_error, response_schema_conformance]
MAX_EXAMPLES = int(os.environ.get("HEART_FUZZ_EXAMPLES", "5"))
# The coverage phase adds boundary and negative examples per operation (nulls, huge numbers,
# unexpected methods); on by default, HEART_FUZZ_COVERAGE=0 for a quicker local run.
COVERAGE_PHASE = os.environ.get("HEART_FUZZ_COVERAGE", "1") != "0"


def _schema_app():  # type: ignore[no-untyped-def]
    """An app built only to serve its OpenAPI document at collection time (no database use)."""
    return create_app(make_settings(Path(tempfile.mkdtemp(prefix="heart-openapi-"))))


# Loaded at collection (schemathesis' fixture-based loader relies on pytest internals that
# pytest 9 removed); every call is then sent to the module's app with its rolled-back world.
pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    _schema_app(),
    config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": COVERAGE_PHASE}}}),
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_responses_match_the_schema(case, matrix):  # type: ignore[no-untyped-def]
    for role in ROLES:
        in_savepoint(
            matrix,
            lambda role=role: case.call_and_validate(
                headers=matrix.world.headers[role], checks=CHECKS, app=matrix.client.app
            ),
        )
