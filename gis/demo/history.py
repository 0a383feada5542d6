"""The demo's progress reports: a seeded history for every asset, timed against its deadlines.

Days are counted from the history's start (``data/demo.toml``); most work meets its deadline
(``data/deadlines.toml``), some is late and some unfinished when the history ends. Reports are
observed in local daytime and received, in order, when the phone next syncs.
"""

import datetime as dt
import math

import numpy as np

from gis.demo.data import STAGE_NAMES, TEXT, Columns
from gis.vocab import STAGE_ORDER, STAGES

SHANGHAI = np.timedelta64(8, "h")  # Asia/Shanghai is UTC+8 all year
NEVER = 1_000_000  # a day number beyond any history
# Each asset has six report slots: preparatory_done, started, two percent reports while started,
# completed, accepted. Not every slot is used; those used are in time order.
SLOT_STAGES = np.array([1, 2, 2, 2, 3, 4])
SPAN_BEFORE = {1: "prepare_days", 2: "build_days", 3: "accept_days"}  # days from stage k to k+1


def due_days(assets: Columns, milestones: list, rules: list, start: dt.date) -> np.ndarray:
    """Per asset and stage, the day (counted from ``start``) it is due by, or NEVER."""
    due = np.full((len(assets["layer"]), len(STAGES)), NEVER)
    # A rule due at a milestone is due the day before it, as in the deadline_dates view.
    at = {m["name"]: m["date"] - dt.timedelta(days=1) for m in milestones}
    for rule in rules:
        mask = assets["layer"] == rule["layer"]
        if rule["kind"]:
            mask &= assets["kind"] == rule["kind"]
        if rule["batch"]:
            mask &= assets["batch"] == rule["batch"]
        day = ((rule["due_date"] or at[rule["due_milestone"]]) - start).days
        stage = STAGE_ORDER[rule["stage"]]
        due[mask, stage] = np.minimum(due[mask, stage], day)
    return due


def history(
    assets: Columns, due: np.ndarray, slow: bool, config: dict, rng: np.random.Generator
) -> Columns:
    """Events for every asset, and the assets' current state set from their last event."""
    h = config["history"]
    end = (h["end"] - h["start"]).days
    profile = assets["layer"].copy()
    for key in config["progress"]:
        profile[assets["kind"] == key] = key
    roads = assets["layer"] == "roads"
    priority = roads & (assets["poverty_alleviated_area"] | assets["worst_hit_area"])
    draw = _ProfileDraw(config["progress"], profile, rng)
    days = _stage_days(due, end, slow, priority, h, draw, rng)
    slots, present, percent = _report_slots(days, end, draw, rng)
    observed, received = _report_times(slots, present, h, rng)
    rows, slot = np.nonzero(present)
    events = {
        "id": _uuid4(rng, len(rows)),
        "asset_id": assets["id"][rows],
        "stage": STAGE_NAMES[SLOT_STAGES[slot]],
        "percent": percent[rows, slot].astype(np.int16),
        "observed_at": observed[rows, slot],
        "received_at": received[rows, slot],
    }
    count = present.sum(axis=1)
    reported = count > 0
    last = (np.arange(len(count)), slots.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1))
    created = np.full(len(count), _utc(h["start"], 8 * 3600))  # registered on the first morning
    assets["stage"] = np.where(reported, STAGE_NAMES[SLOT_STAGES[last[1]]], "not_started")
    assets["stage"] = assets["stage"].astype(TEXT)
    assets["percent"] = np.where(reported, percent[last], 0).astype(np.int16)
    assets["stage_observed_at"] = np.where(reported, observed[last], np.datetime64("NaT", "us"))
    assets["version"] = (1 + count).astype(np.int32)
    assets["created_at"] = created
    assets["updated_at"] = np.where(reported, received[last], created)
    return events


class _ProfileDraw:
    """Draws per-asset values from each asset's progress profile in data/demo.toml."""

    def __init__(self, profiles: dict, profile: np.ndarray, rng: np.random.Generator) -> None:
        self.masks = {key: profile == key for key in profiles}
        self.profiles = profiles
        self.rng = rng
        self.n = len(profile)

    def days(self, param: str) -> np.ndarray:
        """An integer in the profile's closed range ``param``."""
        out = np.zeros(self.n, dtype=np.int64)
        for key, mask in self.masks.items():
            lo, hi = self.profiles[key][param]
            out[mask] = self.rng.integers(lo, hi + 1, mask.sum())
        return out

    def chance(self, param: str) -> np.ndarray:
        """True with the profile's probability ``param``."""
        p = np.zeros(self.n)
        for key, mask in self.masks.items():
            p[mask] = self.profiles[key][param]
        return self.rng.random(self.n) < p


