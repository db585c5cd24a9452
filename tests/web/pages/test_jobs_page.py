"""The admin's 定时任务 page: jobs by their Chinese names with what each does, times in the
viewer's own zone, and technical details (job keys, the process holding the lease) folded."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from marketplace.clock import utcnow
from marketplace.jobs.models import JobState, SchedulerLease
from marketplace.messages import JOB_DESCRIPTIONS, JOB_LABELS
from marketplace.vocabulary import Role
from tests.conftest import make_user
from tests.web.pages.conftest import logged_in


def _outside_folds(html: str) -> str:
    """The page as read without opening any 技术信息 fold."""
    return re.sub(
        r"<details>.*?</details>|<details class=[^>]*>.*?</details>", "", html, flags=re.S
    )


def test_the_jobs_page_names_each_job_in_chinese_says_what_it_does_and_folds_technical_details(
    client, session
):
    admin = make_user(session, Role.admin, username="jobs-admin")
    admin.timezone = "Europe/London"
    last = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)  # 16:30 in Beijing, 08:30 in London
    session.add(admin)
    session.add(
        JobState(
            name="crisis_escalation",
            interval_seconds=60,
            last_started_at=last,
            last_success_at=last,
            last_duration_ms=3,
            last_summary="升级 0 个危机预约",
            next_run_at=last + timedelta(hours=1),
        )
    )
    session.add(
        JobState(
            name="mail_delivery",
            interval_seconds=60,
            last_started_at=last,
            last_error_at=last,
            last_error="邮件发送失败：ConnectionRefusedError(111)",
            consecutive_failures=2,
        )
    )
    session.add(
        SchedulerLease(
            name="scheduler",
            holder="vm:20731:4f24396e",
            acquired_at=utcnow(),
            expires_at=utcnow() + timedelta(minutes=5),
        )
    )
    session.commit()
    logged_in(client, admin)
    page = client.get("/admin/jobs").text
    shown = _outside_folds(page)
    row = shown.split('id="job-crisis_escalation"')[1].split("</tr>")[0]
    assert JOB_LABELS["crisis_escalation"] in row and JOB_DESCRIPTIONS["crisis_escalation"] in row
    assert "12-05 08:30" in row and "12-05 09:30" in row  # London time, not Beijing's 16:30
    assert "16:30" not in row and "伦敦时间" in shown
    # No job key and no process id unless the admin opens a fold.
    body = shown.split("<main", 1)[1]
    assert "crisis_escalation" not in re.sub(r'(id|action)="[^"]*"', "", body)
    assert "20731" not in shown and "4f24396e" not in shown and "运行中" in shown
    mail = shown.split('id="job-mail_delivery"')[1].split("</tr>")[0]
    assert "连续 2 次" in mail and "ConnectionRefusedError" in mail
    assert "vm:20731:4f24396e" in page and "<code>crisis_escalation</code>" in page  # folded
