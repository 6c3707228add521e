"""Senders: turn a message into a delivered robot post. They know nothing of jobs."""
