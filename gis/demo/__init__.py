"""A believable, clearly synthetic Xinxiang for demos and benchmarks.

``generate`` scatters houses, water works and roads over the real county boundaries, with towns,
villages and householders from ``gis.demo.names``, and gives every asset a seeded history of
progress reports timed against ``data/deadlines.toml``. It touches no database, and the same
counties, scale and seed give bitwise-identical arrays. ``load_demo`` writes them with COPY in one
transaction, loading each county while the next one is generated. Volumes, weights and timings
live in ``data/demo.toml``.
"""

from gis.demo.copy import DemoReport, load_data, load_demo
from gis.demo.data import DemoData
from gis.demo.generator import generate, generate_by_county, read_config, read_counties
from gis.demo.history import SHANGHAI
from gis.demo.places import M_PER_DEG_LAT, M_PER_DEG_LON

__all__ = [
    "M_PER_DEG_LAT",
    "M_PER_DEG_LON",
    "SHANGHAI",
    "DemoData",
    "DemoReport",
    "generate",
    "generate_by_county",
    "load_data",
    "load_demo",
    "read_config",
    "read_counties",
]
