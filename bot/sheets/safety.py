"""Content safety: every sheet is classified before anyone sees it, every uploaded pose before it
is paid for, and each server's policy decides what a flagged image may do.

The policy is pure functions of (the server's mode, whether the channel is age-restricted,
whether the image was flagged); the classifier is anything with `score(image) -> P(explicit)`
(`bot.sheets.open_nsfw` loads the real one). Scoring runs in a thread of its own, one image at a
time, so it never blocks the event loop and leaves the other core to the loop and Pillow.

The classifier is loaded only once some policy needs it (`ClassifierWhenNeeded`): at start-up if
the operator's default or a stored server's mode is not `off`, else the first time a moderator
chooses such a mode or an image must be judged, whichever comes first in this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.ops.metrics import Metrics
from bot.sheets import texts
from bot.sheets.job import Job
from bot.sheets.locales import Text
from bot.sheets.members import Members
from bot.sheets.open_nsfw import ClassifierUnavailable
from bot.sheets.rules import Refused
from bot.sheets.servers import ServerSettings

log = logging.getLogger(__name__)


class SafetyMode(StrEnum):
    """A server's policy for images the classifier flags (`/config safety mode`)."""

    AGE_RESTRICTED = "age-restricted"  # posted only in age-restricted channels, as a spoiler
    BLOCK = "block"  # never posted anywhere
    OFF = "off"  # nothing is classified: the server's admins chose so


class Verdict(StrEnum):
    """What happens to a drawn sheet."""

    POST = "post"  # not flagged, or not classified (mode off)
    SPOILER = "spoiler"  # flagged, in an age-restricted channel: posted behind a spoiler
    WITHHOLD = "withhold"  # flagged anywhere else (or under `block`): never posted


def sheet_verdict(mode: SafetyMode, *, flagged: bool, age_restricted: bool) -> Verdict:
    """What a server's policy does with a sheet, given the classifier's call and the channel."""
    if mode is SafetyMode.OFF or not flagged:
        return Verdict.POST
    if mode is SafetyMode.AGE_RESTRICTED and age_restricted:
        return Verdict.SPOILER
    return Verdict.WITHHOLD


def pose_allowed(mode: SafetyMode, *, flagged: bool, age_restricted: bool) -> bool:
    """Whether a pose may be drawn from: a flagged one only in an age-restricted channel."""
    return (
        sheet_verdict(mode, flagged=flagged, age_restricted=age_restricted) is not Verdict.WITHHOLD
    )


class Classifier(Protocol):
    """Judges how likely an image is sexually explicit. Blocking (CPU): called in a thread."""

    def score(self, image: bytes) -> float:
        """P(explicit) of an encoded image, 0..1. Raises on an image it cannot read."""
        ...


def needs_classifier(default_mode: SafetyMode, chosen: Iterable[str]) -> bool:
    """Whether any policy in force classifies: the operator's default (the mode of every server
    that chose none, and of direct messages) or a mode some server chose."""
    return default_mode is not SafetyMode.OFF or any(
        SafetyMode(m) is not SafetyMode.OFF for m in chosen
    )


class ClassifierWhenNeeded:
    """The classifier, loaded the first time something needs it: once per process, in a thread
    (never on the event loop), however many ask at the same time. A load that failed is tried
    again at the next need; `load` raises `ClassifierUnavailable`."""

    def __init__(self, load: Callable[[], Classifier]) -> None:
        self._load = load
        self._classifier: Classifier | None = None
        self._loading = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._classifier is not None

    async def get(self) -> Classifier:
        """The classifier, loading it first if no one has yet."""
        if self._classifier is None:
            async with self._loading:  # the others wait for the first one's load
                if self._classifier is None:
                    started = time.perf_counter()
                    self._classifier = await asyncio.to_thread(self._load)
                    log.info("content classifier loaded in %.1f s", time.perf_counter() - started)
        return self._classifier


class ClassifierMissing(Refused):
    """A moderator chose a mode that classifies, and the classifier could not be loaded."""

    def __init__(self) -> None:
        super().__init__(texts.CLASSIFIER_UNAVAILABLE)


@dataclass(frozen=True)
class SafetyRules:
    """The operator's choices: the flagging threshold, and the mode of servers that chose none."""

    threshold: float
    default_mode: SafetyMode


@dataclass(frozen=True)
class Judgement:
    """The classifier's call on one image."""

    score: float | None  # None: it could not be read, and so counts as flagged
    flagged: bool
    seconds: float


