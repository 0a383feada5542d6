"""Figures shared by the page's parts: the aims, number formats, a configuration's runs."""

import statistics
from typing import Any

AIM_RATE = 500
AIM_P99_MS = 50
AIM_SYNC_S = 2


def num(value: float, digits: int = 1) -> str:
    """``value`` with thousands separators and ``digits`` decimals."""
    return f"{value:,.{digits}f}"


def spread(values: list[float], digits: int = 1) -> str:
    """min–max of ``values``."""
    return f"{num(min(values), digits)}–{num(max(values), digits)}"


def group(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A configuration's runs: medians over runs, with the spread."""
    rates = [r["reports_per_s"] for r in runs]
    p99 = [r["latency_ms"]["p99"] for r in runs]
    cpu = {
        key: statistics.mean(r["cpu_cores"][key] for r in runs)
        for key in ("server", "postgres", "load_generator", "other")
    }
    rate = statistics.median(rates)
    return {
        "rate": rate,
        "rates": rates,
        "p50": statistics.median(r["latency_ms"]["median"] for r in runs),
        "p95": statistics.median(r["latency_ms"]["p95"] for r in runs),
        "p99": statistics.median(p99),
        "p99s": p99,
        "errors": sum(r["errors"] for r in runs),
        "reports": sum(r["latency_ms"]["n"] for r in runs),
        "cpu": cpu,
        "server_cpu_ms": cpu["server"] / rate * 1000 if rate else float("nan"),
        "postgres_cpu_ms": cpu["postgres"] / rate * 1000 if rate else float("nan"),
        "error_samples": [e for r in runs for e in r["error_samples"]][:3],
        "connections": statistics.mean(r.get("connections_opened_per_s", 0) for r in runs),
    }
