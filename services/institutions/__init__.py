"""Institutions service. Community institutions: the kelurahan cycle, BKM elections, KSM, cadre training."""
