"""Photo evidence: checked by content, stored under its SHA-256 so a file can never change.

A photo is accepted only if Pillow decodes it completely as JPEG or PNG, whatever its name or
declared type says. Originals are kept byte for byte (with their EXIF, which is evidence);
thumbnails are re-encoded without it.
"""

import hashlib
import io
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import ExifTags, Image, ImageOps

from gis.errors import InvalidPhoto, NotFound, TooLarge

# Pillow format -> content type. MPO is the JPEG variant many phones write (a JPEG with depth
# or preview images appended); every viewer shows it as a JPEG.
FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png"}
_OPENERS = ("JPEG", "PNG")  # Pillow's JPEG opener returns an MPO image when the file is one

# Enough for the 48-50 MP modes of current phones; the 108/200 MP modes and decompression
# bombs (a small file that claims a huge image) are refused before any pixel is decoded.
MAX_PIXELS = 64_000_000
THUMBNAIL_SIZE = 320

# China has kept +08:00 without daylight saving since 1991, so a fixed offset is Asia/Shanghai.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

_ID = re.compile(r"[0-9a-f]{64}")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_ASK = "请上传 JPG 或 PNG 照片（手机相机拍摄的原图即可）"
_ASK_EN = "Send a JPEG or PNG photo (a phone camera's original is fine)."


@dataclass(frozen=True)
class PhotoInfo:
    """What a checked photo is; ``lon``/``lat`` are WGS 84 degrees as phones write them."""

    id: str
    content_type: str
    width: int
    height: int
    bytes: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None


def inspect_photo(data: bytes, *, max_bytes: int) -> PhotoInfo:
    """Check that ``data`` is a whole JPEG or PNG of at most ``max_bytes`` and read its EXIF."""
    if not data:
        raise InvalidPhoto(
            f"没有收到照片（文件为空）。{_ASK}", f"The file is empty. {_ASK_EN}", field="file"
        )
    if len(data) > max_bytes:
        raise TooLarge(
            f"照片 {_mb(len(data))} MB，超过上限 {_mb(max_bytes)} MB。"
            "请在手机上压缩或降低画质后重传",
            f"The photo is {_mb(len(data))} MB, over the {_mb(max_bytes)} MB limit. Compress it "
            "or choose a lower quality on the phone and retry.",
            field="file",
        )
    image = _open(data)
    width, height = image.size
    # Decoding every pixel is what proves the file whole; a JPEG decodes at 1/8 scale here
    # (every byte is still read), which keeps memory small for large photos.
    image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    try:
        image.load()
    except Exception as exc:
        # Damaged data makes Pillow's decoders raise many kinds of error; all mean the same.
        raise _damaged(image.format) from exc
    taken_at, lon, lat = _exif(image)
    return PhotoInfo(
        id=hashlib.sha256(data).hexdigest(),
        content_type=FORMATS[image.format],
        width=width,
        height=height,
        bytes=len(data),
        taken_at=taken_at,
        lon=lon,
        lat=lat,
    )


def store_photo(media_dir: Path, info: PhotoInfo, data: bytes) -> None:
    """Write the original and its thumbnail under ``media_dir``; a stored photo is left alone."""
    if hashlib.sha256(data).hexdigest() != info.id:
        raise ValueError(f"data does not hash to the photo id {info.id}")
    _write_once(_original(media_dir, info.id, EXTENSIONS[info.content_type]), lambda: data)
    _write_once(_thumbnail(media_dir, info.id), lambda: _make_thumbnail(data))


def photo_path(media_dir: Path, photo_id: str, *, thumbnail: bool = False) -> Path:
    """The stored file of photo ``photo_id`` (its JPEG thumbnail if ``thumbnail``)."""
    if not _ID.fullmatch(photo_id):
        raise NotFound(
            f"照片编号 {photo_id[:80]!r} 无效：应为 64 位小写十六进制（SHA-256）",
            f"Photo id {photo_id[:80]!r} is not valid: it is 64 lowercase hex digits (SHA-256).",
            field="photo_id",
        )
    if thumbnail:
        candidates = [_thumbnail(media_dir, photo_id)]
    else:
        candidates = [_original(media_dir, photo_id, ext) for ext in EXTENSIONS.values()]
    for path in candidates:
        if path.is_file():
            return path
    raise NotFound(
        f"照片 {photo_id} 不存在，请重新上传",
        f"Photo {photo_id} does not exist; upload it again.",
        field="photo_id",
    )


def _open(data: bytes) -> Image.Image:
    # Pillow refuses images over twice its own limit, and only warns below that; images over
    # ours are refused just after (a global warnings filter would not be thread-safe).
    try:
        image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels() from exc
    except Exception as exc:
        raise _not_accepted(data) from exc
    if image.width * image.height > MAX_PIXELS:
        raise _too_many_pixels(image.size)
    return image


