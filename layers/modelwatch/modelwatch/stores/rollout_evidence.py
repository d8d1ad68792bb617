"""The rollout job's evidence of one rollout: one JSON document per rollout in the events bucket's state.

``layout.rollout_evidence_key(model, rollout_id)`` holds every window's
:class:`~modelwatch.contracts.rollout.WindowEvidence` by window key (a rerun of a window
replaces its own entry, so nothing is counted twice), the always-valid tests at the last look
(the next look intersects their intervals) and the latest evaluation. Saved conditionally
(:class:`~modelwatch.stores.state.StateStore`): two runs at once cannot lose each other's window.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts import layout
from modelwatch.contracts.rollout import RolloutEvaluation, SequentialTest, WindowEvidence
from modelwatch.stores.objects import ObjectStorage
from modelwatch.stores.state import StateStore


class RolloutEvidence(BaseModel):
    """What the rollout job has gathered on one rollout."""

    model_config = ConfigDict(extra="forbid")

    rollout_id: str = ""
    windows: dict[str, WindowEvidence] = Field(default_factory=dict, description="By window key.")
    tests: dict[str, SequentialTest] = Field(default_factory=dict, description="At the last look.")
    latest: RolloutEvaluation | None = None

    def in_order(self) -> list[WindowEvidence]:
        """The windows, oldest first."""
        return sorted(self.windows.values(), key=lambda window: window.window_start)


def rollout_evidence_store(
    storage: ObjectStorage, bucket: str, model: str, rollout_id: str
) -> StateStore[RolloutEvidence]:
    """The conditional store of ``rollout_id``'s evidence (of ``model``) in ``bucket``."""
    return StateStore(storage, bucket, layout.rollout_evidence_key(model, rollout_id), RolloutEvidence)
