"""Ledger service. Fund ledger: BLM allocations and tranches, grants, revolving loans, UPK indicators."""
