"""Cadre training: each period's catalogue of modules, and the trainings delivered in a kelurahan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import Aggregate
from shared.contracts.institutions import (
    Audience,
    Participant,
    TrainerRole,
    TrainingDelivered,
    TrainingModuleAdded,
)
from shared.errors import Conflict, InvalidInput
from shared.events import DomainEvent


@dataclass
class TrainingCatalogue(Aggregate):
    period_code: str
    modules: dict[str, TrainingModuleAdded] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return f"training-catalogue-{self.period_code}"

    def add_module(self, code: str, title: str, jpl: int, audience: list[Audience]) -> None:
        if code in self.modules:
            raise Conflict(f"Program period {self.period_code} already has training module {code}.")
        self._trigger(
            TrainingModuleAdded(
                period_code=self.period_code, code=code, title=title, jpl=jpl, audience=tuple(audience)
            )
        )

    def module(self, code: str) -> TrainingModuleAdded:
        if code not in self.modules:
            raise Conflict(
                f"The training catalogue of program period {self.period_code} has no module {code}; "
                "add it to the catalogue first."
            )
        return self.modules[code]

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, TrainingModuleAdded):
            self.modules[event.code] = event


@dataclass
class Training(Aggregate):
    training_id: uuid.UUID
    delivered: TrainingDelivered | None = None

    @property
    def stream(self) -> str:
        return f"training-{self.training_id}"

    @property
    def city_code(self) -> str | None:
        return self.delivered.kelurahan_code[:5] if self.delivered else None

    def deliver(
        self,
        module: TrainingModuleAdded,
        kelurahan_code: str,
        delivered_on: date,
        trainer_role: TrainerRole,
        participants: list[Participant],
        today: date,
    ) -> None:
        if self.exists:
            raise Conflict(f"Training {self.training_id} is already recorded.")
        if delivered_on > today:
            raise InvalidInput(f"The training date {delivered_on} is in the future.")
        ids = [p.person_id for p in participants]
        if len(set(ids)) != len(ids):
            raise InvalidInput("The same person appears twice among the participants.")
        outside = sorted({str(p.role) for p in participants if p.role not in module.audience})
        if outside:
            raise InvalidInput(
                f"Module {module.code} is for {', '.join(map(str, module.audience))}, "
                f"not {', '.join(outside)}."
            )
        self._trigger(
            TrainingDelivered(
                training_id=self.training_id,
                period_code=module.period_code,
                kelurahan_code=kelurahan_code,
                module_code=module.code,
                jpl=module.jpl,
                delivered_on=delivered_on,
                trainer_role=trainer_role,
                participants=tuple(participants),
            )
        )

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, TrainingDelivered):
            self.delivered = event
