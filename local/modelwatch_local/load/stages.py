"""Load stages: so many users for so many seconds (``"4:20,8:10"``), shared by the profile and its runner."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    users: int
    seconds: float


def parse_stages(text: str) -> list[Stage]:
    """``"users:seconds,..."`` as stages.

    Raises
    ------
    ValueError
        A stage is not ``users:seconds`` with at least one user and a positive duration.
    """
    stages = []
    for part in text.split(","):
        users, _, seconds = part.strip().partition(":")
        stage = Stage(int(users), float(seconds))
        if stage.users < 1 or stage.seconds <= 0:
            raise ValueError(f"stage {part!r}: at least one user for a positive number of seconds")
        stages.append(stage)
    if not stages:
        raise ValueError("no stages")
    return stages


def format_stages(stages: list[Stage]) -> str:
    """The ``MODELWATCH_LOAD_STAGES`` value of ``stages``."""
    return ",".join(f"{s.users}:{s.seconds:g}" for s in stages)
