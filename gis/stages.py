"""The stage machine: 未开工 → 前期完成 → 已开工 → 已完工 → 已验收, forward only.

A state is a (stage, percent) pair; one state is ahead of another when its stage comes later,
or the stage is the same and the percent higher. Moving backwards (a finished house damaged
again) needs a reason and is flagged for review.
"""

from gis.vocab import STAGE_ORDER


def progress_key(stage: str, percent: int) -> tuple[int, int]:
    return STAGE_ORDER[stage], percent


def is_backwards(before: tuple[str, int], after: tuple[str, int]) -> bool:
    """Whether moving from ``before`` to ``after`` goes back (a lower stage or percent)."""
    return progress_key(*after) < progress_key(*before)


def is_ahead(state: tuple[str, int], other: tuple[str, int]) -> bool:
    """Whether ``state`` claims more progress than ``other``."""
    return progress_key(*state) > progress_key(*other)