def _not_accepted(data: bytes) -> InvalidPhoto:
    """Say what the bytes look like, for a file Pillow did not open as JPEG or PNG."""
    name = _sniff(data)
    if name in ("JPEG", "PNG"):
        return _damaged(name)
    if name == "HEIC":
        return InvalidPhoto(
            "收到的是 HEIC 照片（iPhone 默认格式）。请在 设置 > 相机 > 格式 中选择“兼容性最佳”"
            f"后重拍，或导出为 JPG。{_ASK}",
            "This is a HEIC photo (the iPhone default). Choose Settings > Camera > Formats > "
            f"Most Compatible and retake it, or export it as JPEG. {_ASK_EN}",
            field="file",
        )
    if name is None:
        return InvalidPhoto(
            f"收到的文件不是图片。{_ASK}", f"The file is not an image. {_ASK_EN}", field="file"
        )
    return InvalidPhoto(
        f"收到的是 {name} 文件，不支持。{_ASK}",
        f"This is a {name} file, which is not accepted. {_ASK_EN}",
        field="file",
    )


def _sniff(data: bytes) -> str | None:
    """The format a file's first bytes announce, among those phones and browsers send."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "HEIC"
        return "AVIF" if brand == b"avif" else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    signatures = {b"GIF8": "GIF", b"%PDF": "PDF", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
    return signatures.get(data[:4])


def _damaged(image_format: str | None) -> InvalidPhoto:
    name = "PNG" if image_format == "PNG" else "JPG"
    return InvalidPhoto(
        f"{name} 照片不完整或已损坏（可能上传中断），请重新上传",
        f"The {name} photo is incomplete or damaged (perhaps the upload broke off); upload it "
        "again.",
        field="file",
    )


def _too_many_pixels(size: tuple[int, int] | None = None) -> InvalidPhoto:
    got = f"（{size[0]}×{size[1]}）" if size else ""
    got_en = f" ({size[0]}x{size[1]})" if size else ""
    limit = MAX_PIXELS // 1_000_000
    return InvalidPhoto(
        f"照片像素过多{got}，上限 {limit * 100} 万像素。请用相机的标准画质拍摄或缩小后上传",
        f"The photo has too many pixels{got_en}; the limit is {limit} megapixels. Use the "
        "camera's standard resolution or shrink the photo and retry.",
        field="file",
    )


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}".removesuffix(".0")


def _exif(image: Image.Image) -> tuple[datetime | None, float | None, float | None]:
    """(taken_at, lon, lat) from EXIF; anything missing or malformed is None, never an error."""
    try:
        exif = image.getexif()
        details = exif.get_ifd(ExifTags.IFD.Exif)
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        return None, None, None
    taken_at = _taken_at(
        details.get(ExifTags.Base.DateTimeOriginal), details.get(ExifTags.Base.OffsetTimeOriginal)
    )
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "NS")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "EW")
    # Some cameras write 0, 0 when they had no fix: that is no position, not a point at sea.
    if lat is None or lon is None or (lat == 0 and lon == 0) or abs(lat) > 90 or abs(lon) > 180:
        return taken_at, None, None
    return taken_at, lon, lat


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


def _taken_at(original: object, offset: object) -> datetime | None:
    stamp = _text(original)
    try:
        local = datetime.strptime(stamp or "", "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    match = _OFFSET.fullmatch(_text(offset) or "")
    if match is None:
        return local.replace(tzinfo=SHANGHAI)
    sign = -1 if match[1] == "-" else 1
    minutes = sign * (int(match[2]) * 60 + int(match[3]))
    if abs(minutes) >= 24 * 60:
        return local.replace(tzinfo=SHANGHAI)
    return local.replace(tzinfo=timezone(timedelta(minutes=minutes)))


def _degrees(dms: object, ref: object, hemispheres: str) -> float | None:
    """Decimal degrees from EXIF (degrees, minutes, seconds) rationals and an N/S or E/W ref."""
    hemisphere = (_text(ref) or "").upper()
    if hemisphere not in hemispheres or len(hemisphere) != 1:
        return None
    if not isinstance(dms, tuple) or len(dms) != 3:
        return None
    try:
        degrees, minutes, seconds = (float(part) for part in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(value):
        return None
    return -value if hemisphere == hemispheres[1] else value


def _original(media_dir: Path, photo_id: str, extension: str) -> Path:
    return media_dir / photo_id[:2] / f"{photo_id}{extension}"


def _thumbnail(media_dir: Path, photo_id: str) -> Path:
    return media_dir / "thumbs" / photo_id[:2] / f"{photo_id}.jpg"


def _make_thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data), formats=_OPENERS) as image:
        image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        try:
            upright = ImageOps.exif_transpose(image)
        except Exception:
            # A malformed orientation tag must not lose the photo; show it as the sensor saw it.
            upright = image.copy()
    upright.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    # Transparent PNG areas become white rather than the black that dropping alpha gives.
    white = Image.new("RGBA", upright.size, "white")
    rgb = Image.alpha_composite(white, upright.convert("RGBA")).convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=80)
    return out.getvalue()


def _write_once(path: Path, content: Callable[[], bytes]) -> None:
    """Write ``path`` atomically (temporary file, then rename) unless it already exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
