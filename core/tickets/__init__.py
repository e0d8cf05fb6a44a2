"""Tickets: numbering, routing and priority (`policies`), the statuses and their moves (`lifecycle`), the desk that
opens, assigns and moves them with their SLA clocks (`desk`), and who holds a conversation (`takeover`)."""
