"""Tests of core/: the engine, outbox, follow-ups, dialogue, tickets and reports."""
