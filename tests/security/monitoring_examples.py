"""Authorisation-matrix examples for the monitoring endpoints: the dashboard's JSON API and its pages.

The matrix walks the routes in the order they are declared, so the freeze example (POST /reports) runs
before the frozen report's read: the national admin freezes each city's report once (own city, other
city), and the read then finds it. The quarter has ended, so the freeze is allowed to happen.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.security.common import Request, kelurahan

QUARTER = "2020-Q4"
# The exports the matrix takes turns at: the tables of a region and of its kelurahan, which every role
# may read in its own scope (a city's own tables, like its page, are not a facilitator's: the
# integration tests check those refusals).
EXPORTED = ("cities", "timeline", "blm", "tranches", "ksm", "par-trend", "portfolio", "handovers")


def within(path: str) -> Callable[[str, int], Request]:
    """A read of ``path`` filtered to the example's city."""
    return lambda city, n: Request("GET", path, params={"within": city})


EXAMPLES = {
    ("monitoring", "GET", "/overview"): within("/overview"),
    ("monitoring", "GET", "/cities/{city_code}"): lambda city, n: Request("GET", f"/cities/{city}"),
    ("monitoring", "GET", "/kelurahan/{kelurahan_code}"): lambda city, n: Request(
        "GET", f"/kelurahan/{kelurahan(city)}"
    ),
    ("monitoring", "GET", "/portfolio"): within("/portfolio"),
    ("monitoring", "GET", "/handovers"): within("/handovers"),
    ("monitoring", "GET", "/projections"): lambda city, n: Request("GET", "/projections"),
    ("monitoring", "POST", "/projections/monitoring.facts/rebuild"): lambda city, n: Request(
        "POST", "/projections/monitoring.facts/rebuild"
    ),
    ("monitoring", "POST", "/reports"): lambda city, n: Request(
        "POST", "/reports", {"quarter": QUARTER, "scope": city}
    ),
    ("monitoring", "GET", "/reports/{quarter}/{scope}"): lambda city, n: Request(
        "GET", f"/reports/{QUARTER}/{city}"
    ),
    ("monitoring", "GET", "/exports/{table}.{fmt}"): lambda city, n: Request(
        "GET",
        f"/exports/{EXPORTED[n % len(EXPORTED)]}.{('csv', 'xlsx')[n // len(EXPORTED) % 2]}",
        params={"within": city},
    ),
    ("monitoring", "GET", "/dashboard"): within("/dashboard"),
    ("monitoring", "GET", "/dashboard/cities/{city_code}"): lambda city, n: Request(
        "GET", f"/dashboard/cities/{city}", params={"lang": ("id", "en")[n % 2]}
    ),
    ("monitoring", "GET", "/dashboard/kelurahan/{kelurahan_code}"): lambda city, n: Request(
        "GET", f"/dashboard/kelurahan/{kelurahan(city)}"
    ),
    ("monitoring", "GET", "/dashboard/portfolio"): within("/dashboard/portfolio"),
    ("monitoring", "GET", "/dashboard/handovers"): within("/dashboard/handovers"),
}
