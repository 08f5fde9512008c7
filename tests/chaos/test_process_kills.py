"""SIGKILL of each kind of process while commands keep coming: a service handling commands, its relay
mid-batch, a projection mid-batch, the handover's feed and deliveries. After each: every acknowledged
command stored once, nothing booked twice, streams in order, the ledger's invariants, and the
monitoring read model equal to a clean rebuild from the topics."""

from __future__ import annotations

from tests.chaos.conftest import Chaos


async def test_sigkill_of_a_service_handling_commands(chaos: Chaos) -> None:
    async def fault() -> None:
        chaos.platform.kill("ledger-api")
        await chaos.restart("ledger-api")

    report, _ = await chaos.under_load("sigkill ledger-api", fault)
    # The ledger was away for a while: its clients saw it (no answer, then retries that landed once).
    assert any(s.attempts > 1 for s in report.sent if s.kind == "repayment"), report.summary()


async def test_sigkill_of_a_relay_mid_batch(chaos: Chaos) -> None:
    async def fault() -> None:
        chaos.platform.kill("ledger-relay")
        await chaos.restart("ledger-relay")

    await chaos.under_load("sigkill ledger-relay", fault)


async def test_sigkill_of_a_projection_mid_batch(chaos: Chaos) -> None:
    async def fault() -> None:
        chaos.platform.kill("monitoring-consumers")
        await chaos.restart("monitoring-consumers")

    await chaos.under_load("sigkill monitoring-consumers", fault)


async def test_sigkill_of_the_handover_feed_mid_delivery(chaos: Chaos) -> None:
    async def fault() -> None:
        chaos.platform.kill("handover-consumers")
        await chaos.restart("handover-consumers")

    await chaos.under_load("sigkill handover-consumers", fault)
