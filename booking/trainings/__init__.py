"""Trainings: sessions open to every district, with registrations up to capacity."""
