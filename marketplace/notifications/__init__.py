"""In-app notifications: one inbox entry per event that concerns a user."""
