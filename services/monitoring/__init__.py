"""Monitoring service: projections of every service's events into the read models behind the dashboard."""
