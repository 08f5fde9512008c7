"""Events of poverty mapping (Pemetaan Swadaya), published by the targeting service on
``p2kp.targeting.events``: criteria versions, survey counts and PS-2 list versions with pseudonymous
household ids only."""

from __future__ import annotations
