"""Booking e-mails: the outbox, reminders and crisis escalation."""
