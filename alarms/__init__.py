"""Alarm handling: escalation policies, on-call rotas, notification channels, the log of every notice."""
