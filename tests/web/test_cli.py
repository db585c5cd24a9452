import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DEMO_EXPERTS, TEST_SECRET, expert_record
from web.cli import app

runner = CliRunner()


@pytest.fixture
def env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
    }


def heart(env: dict[str, str], *args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), env=env, input=stdin)


def test_init_import_export_round_trip_reproduces_every_field(env, tmp_path):
    assert heart(env, "init").exit_code == 0
    first = heart(env, "import", "experts", str(DEMO_EXPERTS))
    assert first.exit_code == 0, first.output
    assert "新增 600" in first.output
    again = heart(env, "import", "experts", str(DEMO_EXPERTS))
    assert "未变 600" in again.output
    out = tmp_path / "out.jsonl"
    assert heart(env, "export", "experts", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8") == DEMO_EXPERTS.read_text(encoding="utf-8")


def test_import_with_bad_lines_exits_1_and_names_each_line(env, tmp_path):
    heart(env, "init")
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(expert_record(id="G1"), ensure_ascii=False),
                json.dumps(expert_record(id="B2", years_experience=999), ensure_ascii=False),
                "{",
            ]
        ),
        encoding="utf-8",
    )
    result = heart(env, "import", "experts", str(path))
    assert result.exit_code == 1
    assert "第 2 行" in result.output and "第 3 行" in result.output
    exported = heart(env, "export", "experts", "-").stdout
    assert [json.loads(line)["id"] for line in exported.splitlines() if line.startswith("{")] == [
        "G1"
    ]


def test_strict_import_of_a_bad_file_imports_nothing(env, tmp_path):
    heart(env, "init")
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(expert_record(id="G1")) + "\nnot json\n", encoding="utf-8")
    result = heart(env, "import", "experts", "--strict", str(path))
    assert result.exit_code == 1
    assert "未导入任何记录" in result.output
    assert "G1" not in heart(env, "export", "experts", "-").stdout


def test_import_of_a_missing_file_is_exit_2(env):
    heart(env, "init")
    result = heart(env, "import", "experts", "/no/such/file.jsonl")
    assert result.exit_code == 2 and "找不到文件" in result.output


def test_users_create_binds_district_users_and_refuses_weak_passwords(env):
    heart(env, "init")
    ok = heart(
        env,
        "users",
        "create",
        "coord",
        "--role",
        "district",
        "--district",
        "西安市/碑林区",
        "--password",
        "strong-pass-1",
    )
    assert ok.exit_code == 0, ok.output
    weak = heart(env, "users", "create", "weak", "--role", "staff", "--password", "short")
    assert weak.exit_code == 1 and "密码" in weak.output
    unbound = heart(
        env, "users", "create", "nodistrict", "--role", "district", "--password", "strong-pass-1"
    )
    assert unbound.exit_code == 1 and "区县" in unbound.output
    dup = heart(env, "users", "create", "coord", "--role", "staff", "--password", "strong-pass-1")
    assert dup.exit_code == 1 and "已存在" in dup.output


def test_a_placeholder_secret_key_stops_commands_outside_demo_and_tests(env):
    result = heart({**env, "HEART_SECRET_KEY": "changeme"}, "init")
    assert result.exit_code == 2 and "HEART_SECRET_KEY" in result.output


def test_users_list_set_role_deactivate_and_reset_password(env):
    heart(env, "init")
    created = heart(
        env,
        "users",
        "create",
        "coord",
        "--role",
        "district",
        "--district",
        "西安市/碑林区",
        "--password",
        "Maple-Lantern-5521",
    )
    assert created.exit_code == 0, created.output
    listed = heart(env, "users", "list", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    assert (row["username"], row["role"], row["district_name"]) == ("coord", "district", "碑林区")

    to_expert = heart(env, "users", "set-role", "coord", "--role", "expert")
    assert to_expert.exit_code == 1 and "专家" in to_expert.output
    to_staff = heart(env, "users", "set-role", "coord", "--role", "staff")
    assert to_staff.exit_code == 0, to_staff.output
    assert (
        json.loads(heart(env, "users", "list", "--json", "--role", "staff").stdout)["role"]
        == "staff"
    )

    assert heart(env, "users", "deactivate", "coord").exit_code == 0
    inactive = heart(env, "users", "list", "--json", "--inactive").stdout
    assert json.loads(inactive)["is_active"] is False
    assert heart(env, "users", "reactivate", "coord").exit_code == 0

    reset = heart(env, "users", "reset-password", "coord")
    assert reset.exit_code == 0
    temporary = reset.stdout.strip().splitlines()[-1]
    assert len(temporary) == 14
    after = json.loads(heart(env, "users", "list", "--json", "--role", "staff").stdout)
    assert after["must_change_password"] is True
    missing = heart(env, "users", "deactivate", "nobody")
    assert missing.exit_code == 1 and "用户不存在" in missing.output


def test_users_create_binds_city_staff_to_their_center(env):
    assert heart(env, "init").exit_code == 0
    password = "Ts9!rq-Lm2#vw"
    made = heart(env, "users", "create", "xian-staff", "--role", "city_staff", "--center", "西安市",
                 "--password", password)  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "city_staff" in made.output
    unbound = heart(
        env, "users", "create", "nowhere", "--role", "city_staff", "--password", password
    )
    assert unbound.exit_code == 1
    assert "市级资源中心" in unbound.output and "--center" in unbound.output  # the option to add
    unknown = heart(env, "users", "create", "far", "--role", "observer", "--center", "东京",
                    "--password", password)  # fmt: skip
    assert unknown.exit_code == 1
    assert "未知资源中心" in unknown.output


def test_cli_commands_act_as_the_system_principal_labelled_cli(env, tmp_path):
    from sqlmodel import select

    from marketplace.audit.models import AuditEntry
    from marketplace.db import make_engine, session_scope
    from tests.conftest import make_settings

    assert heart(env, "init").exit_code == 0
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(expert_record(id="CLI1"), ensure_ascii=False), encoding="utf-8")
    assert heart(env, "import", "experts", str(path)).exit_code == 0
    created = heart(
        env, "users", "create", "cli-observer", "--role", "observer", "--center", "西安市",
        "--password", "Tq8#vLp2!xRm",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    engine = make_engine(make_settings(tmp_path / "read", env["HEART_DATABASE_URL"]))
    try:
        with session_scope(engine) as session:
            entries = session.exec(
                select(AuditEntry).where(
                    AuditEntry.action.in_(["expert.import.create", "user.create"])
                )
            ).all()
            assert {(e.action, e.actor, e.actor_id) for e in entries} == {
                ("expert.import.create", "cli", None),
                ("user.create", "cli", None),
            }
    finally:
        engine.dispose()