class Safety:
    """Classifies images off the event loop and tells moderators what it kept from view."""

    def __init__(
        self,
        classifier: ClassifierWhenNeeded,
        rules: SafetyRules,
        metrics: Metrics,
        members: Members,
    ) -> None:
        self._classifier = classifier
        self._rules = rules
        self._metrics = metrics
        self._members = members
        # One thread of its own, one image at a time: onnxruntime uses one core per image and
        # the loop keeps the other; and every activation buffer is allocated by the same
        # thread, so glibc keeps them in one arena (through the shared pool, each of its
        # threads kept an arena of freed buffers: tens of MB more at the burst's peak).
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="classifier", initializer=_yield_to_the_loop
        )

    @property
    def threshold(self) -> float:
        return self._rules.threshold

    def mode(self, server: ServerSettings) -> SafetyMode:
        """The policy in force in a server (or in direct messages): its own, else the default."""
        own = server.safety_mode
        return self._rules.default_mode if own is None else SafetyMode(own)

    def must_load_for(self, mode: SafetyMode) -> bool:
        """Whether choosing `mode` means loading the classifier first (a wait worth deferring)."""
        return mode is not SafetyMode.OFF and not self._classifier.loaded

    async def ready_for(self, mode: SafetyMode) -> None:
        """Before a server's mode changes: load the classifier if the mode needs it, or refuse
        the change (`ClassifierMissing`), so the server keeps its old mode."""
        if mode is SafetyMode.OFF:
            return
        try:
            await self._classifier.get()
        except ClassifierUnavailable as exc:
            log.error("the content classifier could not be loaded: %s", exc)
            raise ClassifierMissing from exc

    async def judge(self, image: bytes, kind: str) -> Judgement:
        """Classify a sheet or a pose (`kind`), loading the classifier if this process has not
        yet (another process may have turned a server's mode on). An image that cannot be read,
        or a classifier that cannot be loaded, counts as flagged: nothing is shown unchecked."""
        loop = asyncio.get_running_loop()
        try:
            classifier = await self._classifier.get()
        except ClassifierUnavailable as exc:
            log.error(
                "the content classifier could not be loaded (%s): the %s counts as flagged",
                exc,
                kind,
            )
            return self._judged(kind, None, 0.0)
        try:
            score, seconds = await loop.run_in_executor(
                self._thread, self._timed, classifier, image
            )
        except Exception:
            log.exception("the classifier could not read a %s: it counts as flagged", kind)
            score, seconds = None, 0.0
        return self._judged(kind, score, seconds)

    def _judged(self, kind: str, score: float | None, seconds: float) -> Judgement:
        self._metrics.classify_seconds.labels(kind=kind).observe(seconds)
        flagged = score is None or score >= self._rules.threshold
        if flagged:
            self._metrics.flagged_images.labels(kind=kind).inc()
        return Judgement(score, flagged, seconds)

    @staticmethod
    def _timed(classifier: Classifier, image: bytes) -> tuple[float, float]:
        # The classifier's own time, without the wait for its thread.
        started = time.perf_counter()
        score = classifier.score(image)
        return score, time.perf_counter() - started

    def close(self) -> None:
        """Let the classifier's thread go (images being classified finish first)."""
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def report(
        self, server: ServerSettings, job: Job, what: Text, score: float | None
    ) -> None:
        """One mention-safe line for the server's moderators (never the image), if they chose a
        log channel: who, where, the prompt, the score, when."""
        channel = server.safety_log_channel_id
        if channel is None or job.guild_id is None:
            return
        line = texts.safety_log_line(
            what,
            user_id=job.user_id,
            channel_id=job.channel_id,
            prompt=job.request.prompt,
            score=score,
            threshold=self._rules.threshold,
            at=time.time(),
        )
        # In the server's language as the job's interaction told it (a worker has no Discord cache).
        if not await self._members.post(channel, job.guild_id, line, language=job.server_language):
            log.warning("job %d: the safety log line did not reach channel %d", job.id, channel)


# How much nicer than the rest of the bot the classifier's thread runs.
CLASSIFIER_NICENESS = 10


def _yield_to_the_loop() -> None:
    """Lower the classifier thread's CPU priority (Linux: the nice value is per thread), so on a
    busy machine the event loop's thread is scheduled first: classification was measured to
    add tens of milliseconds to the loop's lag while both wanted the same core."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CLASSIFIER_NICENESS)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: classify as is
        log.debug("the classifier's thread keeps its priority (%s)", exc)