def _stage_days(due, end, slow, priority, h: dict, draw: _ProfileDraw, rng) -> np.ndarray:
    """Per asset, the day it reaches each stage (NEVER if it does not), stages in order.

    The last stage with a deadline is reached on time, late, or (unfinished) after the history
    ends; the stages before it are placed backwards from it and, for work on time, before their
    own deadlines; acceptance without a deadline of its own follows completion, or never.
    """
    n = len(due)
    has_due = due < NEVER
    final = np.where(has_due.any(axis=1), 4 - np.argmax(has_due[:, ::-1], axis=1), 3)
    due_final = np.where(has_due.any(axis=1), due[np.arange(n), final], end)
    unfinished_share = np.where(slow, h["unfinished_slow"], h["unfinished"])
    late_share = np.where(priority, h["late_priority"], np.where(slow, h["late_slow"], h["late"]))
    slack = np.where(priority, h["slack_priority"], np.where(slow, h["slack_slow"], h["slack"]))
    u = rng.random(n)
    unfinished = u < unfinished_share
    late = ~unfinished & (u < unfinished_share + late_share)
    delay = 1 + np.floor(rng.exponential(h["late_days"], n)).astype(np.int64)
    days = np.full((n, len(STAGES)), NEVER)
    days[np.arange(n), final] = np.select(
        [unfinished, late],
        [end + delay, due_final + delay],
        _before(due_final, final, slack, rng),
    )
    for k in (3, 2, 1):
        after = days[:, k + 1]
        squeezed = (after * rng.uniform(0.3, 0.9, n)).astype(np.int64)
        day = np.minimum(after - 1, np.maximum(after - draw.days(SPAN_BEFORE[k]), squeezed))
        on_time = ~unfinished & ~late & has_due[:, k]
        day = np.where(on_time, np.minimum(day, _before(due[:, k], k, slack, rng)), day)
        days[:, k] = np.where(k < final, np.maximum(day, k - 1), days[:, k])
    accepted = draw.chance("accepted")
    after_completion = np.where(accepted, days[:, 3] + draw.days("accept_days"), NEVER)
    days[:, 4] = np.where(final < 4, after_completion, days[:, 4])
    return days


def _before(due: np.ndarray, stage, slack, rng: np.random.Generator) -> np.ndarray:
    """A day on or before ``due`` leaving about a ``slack`` share of the time to it unused."""
    b = 2.0 * (1 - slack) / slack
    return due - np.floor((due - stage) * rng.beta(2.0, b, len(due))).astype(np.int64)


def _report_slots(days: np.ndarray, end: int, draw: _ProfileDraw, rng: np.random.Generator):
    """The six report slots' days, which are used (reported by the history's end), and the
    percent each reports; one or two percent reports fall strictly between start and finish."""
    n = len(days)
    started, completed = days[:, 2], days[:, 3]
    gap = completed - started
    wanted = np.minimum(draw.days("percent_reports"), gap - 1)
    mid1 = started + 1 + np.floor(rng.random(n) * (gap - wanted)).astype(np.int64)
    mid2 = mid1 + 1 + np.floor(rng.random(n) * (completed - mid1 - 1)).astype(np.int64)
    slots = np.stack([days[:, 1], started, mid1, mid2, completed, days[:, 4]], axis=1)
    always = np.ones(n, dtype=bool)
    reported = [draw.chance("prepare_reported"), always, wanted >= 1, wanted >= 2, always, always]
    present = np.stack(reported, axis=1) & (slots <= end)
    first = rng.integers(0, 16, n)
    p1 = _progress(mid1, started, gap, first, rng)
    p2 = _progress(mid2, started, gap, p1, rng)
    zero, full = np.zeros(n, dtype=np.int64), np.full(n, 100)
    return slots, present, np.stack([zero, first, p1, p2, full, full], axis=1)


def _progress(day, started, gap, previous, rng: np.random.Generator) -> np.ndarray:
    """Percent done on ``day``: elapsed share of the work, give or take, never below before."""
    share = 100 * (day - started) / gap + rng.normal(0, 8, len(day))
    return np.clip(np.round(share), previous + 1, 95).astype(np.int64)


def _report_times(slots: np.ndarray, present: np.ndarray, h: dict, rng: np.random.Generator):
    """Observed (local daytime) and received times, UTC; a phone syncs in order, so a report
    is never received before the ones observed earlier."""
    lo, hi = h["report_hours"]
    seconds = rng.integers(lo * 3600, hi * 3600, slots.shape)
    observed = _utc(h["start"], slots * 86_400 + seconds)
    offline = rng.random(slots.shape) < h["offline"]
    online_delay = np.clip(rng.lognormal(math.log(120), 1.0, slots.shape), 5, 3600)
    delay = np.where(offline, rng.integers(3600, 2 * 86_400, slots.shape), online_delay)
    received = observed + delay.astype("timedelta64[s]")
    in_order = np.maximum.accumulate(np.where(present, received.view(np.int64), 0), axis=1)
    return observed, in_order.view("datetime64[us]")


def _utc(start: dt.date, seconds: np.ndarray | int) -> np.ndarray:
    """Local (Asia/Shanghai) seconds after midnight of ``start``, as UTC datetime64[us]."""
    local = np.datetime64(start, "s") + np.asarray(seconds).astype("timedelta64[s]")
    return (local - SHANGHAI).astype("datetime64[us]")


def _uuid4(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` version-4 UUIDs from the seeded generator, as rows of 16 bytes."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw
