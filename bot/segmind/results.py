"""What the client hands back: a sheet, the balance, and the steps of an async request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["Balance", "Progress", "RequestStatus", "Sheet", "Submission"]


@dataclass(frozen=True)
class Sheet:
    """A generated character sheet and what Segmind said about the call."""

    image: bytes = field(repr=False)
    content_type: str
    seed: int
    credits_left: float | None
    request_id: str | None
    generation_seconds: float | None
    cost: float | None
    elapsed: float  # wall seconds, including retries and waits


@dataclass(frozen=True)
class Balance:
    """The account's credit balance."""

    credits: float
    free_credits: float

    @property
    def total(self) -> float:
        """Paid and free credits together."""
        return self.credits + self.free_credits


class RequestStatus(StrEnum):
    """Where an async request is, in Segmind's words."""

    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Submission:
    """An accepted async request: everything needed to follow it up, even after a restart."""

    request_id: str
    status_url: str
    response_url: str
    submitted_at: datetime  # aware, UTC; Segmind keeps the result an hour after this
    seed: int  # the seed that was sent, which the sheet will carry


@dataclass(frozen=True)
class Progress:
    """One status answer of an async request."""

    status: RequestStatus
    request_id: str
    error: str | None = None  # Segmind's reason, when FAILED
    inference_seconds: float | None = None

    @property
    def finished(self) -> bool:
        """COMPLETED or FAILED: asking again will not change the answer."""
        return self.status in (RequestStatus.COMPLETED, RequestStatus.FAILED)
