"""Async client for Segmind's consistent-character model. Imports nothing from discord or bot."""

from .client import Balance, SegmindClient, Sheet
from .errors import (
    AuthError,
    InsufficientCredits,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    SegmindConnectionError,
    SegmindError,
    SegmindStatusError,
    SegmindTimeout,
    ServerError,
    UnexpectedResponse,
    error_for_status,
)
from .models import (
    DEFAULT_NEGATIVE_PROMPT,
    MAX_SEED,
    CharacterRequest,
    Sampler,
    Scheduler,
    UpscaleMode,
)

__all__ = [
    "DEFAULT_NEGATIVE_PROMPT",
    "MAX_SEED",
    "AuthError",
    "Balance",
    "CharacterRequest",
    "InsufficientCredits",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "RateLimited",
    "Sampler",
    "Scheduler",
    "SegmindClient",
    "SegmindConnectionError",
    "SegmindError",
    "SegmindStatusError",
    "SegmindTimeout",
    "ServerError",
    "Sheet",
    "UnexpectedResponse",
    "UpscaleMode",
    "error_for_status",
]
