"""The program simulator: a whole program period, for a seed, driven through the services' HTTP API.

Real regions (Kota Semarang first), synthetic people, and the program's usual course with its usual
troubles: late kelurahan, rejected RKM, lapsed BKM terms, blocked tranches, late and defaulting
borrowers, handovers that stall. ``simulate`` plans it all from the seed, then sends it.
"""

from services.simulator.driver import SimulationError
from services.simulator.program import SimulationReport, simulate

__all__ = ["SimulationError", "SimulationReport", "simulate"]
