"""One asset's standing against the deadline rules that apply to it, as of a day.

A county's status (``gis/progress.py``) weighs rates and projections; a single asset only has
its stage and its due dates:

- ``done``: it has reached the stage of every rule that applies to it;
- ``overdue``: a rule's due date has passed (the day is after it) and the asset is below its stage;
- ``pending``: something remains, but no due date has passed yet;
- ``none``: no rule applies to it.

Maps, tiles and lists style and filter by these; the SQL lives here once.
"""

ASSET_STATUSES = ("done", "pending", "overdue", "none")
ASSET_STATUS_ZH = {"done": "已达标", "pending": "未到期", "overdue": "已逾期", "none": "无期限"}
ASSET_STATUS_EN = {
    "done": "Done",
    "pending": "Not yet due",
    "overdue": "Overdue",
    "none": "No deadline",
}
ASSET_STATUS_COLOUR = {
    "done": "#2e7d32",
    "pending": "#1f78b4",
    "overdue": "#d7191c",
    "none": "#8c8c8c",
}


def asset_status_sql(stage: str, day: str, alias: str = "a") -> str:
    """An SQL expression for the status of asset ``alias`` whose stage on the day is the SQL
    expression ``stage``, against the rules of ``deadline_dates``; ``day`` names the bound
    parameter (a date) the due dates are compared with."""
    return f"""(
        SELECT CASE
                 WHEN count(*) = 0 THEN 'none'
                 WHEN bool_and(have.ordinal >= need.ordinal) THEN 'done'
                 WHEN bool_or(d.due_on < CAST(:{day} AS date) AND have.ordinal < need.ordinal)
                     THEN 'overdue'
                 ELSE 'pending'
               END
          FROM deadline_dates d
          JOIN stages need ON need.stage = d.stage
          JOIN stages have ON have.stage = {stage}
         WHERE d.layer = {alias}.layer
           AND (d.kind IS NULL OR d.kind = {alias}.kind)
           AND (d.batch IS NULL OR d.batch = {alias}.batch))"""


def has_status_sql(day: str, status: str, alias: str = "a") -> str:
    """An SQL condition: asset ``alias``, at its current stage, has the status bound as
    ``:{status}`` on the day bound as ``:{day}``. The status depends only on the layer, kind,
    batch and stage, so it is worked out once for each of their combinations (a few hundred)
    and the assets are matched against those: a hash lookup per asset instead of a pass over
    the rules (an OGC page of overdue houses at a million houses: 1.9 s)."""
    combination = asset_status_sql("g.stage", day, alias="g")
    return f"""({alias}.layer, {alias}.kind, coalesce({alias}.batch, 0), {alias}.stage) IN (
        SELECT g.layer, g.kind, coalesce(g.batch, 0), g.stage
          FROM (SELECT k.layer, k.kind, b.batch, s.stage
                  FROM asset_kinds k CROSS JOIN stages s
                 CROSS JOIN (VALUES (CAST(NULL AS smallint)), (1), (2)) b(batch)) g
         WHERE {combination} = :{status})"""
