"""Tickets: lifecycle, escalation, the desk, takeover."""
