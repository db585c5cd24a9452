"""Availability: an expert's booking policy, weekly rules, exceptions and free slots."""
