"""Targeting service: regions, program periods, verification of kelurahan sasaran, PS-2 lists."""
