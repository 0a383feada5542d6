"""Small named assets for tests, in EPSG:4326 lon/lat; vary them with dataclasses.replace."""

from shapely.geometry import Point

from gis.assets import AssetNew

IN_WEIHUI = Point(114.07, 35.40)  # inside 卫辉市 410781
IN_HUIXIAN = Point(113.75, 35.55)  # inside 辉县市 410782

WEIHUI_HOUSE = AssetNew(
    code="FW-410781-90001",
    layer="houses",
    kind="general_repair",
    county_adcode="410781",
    name="测试住房",
    geometry=IN_WEIHUI,
    town="测试乡",
    village="测试村",
    householder_name="张某",
    householder_phone="13900000000",
)

IN_HONGQI = Point(113.9362, 35.2736)  # inside 红旗区 410702

HONGQI_HOUSE = AssetNew(
    code="FW-410702-90001",
    layer="houses",
    kind="general_repair",
    county_adcode="410702",
    name="红旗区测试住房",
    geometry=IN_HONGQI,
    town="测试镇",
    village="红旗测试村",
    householder_name="李某",
    householder_phone="13900000001",
)


def jpeg(seed: int = 0, *, lon: float | None = None, lat: float | None = None) -> bytes:
    """A small site photo; ``seed`` varies the content (and so the id); with lon/lat, EXIF GPS
    written the way phones write it (degrees, minutes, seconds as rationals)."""
    import io

    from PIL import ExifTags, Image
    from PIL.TiffImagePlugin import IFDRational

    def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
        degrees, rest = divmod(abs(value) * 3600, 3600)
        minutes, seconds = divmod(rest, 60)
        return IFDRational(int(degrees)), IFDRational(int(minutes)), IFDRational(seconds)

    exif = Image.Exif()
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "2022:03:01 10:20:30"}
    if lon is not None and lat is not None:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: dms(lat),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: dms(lon),
        }
    out = io.BytesIO()
    colour = (seed * 37 % 256, seed * 91 % 256, 120)
    Image.new("RGB", (64, 48), colour).save(out, "JPEG", exif=exif)
    return out.getvalue()
