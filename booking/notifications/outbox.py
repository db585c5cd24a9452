"""The notification outbox: rows written with the change that caused them, delivered by SMTP.

Delivery claims each row in its own committed transaction before sending, and never releases a
claim whose send may have reached the server, so a message is sent at most once even with
several workers or a crash mid-run.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from typing import Any, cast

import icalendar
from sqlalchemy import update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col, select

from booking.locking import serialized_session
from booking.notifications.models import BookingNotification
from marketplace import messages
from marketplace.clock import utcnow
from marketplace.settings import Settings

MAX_ATTEMPTS = 5


def enqueue(
    *,
    session: Session,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    dedupe_key: str,
    booking_id: int | None = None,
    ics: bytes | None = None,
    ics_method: str | None = None,
) -> bool:
    """Queue one e-mail unless one with the same `dedupe_key` exists; True when queued."""
    exists = session.exec(
        select(BookingNotification.id).where(BookingNotification.dedupe_key == dedupe_key)
    ).first()
    if exists is not None:
        return False
    session.add(
        BookingNotification(
            booking_id=booking_id,
            kind=kind,
            recipient=recipient,
            subject=subject[:200],
            body=body,
            ics=ics.decode("utf-8") if ics else None,
            ics_method=ics_method,
            dedupe_key=dedupe_key[:200],
        )
    )
    return True


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _organizer_mailbox(ics: str, sender: str) -> bytes:
    """The .ics with ORGANIZER set to the sender's mailbox where it had no address of its own."""
    calendar = icalendar.Calendar.from_ical(ics)
    for event in calendar.walk("VEVENT"):
        organizer = event.get("ORGANIZER")
        if organizer is None or not str(organizer).lower().startswith("mailto:"):
            name = organizer.params.get("CN") if organizer is not None else None
            address = icalendar.vCalAddress(f"mailto:{sender}")
            if name:
                address.params["CN"] = name
            if organizer is not None:
                del event["ORGANIZER"]
            event.add("organizer", address, encode=False)
    return calendar.to_ical()


def _html(text: str, link: str | None) -> str:
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip())
    if link:
        paragraphs += (
            f'<p><a href="{escape(link, quote=True)}">{escape(messages.MAIL_LINK_LABEL)}</a></p>'
        )
    return f'<!doctype html><html lang="zh-CN"><body>{paragraphs}</body></html>'


def build_message(row: BookingNotification, sender: str, base_url: str = "") -> EmailMessage:
    """The e-mail for one outbox row, shaped the way calendar clients act on it.

    multipart/mixed [ multipart/alternative [ text/plain, text/html, text/calendar; method=...;
    charset=UTF-8 ], the .ics as an attachment ]. Outlook reads the inline text/calendar part,
    Gmail and Apple Calendar the attachment; a PUBLISH notice (to the organizer or staff) has
    no inline calendar part, so no client offers to answer it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=f"heart-{row.id}")
    link = f"{base_url.rstrip('/')}/bookings/{row.booking_id}" if row.booking_id else None
    text = row.body.rstrip("\n")
    if link:
        text += "\n" + messages.MAIL_LINK.format(url=link)
    message.set_content(text + "\n")
    message.add_alternative(_html(row.body, link), subtype="html")
    if row.ics:
        ics = _organizer_mailbox(row.ics, sender)
        method = row.ics_method or "REQUEST"
        if method != "PUBLISH":
            message.add_alternative(
                ics,
                maintype="text",
                subtype="calendar",
                params={"method": method, "charset": "UTF-8"},
            )
        message.add_attachment(
            ics,
            maintype="application",
            subtype="ics",
            filename="invite.ics",
        )
    return message


def _claim(engine: Engine, row_id: int) -> BookingNotification | None:
    with serialized_session(engine) as session:
        # an UPDATE's result is a CursorResult (rowcount); Session.execute is typed as Result
        result = cast(
            CursorResult[Any],
            session.execute(
                update(BookingNotification)
                .where(
                    col(BookingNotification.id) == row_id,
                    col(BookingNotification.sent_at).is_(None),
                    col(BookingNotification.claimed_at).is_(None),
                )
                .values(claimed_at=utcnow(), attempts=BookingNotification.attempts + 1)
            ),
        )
        if result.rowcount != 1:
            return None
        return session.get(BookingNotification, row_id)


def _finish(engine: Engine, row_id: int, *, sent: bool, error: str | None = None) -> None:
    with serialized_session(engine) as session:
        row = session.get(BookingNotification, row_id)
        if row is None:
            return
        if sent:
            row.sent_at = utcnow()
            row.last_error = None
        else:
            # The server refused before accepting the message: safe to try again later.
            row.last_error = (error or "")[:500]
            if row.attempts < MAX_ATTEMPTS:
                row.claimed_at = None
        session.add(row)


def deliver_pending(*, engine: Engine, settings: Settings, limit: int = 200) -> DeliveryReport:
    """Send queued e-mails over SMTP (when HEART_SMTP_HOST is set); each at most once."""
    report = DeliveryReport()
    if not settings.smtp_host:
        return report
    with Session(engine) as session:
        ids = [
            row_id
            for row_id in session.exec(
                select(BookingNotification.id)
                .where(col(BookingNotification.sent_at).is_(None))
                .where(col(BookingNotification.claimed_at).is_(None))
                .order_by(col(BookingNotification.id))
                .limit(limit)
            ).all()
            if row_id is not None
        ]
    if not ids:
        return report
    try:
        connection = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
    except (OSError, smtplib.SMTPException) as exc:
        # The server is down: nothing was claimed, so every message stays queued for next time.
        report.errors.append(
            f"SMTP {settings.smtp_host}:{settings.smtp_port}: {type(exc).__name__}"
        )
        return report
    with connection as smtp:
        for row_id in ids:
            row = _claim(engine, row_id)
            if row is None:
                report.skipped += 1
                continue
            try:
                smtp.send_message(build_message(row, settings.smtp_sender, settings.public_url))
            except (
                smtplib.SMTPRecipientsRefused,
                smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError,
            ) as exc:
                _finish(engine, row_id, sent=False, error=f"{type(exc).__name__}: {exc}")
                report.failed += 1
                report.errors.append(f"{row.recipient}: {type(exc).__name__}")
                continue
            except (OSError, smtplib.SMTPException) as exc:
                # The connection broke: whether the server took the message is unknown, so the
                # claim is kept (never resent automatically) and the error recorded for staff.
                _finish_unknown(engine, row_id, f"{type(exc).__name__}: {exc}")
                report.failed += 1
                report.errors.append(f"{row.recipient}: {type(exc).__name__}")
                break
            _finish(engine, row_id, sent=True)
            report.sent += 1
    return report


def _finish_unknown(engine: Engine, row_id: int, error: str) -> None:
    with serialized_session(engine) as session:
        row = session.get(BookingNotification, row_id)
        if row is not None:
            row.last_error = f"unknown delivery state: {error}"[:500]
            session.add(row)
