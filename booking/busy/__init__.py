"""Busy calendars: an expert's own calendars (uploaded .ics or polled feeds)."""
