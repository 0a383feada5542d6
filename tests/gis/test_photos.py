"""Photo evidence: accepted by content only, EXIF read safely, stored under its SHA-256."""

import hashlib
import io
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from gis.errors import InvalidPhoto, NotFound, TooLarge
from gis.photos import PhotoInfo, inspect_photo, photo_path, store_photo

LIMIT = 5_000_000


def _image(fmt: str, size: tuple[int, int] = (640, 480), **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, fmt, **options)
    return out.getvalue()


def _noisy_jpeg() -> bytes:
    # Noise so the entropy-coded data is long enough to cut in the middle.
    out = io.BytesIO()
    Image.effect_noise((800, 600), 64).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def _exif(*, offset: str | None = None, orientation: int = 1, refs: str = "NE") -> Image.Exif:
    """EXIF as a phone writes it: Xinxiang, 35°18'12.34"N 114°04'30.00"E, 1 Aug 2023."""
    exif = Image.Exif()
    details: dict[int, str] = {ExifTags.Base.DateTimeOriginal: "2023:08:01 10:20:30"}
    if offset is not None:
        details[ExifTags.Base.OffsetTimeOriginal] = offset
    exif[ExifTags.IFD.Exif] = details
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: refs[0],
        ExifTags.GPS.GPSLatitude: (IFDRational(35), IFDRational(18), IFDRational(1234, 100)),
        ExifTags.GPS.GPSLongitudeRef: refs[1],
        ExifTags.GPS.GPSLongitude: (IFDRational(114), IFDRational(4), IFDRational(3000, 100)),
    }
    exif[ExifTags.Base.Orientation] = orientation
    return exif


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` in a few bytes: the shape of a pixel bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1))  # one row; the file never gets decoded
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_jpeg_without_exif() -> None:
    data = _image("JPEG")
    info = inspect_photo(data, max_bytes=LIMIT)
    assert info == PhotoInfo(
        id=hashlib.sha256(data).hexdigest(),
        content_type="image/jpeg",
        width=640,
        height=480,
        bytes=len(data),
        taken_at=None,
        lon=None,
        lat=None,
    )


def test_png_is_accepted() -> None:
    info = inspect_photo(_image("PNG", (300, 200)), max_bytes=LIMIT)
    assert (info.content_type, info.width, info.height) == ("image/png", 300, 200)


def test_exif_time_with_offset_and_gps_position() -> None:
    info = inspect_photo(_image("JPEG", exif=_exif(offset="+07:00")), max_bytes=LIMIT)
    assert info.taken_at == datetime(2023, 8, 1, 10, 20, 30, tzinfo=timezone(timedelta(hours=7)))
    assert info.lat == pytest.approx(35 + 18 / 60 + 12.34 / 3600)
    assert info.lon == pytest.approx(114 + 4 / 60 + 30 / 3600)


def test_exif_time_without_offset_is_beijing_time() -> None:
    info = inspect_photo(_image("JPEG", exif=_exif()), max_bytes=LIMIT)
    assert info.taken_at is not None
    assert info.taken_at.utcoffset() == timedelta(hours=8)
    assert info.taken_at.isoformat() == "2023-08-01T10:20:30+08:00"


def test_southern_and_western_positions_are_negative() -> None:
    info = inspect_photo(_image("JPEG", exif=_exif(refs="SW")), max_bytes=LIMIT)
    assert info.lat is not None and info.lat < -35
    assert info.lon is not None and info.lon < -114


def test_malformed_exif_yields_none() -> None:
    exif = Image.Exif()
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: "    :  :     :  :  ",
        ExifTags.Base.OffsetTimeOriginal: "+99:99",
    }
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "Q",
        ExifTags.GPS.GPSLatitude: (IFDRational(35, 0), IFDRational(0), IFDRational(0)),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (IFDRational(114), IFDRational(4)),
    }
    info = inspect_photo(_image("JPEG", exif=exif), max_bytes=LIMIT)
    assert (info.taken_at, info.lon, info.lat) == (None, None, None)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's own, harmless
def test_garbage_exif_segment_yields_none() -> None:
    info = inspect_photo(
        _image("JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\xff"), max_bytes=LIMIT
    )
    assert (info.taken_at, info.lon, info.lat) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (_image("GIF"), "GIF"),
        (_image("WEBP"), "WebP"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"%PDF-1.7\n1 0 obj\n", "PDF"),
        ("现场照片见附件".encode(), "not an image"),
        (bytes(range(256)) * 8, "not an image"),
    ],
)
def test_other_formats_are_refused_by_content(data: bytes, named: str) -> None:
    with pytest.raises(InvalidPhoto) as caught:
        inspect_photo(data, max_bytes=LIMIT)
    assert caught.value.field == "file"
    assert named in caught.value.en
    assert "JPG 或 PNG" in caught.value.zh


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_jpeg_is_refused(cut: float) -> None:
    data = _noisy_jpeg()
    with pytest.raises(InvalidPhoto) as caught:
        inspect_photo(data[: int(len(data) * cut)], max_bytes=LIMIT)
    assert "不完整" in caught.value.zh
    assert "incomplete" in caught.value.en


def test_jpeg_header_only_is_refused_as_damaged() -> None:
    with pytest.raises(InvalidPhoto) as caught:
        inspect_photo(_noisy_jpeg()[:40], max_bytes=LIMIT)
    assert "incomplete" in caught.value.en


def test_empty_body_is_refused() -> None:
    with pytest.raises(InvalidPhoto) as caught:
        inspect_photo(b"", max_bytes=LIMIT)
    assert "为空" in caught.value.zh


def test_size_limit_names_the_limit_in_mb() -> None:
    data = _noisy_jpeg()
    with pytest.raises(TooLarge) as caught:
        inspect_photo(data, max_bytes=100_000)
    assert caught.value.field == "file"
    assert "0.1 MB" in caught.value.zh
    assert "0.1 MB limit" in caught.value.en


@pytest.mark.parametrize("side", [9_000, 20_000])
def test_pixel_bombs_are_refused_without_decoding(side: int) -> None:
    # 9000² is over our limit but under Pillow's own; 20000² is over Pillow's hard limit too.
    data = _png_header(side, side)
    assert len(data) < 1_000
    with pytest.raises(InvalidPhoto) as caught:
        inspect_photo(data, max_bytes=LIMIT)
    assert caught.value.field == "file"
    assert "megapixels" in caught.value.en


def test_store_lays_out_original_and_thumbnail(tmp_path: Path) -> None:
    data = _image("JPEG", (1600, 1200), exif=_exif(orientation=6))
    info = inspect_photo(data, max_bytes=LIMIT)
    store_photo(tmp_path, info, data)

    original = photo_path(tmp_path, info.id)
    assert original == tmp_path / info.id[:2] / f"{info.id}.jpg"
    assert original.read_bytes() == data
    thumbnail = photo_path(tmp_path, info.id, thumbnail=True)
    assert thumbnail == tmp_path / "thumbs" / info.id[:2] / f"{info.id}.jpg"
    with Image.open(thumbnail) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.mode == "RGB"
        # Orientation 6 (rotate 90°) applied: the landscape sensor image shows as portrait.
        assert thumb.size == (240, 320)
    assert not list(tmp_path.rglob("*.tmp"))


def test_png_is_stored_as_png_with_jpeg_thumbnail(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (500, 100), (0, 0, 0, 0)).save(out, "PNG")
    data = out.getvalue()
    info = inspect_photo(data, max_bytes=LIMIT)
    store_photo(tmp_path, info, data)
    assert photo_path(tmp_path, info.id).suffix == ".png"
    with Image.open(photo_path(tmp_path, info.id, thumbnail=True)) as thumb:
        assert thumb.size == (320, 64)
        assert thumb.getpixel((0, 0)) == (255, 255, 255)


def test_store_is_idempotent(tmp_path: Path) -> None:
    data = _image("JPEG")
    info = inspect_photo(data, max_bytes=LIMIT)
    store_photo(tmp_path, info, data)
    original = photo_path(tmp_path, info.id)
    written = original.stat().st_mtime_ns
    store_photo(tmp_path, info, data)
    assert original.stat().st_mtime_ns == written
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [f"{info.id}.jpg"] * 2


def test_store_refuses_data_that_is_not_the_photo(tmp_path: Path) -> None:
    info = inspect_photo(_image("JPEG"), max_bytes=LIMIT)
    with pytest.raises(ValueError, match="does not hash"):
        store_photo(tmp_path, info, _image("PNG"))


@pytest.mark.parametrize(
    "photo_id",
    ["../../etc/passwd", "A" * 64, "0" * 63, "0" * 65, "0" * 62 + "/x", "", "0" * 64 + "\n"],
)
def test_bad_ids_are_refused(tmp_path: Path, photo_id: str) -> None:
    with pytest.raises(NotFound) as caught:
        photo_path(tmp_path, photo_id)
    assert caught.value.field == "photo_id"
    assert "64" in caught.value.en


def test_unknown_photo_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as caught:
        photo_path(tmp_path, "0" * 64, thumbnail=True)
    assert "does not exist" in caught.value.en
