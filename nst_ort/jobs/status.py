"""A job's status: one Enum for every front end's records (a batch's index, the studio's
history, the life cycle's Ending). Its values are the words stored in those records."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Where a job is, or how it ended (a batch's index, the studio's history, the API's Ending)."""

    PENDING = "pending"  # not reached yet
    QUEUED = "queued"  # waiting its turn
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"  # ended early, its best image and checkpoint kept: it resumes
    FAILED = "failed"
    SKIPPED = "skipped"  # finished before (a batch run again)

    def __str__(self) -> str:  # "done", not "Status.DONE", in f-strings and CSV cells
        return self.value
