"""The monitoring projection leaves undecoded every payload type not in ``READS``: a type its ``match``
handles but ``READS`` forgets would be skipped in silence, so the two are compared here."""

from __future__ import annotations

import ast
import inspect
import textwrap

from services.monitoring import facts
from shared.contracts import handover, institutions, ledger, targeting
from shared.events import DomainEvent

MODULES = {"t": targeting, "i": institutions, "lg": ledger, "h": handover}


def _matched_classes() -> set[type[DomainEvent]]:
    """The payload classes named in the class patterns of ``FactsProjection._apply``'s ``match``."""
    source = textwrap.dedent(inspect.getsource(facts.FactsProjection._apply))
    found: set[type[DomainEvent]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.MatchClass) and isinstance(node.cls, ast.Attribute):
            module = node.cls.value
            assert isinstance(module, ast.Name)
            found.add(getattr(MODULES[module.id], node.cls.attr))
    return found


def test_every_payload_type_the_projection_matches_is_read() -> None:
    matched = _matched_classes()
    assert len(matched) > 20  # the walk found the match's patterns
    assert matched - facts.READS == set()


def test_the_projection_reads_only_types_it_handles() -> None:
    # Besides the matched classes, the stages are handled through STAGE_OF's guard.
    assert facts.READS - _matched_classes() - set(facts.STAGE_OF) == set()
