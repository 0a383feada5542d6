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
