"""Handover service. Alih kelola: city readiness, the handover process, the pemkot integration feed."""
