"""The published language: every event a service publishes, under its stable type name.

A publishing service and its consumers import the same models from here (services never import each
other). ``registry`` knows every contract; ``docs/events.md`` lists them.
"""

from shared.events import EventRegistry

registry = EventRegistry()

from shared.contracts import handover, institutions, ledger, povertymap, targeting  # noqa: E402  (modules register themselves)

__all__ = ["handover", "institutions", "ledger", "povertymap", "registry", "targeting"]
