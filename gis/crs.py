"""Coordinate reference systems.

Everything is stored in one SRID: WGS 84 longitude/latitude (EPSG:4326), axis order lon, lat,
as GeoJSON and OGC API Features (CRS84) expect. CGCS2000 (EPSG:4490) differs from WGS 84 by
centimetres and is treated as equal here; GCJ-02 (the offset used by Chinese web maps) is not.
"""

STORAGE_SRID = 4326
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
