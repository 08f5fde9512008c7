"""A grant (hibah) from the BKM's BLM to a KSM lingkungan or sosial, against its approved proposal:
approved (the BLM is committed to the KSM), disbursed (paid from the bank), its LPJ accepted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.ledger.accounts import entry
from shared.aggregate import Aggregate
from shared.contracts.institutions import KsmType
from shared.contracts.ledger import GrantApproved, GrantDisbursed, GrantLpjAccepted
from shared.errors import Conflict
from shared.events import DomainEvent

GRANTED_TYPES = (KsmType.LINGKUNGAN, KsmType.SOSIAL)


@dataclass
class Grant(Aggregate):
    grant_id: uuid.UUID
    approved: GrantApproved | None = None
    disbursed_on: date | None = None
    lpj_accepted_on: date | None = None

    @property
    def stream(self) -> str:
        return f"grant-{self.grant_id}"

    @property
    def city_code(self) -> str | None:
        return self.approved.kelurahan_code[:5] if self.approved else None

    def _ids(self) -> dict[str, Any]:
        assert self.approved is not None
        a = self.approved
        return {
            "period_code": a.period_code,
            "kelurahan_code": a.kelurahan_code,
            "grant_id": self.grant_id,
            "ksm_id": a.ksm_id,
        }

    def approve(
        self,
        *,
        period_code: str,
        kelurahan_code: str,
        ksm_id: uuid.UUID,
        ksm_type: KsmType,
        proposal: str,
        purpose: str,
        amount: int,
        approved_on: date,
    ) -> None:
        if self.exists:
            raise Conflict(f"Grant {self.grant_id} already exists.")
        if ksm_type not in GRANTED_TYPES:
            raise Conflict(
                f"KSM {ksm_id} is a KSM {ksm_type}; grants go to KSM lingkungan and sosial "
                "(a KSM ekonomi borrows from the revolving fund)."
            )
        self._trigger(
            GrantApproved(
                period_code=period_code,
                kelurahan_code=kelurahan_code,
                grant_id=self.grant_id,
                ksm_id=ksm_id,
                proposal=proposal,
                purpose=purpose,
                amount_rupiah=amount,
                approved_on=approved_on,
                entry=entry(
                    kelurahan_code,
                    approved_on,
                    f"Hibah ke KSM {ksm_id}: {purpose}"[:300],
                    debit={"grant-expense": amount},
                    credit={f"grants-payable:{ksm_id}": amount},
                ),
            )
        )

    def disburse(self, on: date) -> None:
        assert self.approved is not None
        if self.disbursed_on is not None:
            raise Conflict(f"Grant {self.grant_id} was already disbursed on {self.disbursed_on}.")
        if on < self.approved.approved_on:
            raise Conflict(f"Grant {self.grant_id} was approved on {self.approved.approved_on}, after {on}.")
        a = self.approved
        self._trigger(
            GrantDisbursed(
                **self._ids(),
                disbursed_on=on,
                entry=entry(
                    a.kelurahan_code,
                    on,
                    f"Penyaluran hibah {self.grant_id}",
                    debit={f"grants-payable:{a.ksm_id}": a.amount_rupiah},
                    credit={"bank": a.amount_rupiah},
                ),
            )
        )

    def accept_lpj(self, document: str, on: date) -> None:
        if self.disbursed_on is None:
            raise Conflict(f"Grant {self.grant_id} has not been disbursed; its LPJ comes after.")
        if self.lpj_accepted_on is not None:
            raise Conflict(f"The LPJ of grant {self.grant_id} was accepted on {self.lpj_accepted_on}.")
        self._trigger(GrantLpjAccepted(**self._ids(), document=document, accepted_on=on))

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case GrantApproved():
                self.approved = event
            case GrantDisbursed(disbursed_on=day):
                self.disbursed_on = day
            case GrantLpjAccepted(accepted_on=day):
                self.lpj_accepted_on = day
