"""E-mail addresses, phone numbers and time zones of accounts: checked and normalised on the way in."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from marketplace import messages
from marketplace.clock import zone_named

MAX_EMAIL_CHARS = 254
# One @, a local part without spaces, a domain with at least one dot and a 2+ letter TLD.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$"
)
# Digits with the usual separators; an optional leading + (international) and an extension.
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-]{5,30}$")


def normalise_email(value: Any) -> str | None:
    """A trimmed address with a lower-case domain, None for empty; ValueError (Chinese) if bad."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(messages.EMAIL_INVALID)
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL_CHARS or not _EMAIL.match(text) or ".." in text:
        raise ValueError(messages.EMAIL_INVALID)
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def normalise_phone(value: Any) -> str | None:
    """A trimmed phone number (mobile 1xxxxxxxxxx, landline 029-12345678, +86 …), None if empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(messages.PHONE_INVALID)
    text = " ".join(value.split())
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if not _PHONE_CHARS.match(text) or not 7 <= len(digits) <= 15:
        raise ValueError(messages.PHONE_INVALID)
    if text.startswith("1") and len(digits) == 11 and digits.isdigit() and text == digits:
        if digits[1] not in "3456789":
            raise ValueError(messages.PHONE_INVALID)
    return text


def normalise_timezone(value: Any) -> str:
    """An IANA zone name this machine knows (Europe/London), exactly as the tz database spells it;
    a city's Chinese name as pages show it (罗马, 伦敦时间) is read as its zone."""
    if not isinstance(value, str):
        raise ValueError(messages.TIMEZONE_INVALID)
    key = zone_named(value)
    if key is None:
        raise ValueError(messages.TIMEZONE_INVALID)
    return key


Email = Annotated[str | None, BeforeValidator(normalise_email)]
Phone = Annotated[str | None, BeforeValidator(normalise_phone)]
TimeZoneName = Annotated[str, BeforeValidator(normalise_timezone)]
