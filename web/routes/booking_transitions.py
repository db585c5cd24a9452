"""The booking transitions that need nothing but the booking (and, for two, a reason): confirm,
decline, cancel, accept or decline a proposed time, complete, no-show. One table serves the
API (`bookings.py`: the booking as JSON) and the pages (`pages_bookings.py`: back to the list
with a flash), so a transition's path, permission and service function are written once.

Reschedule and rating take more than a reason and keep their own routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from booking.sessions import service as sessions_service
from booking.sessions.models import Booking
from marketplace.accounts.permissions import Action


@dataclass(frozen=True)
class Transition:
    """One step of a booking's life cycle as both surfaces offer it."""

    path: str  # after /bookings/{booking_id}/
    action: Action
    apply: Callable[..., Booking]  # the service function: (session, booking_id, user[, reason])
    api_summary: str
    page_summary: str
    flash: str  # the page's message key after the redirect (web.pages.FLASH)
    needs_reason: bool = False

    @property
    def name(self) -> str:
        """The route's name: the service function's (confirm_booking, mark_no_show, …)."""
        return self.apply.__name__


TRANSITIONS = (
    Transition(
        "confirm",
        Action.booking_respond,
        sessions_service.confirm_booking,
        "专家确认",
        "确认预约",
        "booking_confirmed",
    ),
    Transition(
        "decline",
        Action.booking_respond,
        sessions_service.decline_booking,
        "专家拒绝（需原因）",
        "拒绝预约",
        "booking_declined",
        needs_reason=True,
    ),
    Transition(
        "cancel",
        Action.booking_change,
        sessions_service.cancel_booking,
        "取消（需原因）",
        "取消预约",
        "booking_cancelled",
        needs_reason=True,
    ),
    Transition(
        "proposal/accept",
        Action.booking_create,
        sessions_service.accept_proposal,
        "接受专家的改期提议",
        "接受改期提议",
        "booking_proposal_accepted",
    ),
    Transition(
        "proposal/decline",
        Action.booking_create,
        sessions_service.decline_proposal,
        "拒绝专家的改期提议（保持原时间）",
        "拒绝改期提议",
        "booking_proposal_declined",
    ),
    Transition(
        "complete",
        Action.booking_respond,
        sessions_service.complete_booking,
        "标记完成",
        "标记为已完成",
        "booking_completed",
    ),
    Transition(
        "no-show",
        Action.booking_respond,
        sessions_service.mark_no_show,
        "标记未出席",
        "标记为未出席",
        "booking_no_show",
    ),
)
