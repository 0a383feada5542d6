"""Reading a county's file as it was sent: the format, the encoding, the header row, the CRS.

Whatever the format, the result is a ``Sheet``: the original columns as text (as the clerk typed
them), each row's number as the clerk sees it in their program (the header row included, so
row 2 is the first data row of a CSV), and the geometry when the format carries one.
"""

import csv
import io
import itertools
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from gis.errors import InvalidInput
from gis.imports.values import formatted

VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".kml")
TABLE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")
FORMATS_ZH = "GeoPackage、Shapefile、GeoJSON、KML、CSV、Excel（.xlsx）"
FORMATS_EN = "GeoPackage, Shapefile, GeoJSON, KML, CSV or Excel (.xlsx)"
HEADER_SCAN_ROWS = 30  # a header row below this in a workbook needs --header-row
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and old .xls files


@dataclass
class Sheet:
    """A file's rows: ``frame`` holds the original columns as text ('' when empty)."""

    frame: pd.DataFrame
    rows: np.ndarray  # the clerk's row number of each row
    geometry: np.ndarray | None = None  # shapely geometries in ``crs``, for vector formats
    crs: str | None = None  # the file's own CRS (.prj, GeoPackage), as "EPSG:n" or WKT
    notes: list[tuple[str, str]] = field(default_factory=list)  # (zh, en) for the summary
    kind: str = "table"  # "vector" or "table"
    header_row: int = 1


def _bad(zh: str, en: str) -> InvalidInput:
    return InvalidInput(zh, en, field="path")


def read_sheet(
    path: Path,
    *,
    encoding: str | None = None,
    header_row: int | None = None,
    sheet: str | None = None,
    known_header=lambda name: False,
) -> Sheet:
    """Read ``path``; ``known_header(name)`` tells a header the import understands, to find the
    header row of a workbook."""
    if header_row is not None and header_row < 1:
        raise InvalidInput(
            f"表头行号 {header_row} 无效：行号从 1 开始，与 Excel 左侧显示的一致。请改正 "
            "--header-row（或映射文件中的 header_row），或不填，由系统找到表头",
            f"Header row {header_row} is not a row: rows are numbered from 1, as Excel shows "
            "them. Correct --header-row (or header_row in the mapping file), or leave it out to "
            "have the header found.",
            field="header_row",
        )
    if not path.exists():
        raise _bad(f"文件不存在：{path}", f"No such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_csv(path, encoding, header_row, known_header)
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return _read_xlsx(path, header_row, sheet, known_header)
    if suffix in VECTOR_SUFFIXES:
        if header_row is not None:
            raise InvalidInput(
                f"{path.name} 是 GIS 文件，没有表头行（属性字段名就是列名），不能指定表头行。"
                "请去掉 --header-row（上传时去掉 header_row）后重新导入；表头行只用于 CSV 和 Excel",
                f"{path.name} is a GIS file: it has no header row (its attribute names are the "
                "columns), so no header row can be given. Import it again without --header-row "
                "(header_row when uploading); a header row applies to CSV and Excel only.",
                field="header_row",
            )
        return _read_vector(path, encoding, sheet)
    raise _bad(
        f"不支持的文件类型 {path.suffix or '（无扩展名）'}。请使用 {FORMATS_ZH}",
        f"Unsupported file type {path.suffix or '(none)'}; use {FORMATS_EN}.",
    )


def detect_encoding(data: bytes) -> tuple[str, bool]:
    """UTF-8 (with or without BOM) when the bytes decode as it, else GB18030 (a superset of GBK
    and GB2312, what Chinese Windows saves); UTF-16 with its BOM (little- or big-endian: Excel's
    "Unicode text"). Returns the codec and whether it was detected rather than certain (a BOM
    is certain)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", False
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", False  # the codec reads the BOM for the byte order and drops it
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030", True
    return "utf-8", True


def _decode(data: bytes, encoding: str | None, name: str) -> tuple[str, list[tuple[str, str]]]:
    detected = encoding is None
    if encoding is None:
        encoding, _ = detect_encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise _bad(
            f"{name} 无法按 {encoding} 编码读取（{exc}）。请去掉 --encoding 让系统识别，"
            "或另存为 UTF-8",
            f"{name} cannot be read as {encoding} ({exc}); drop --encoding to detect it, or "
            "save the file as UTF-8.",
        ) from exc
    zh, en = {
        "utf-8": ("UTF-8", "UTF-8"),
        "utf-8-sig": ("UTF-8（带 BOM）", "UTF-8 with BOM"),
        "gb18030": ("GBK/GB18030", "GBK/GB18030"),
        "utf-16": ("UTF-16（Excel“Unicode 文本”）", "UTF-16 (Excel's Unicode text)"),
    }.get(encoding, (encoding, encoding))
    how = ("识别为", "detected as") if detected else ("按指定编码", "read as")
    return text, [(f"{name} 的编码{how[0]} {zh}", f"{name}: encoding {how[1]} {en}")]


def _read_csv(path: Path, encoding: str | None, header_row: int | None, known_header) -> Sheet:
    text, notes = _decode(path.read_bytes(), encoding, path.name)
    if not text.strip():
        raise _bad(f"{path.name} 是空文件", f"{path.name} is empty.")
    # Tab-separated when a line of the first holds more tabs than commas (Excel's "Unicode
    # text" and "text (tab delimited)", whatever they are named, title rows above the header
    # included); else a .csv is comma-separated and a .txt sniffed.
    first_lines = text.split("\n", HEADER_SCAN_ROWS)[:HEADER_SCAN_ROWS]
    sep = None if path.suffix.lower() == ".txt" else ","
    if any(line.count("\t") > line.count(",") for line in first_lines):
        sep = "\t"
    # The header row found among the first records as in a workbook (a CSV saved from Excel
    # keeps the title rows above it), read by the csv module: a title row has fewer values.
    try:
        records = csv.reader(io.StringIO(text), delimiter=sep or ",")
        head = list(itertools.islice(records, max(HEADER_SCAN_ROWS, header_row or 0)))
        cells = [[v.strip() for v in row] for row in head[:HEADER_SCAN_ROWS]]
        given = header_row is not None
        header_row, found = _header_row(cells, header_row, known_header, path.name, len(head))
        # No header here: pandas would take a first data row one value longer than the header
        # as an index column and shift every value of the file one column left. The rows above
        # the header are skipped: pandas takes the number of columns from the first it reads.
        body = pd.read_csv(
            io.StringIO(text),
            header=None,
            skiprows=header_row - 1,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            sep=sep,
            engine="python" if sep is None else "c",
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise _csv_problem(path.name, str(exc), None if given else header_row) from exc
    return _from_cells(body, 1, notes + found, above=header_row - 1)


def _csv_problem(name: str, message: str, found: int | None = None) -> InvalidInput:
    """What pandas could not read, in the clerk's terms; ``found``: the header row, when it
    was found rather than given."""
    longer = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if longer:
        fields, line, saw = longer.groups()
        where = ("", "")
        if found is not None:
            where = (
                f"；表头取的是第 {found} 行，如表头在别处，请用 --header-row 指明",
                f"; the header was taken from row {found}: if it is on another row, give it "
                "with --header-row",
            )
        return _bad(
            f"{name} 第 {line} 行有 {saw} 个值，而表头只有 {fields} 列（多了逗号，或含逗号的内容"
            f"没有加引号）。请改正该行，或为多出的列加上表头{where[0]}",
            f"{name}: line {line} has {saw} values but the header only {fields} columns (an "
            "extra comma, or a value with a comma that is not quoted); fix the line or give "
            f"the extra column a header{where[1]}.",
        )
    quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if quote:
        line = int(quote.group(1)) + 1
        return _bad(
            f'{name} 第 {line} 行的引号（"）没有闭合，其后的内容都被当作同一个值。请补上引号或删去',
            f'{name}: the quote (") opened on line {line} is never closed, so the rest of the '
            "file reads as one value; close or remove it.",
        )
    return _bad(
        f"{name} 不是有效的 CSV（{message}）。请在 Excel 中打开并另存为 CSV 或 .xlsx",
        f"{name} is not a valid CSV ({message}); open it in Excel and save it as CSV or .xlsx.",
    )


def _from_cells(
    cells: pd.DataFrame, header_row: int, notes: list[tuple[str, str]], *, above: int = 0
) -> Sheet:
    """Text cells (every row of the sheet, the header's among them, but ``above`` rows of the
    file before the first) as a Sheet: the header row's names made unique, the rows below it
    that hold anything, numbered as the clerk sees them. An unnamed column is kept only when it
    holds something (merged cells leave empty ones)."""
    names = [str(h).strip() for h in cells.iloc[header_row - 1]]
    body = cells.iloc[header_row:].reset_index(drop=True)
    body.columns = _unique([h or f"列{i + 1}" for i, h in enumerate(names)])
    first = above + header_row + 1
    rows = np.arange(first, first + len(body))
    filled = (body != "").any(axis=1).to_numpy()
    keep = [c for c, name in zip(body.columns, names, strict=True) if name or (body[c] != "").any()]
    return Sheet(
        body.loc[filled, keep].reset_index(drop=True),
        rows[filled],
        notes=notes,
        header_row=above + header_row,
    )


def _cell(value) -> str:
    """A workbook cell as the clerk sees it: 410781.0 reads 410781; dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value).strip()


def _read_xlsx(path: Path, header_row: int | None, sheet: str | None, known_header) -> Sheet:
    import openpyxl

    head = path.read_bytes()[:8]
    if head == _OLE_MAGIC:
        raise _bad(
            f"{path.name} 设有打开密码（或是旧版 .xls）。请在 Excel 中取消密码"
            "（文件→信息→保护工作簿→用密码进行加密，清空），另存为 .xlsx 后重新导入",
            f"{path.name} is password-protected (or an old .xls). Remove the password in Excel "
            "and save it as .xlsx, then import again.",
        )
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _bad(
            f"{path.name} 已损坏或不是 Excel 文件，无法打开。请在 Excel 中打开并另存为 .xlsx",
            f"{path.name} is damaged or not an Excel workbook ({exc}); open it in Excel and "
            "save it as .xlsx again.",
        ) from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise _bad(
                f"工作表 {sheet!r} 不存在，可选：{'、'.join(book.sheetnames)}",
                f"No sheet {sheet!r}; the workbook has {', '.join(book.sheetnames)}.",
            )
        ws = book[sheet] if sheet else book.worksheets[0]
        cells = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        book.close()
    if not any(any(row) for row in cells):
        raise _bad(f"{path.name} 的工作表是空的", f"The sheet of {path.name} is empty.")
    width = max(len(row) for row in cells)
    cells = [row + [""] * (width - len(row)) for row in cells]
    header_row, notes = _header_row(cells, header_row, known_header, path.name, len(cells))
    frame = pd.DataFrame(cells, dtype=object).astype(str)
    return _from_cells(frame, header_row, notes)


def _header_row(
    cells: list[list[str]], header_row: int | None, known_header, name: str, rows: int
) -> tuple[int, list[tuple[str, str]]]:
    """The header's row (1-based) among ``cells``, the first rows of a file of ``rows``:
    ``header_row`` when given, else found; a note for the summary when it is not the first."""
    if header_row is None:
        header_row = _find_header(cells, known_header)
        if header_row > 1:
            return header_row, [
                (f"表头在第 {header_row} 行（其上为标题）", f"header found on row {header_row}")
            ]
    if header_row > rows:
        raise _bad(
            f"表头行 {header_row} 超出 {name}（共 {rows} 行）。请改正 --header-row"
            "（或映射文件中的 header_row），或不填，由系统找到表头",
            f"Header row {header_row} is beyond the {rows} rows of {name}; correct "
            "--header-row (or header_row in the mapping file), or leave it out to have the "
            "header found.",
        )
    return header_row, []


def _find_header(cells: list[list[str]], known_header) -> int:
    """The row (1-based) with the most headers the import knows; a title row or merged cells
    above it hold one or two values at most."""
    best, best_score = 1, 0
    for i, row in enumerate(cells[:HEADER_SCAN_ROWS]):
        score = sum(1 for v in row if v and known_header(v))
        if score > best_score:
            best, best_score = i + 1, score
    if best_score >= 2:
        return best
    for i, row in enumerate(cells[:HEADER_SCAN_ROWS]):  # else: the first row filled enough
        if sum(1 for v in row if v) >= 3:
            return i + 1
    return 1


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _read_vector(path: Path, encoding: str | None, layer: str | None) -> Sheet:
    notes: list[tuple[str, str]] = []
    if path.suffix.lower() == ".shp":
        encoding, notes = _shapefile_encoding(path, encoding)
    try:
        layer = _vector_layer(path, layer)
        # Through Arrow: the columns come whole from GDAL, five times faster than a feature
        # at a time for a GeoPackage of 200,000 houses.
        frame = pyogrio.read_dataframe(path, encoding=encoding, layer=layer, use_arrow=True)
    except InvalidInput:
        raise
    except Exception as exc:  # pyogrio raises several types; all mean "cannot read this file"
        raise _bad(
            f"无法读取 {path.name}：{exc}。请确认文件完整（Shapefile 需 .shp、.shx、.dbf 同在），"
            f"支持 {FORMATS_ZH}",
            f"Cannot read {path.name}: {exc}. Check the file is complete (a Shapefile needs its "
            f".shp, .shx and .dbf together); use {FORMATS_EN}.",
        ) from exc
    geometry = frame.geometry.to_numpy() if "geometry" in frame else None
    crs = None
    if frame.crs is not None:
        try:
            epsg = CRS.from_user_input(frame.crs).to_epsg(min_confidence=70)
        except CRSError:
            epsg = None
        crs = f"EPSG:{epsg}" if epsg else frame.crs.to_wkt()
    attributes = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    data = {str(c): _as_text(attributes[c]) for c in attributes.columns}
    table = pd.DataFrame(data, index=range(len(frame)))
    rows = np.arange(1, len(frame) + 1)  # a GIS attribute table numbers features from 1
    if geometry is not None and (shapely.get_coordinate_dimension(geometry) > 2).any():
        geometry = shapely.force_2d(geometry)
    return Sheet(table, rows, geometry, crs, notes, kind="vector")


def _vector_layer(path: Path, wanted: str | None) -> str | None:
    """The layer to read: ``wanted`` (--sheet), or the only one; a file of several layers
    (a GeoPackage of houses and roads) is not read by guessing."""
    layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    if wanted is None and len(layers) <= 1:
        return None
    if wanted in layers:
        return wanted
    names = "、".join(layers)
    if wanted is None:
        raise _bad(
            f"{path.name} 中有多个图层：{names}。请用 --sheet 图层名 指明要导入哪一个",
            f"{path.name} holds several layers ({', '.join(layers)}); name the one to import "
            "with --sheet LAYER.",
        )
    raise _bad(
        f"{path.name} 中没有图层 {wanted!r}，可选：{names}",
        f"{path.name} has no layer {wanted!r}; it holds {', '.join(layers)}.",
    )


def _as_text(column: pd.Series) -> pd.Series:
    """A column as text: integers without '.0', missing as ''."""
    if column.dtype.kind in "iub":
        return column.astype(str)
    if column.dtype.kind == "f":
        numbers = column.to_numpy()
        finite = np.isfinite(numbers)
        whole = finite & (numbers == np.round(numbers))
        text = np.full(len(numbers), "", dtype=object)
        text[whole] = formatted(numbers[whole].astype(np.int64))
        text[finite & ~whole] = formatted(numbers[finite & ~whole])
        return pd.Series(text, index=column.index)
    if column.dtype.kind == "M":
        return column.dt.strftime("%Y-%m-%d").fillna("")
    return column.fillna("").astype(str).str.strip()


def _shapefile_encoding(path: Path, encoding: str | None) -> tuple[str, list[tuple[str, str]]]:
    """A Shapefile's .dbf encoding: --encoding, else its .cpg, else detected from the bytes
    (GDAL would assume ISO-8859-1, turning GBK names into mojibake)."""
    dbf = path.with_suffix(".dbf")
    if not dbf.exists() and not path.with_suffix(".DBF").exists():
        raise _bad(
            f"Shapefile {path.name} 缺少属性文件 {dbf.name}。请把同名的 .shp、.shx、.dbf"
            "（以及 .prj、.cpg）一起提供",
            f"The Shapefile {path.name} has no {dbf.name}; send the .shp, .shx and .dbf (and "
            ".prj, .cpg) together.",
        )
    if encoding:
        return encoding, [(f"{path.name} 按指定编码 {encoding} 读取", f"read as {encoding}")]
    cpg = path.with_suffix(".cpg")
    if cpg.exists():
        named = cpg.read_text(errors="replace").strip() or "utf-8"
        codec = {"936": "gb18030", "gbk": "gb18030", "65001": "utf-8"}.get(named.lower(), named)
        return codec, [(f"{path.name} 的编码取自 .cpg：{named}", f"encoding from .cpg: {named}")]
    raw = dbf.read_bytes() if dbf.exists() else path.with_suffix(".DBF").read_bytes()
    codec, _ = detect_encoding(raw[32:])
    label = "UTF-8" if codec.startswith("utf") else "GBK/GB18030"
    return codec, [
        (
            f"{path.name} 没有 .cpg，编码识别为 {label}；如有乱码请用 --encoding 指定",
            f"{path.name} has no .cpg; encoding detected as {label} (use --encoding if names "
            "look wrong)",
        )
    ]


def normalise_header(name: str) -> str:
    """A header as compared: NFKC (full-width to half-width), no spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", str(name)).split()).lower()


def unpack(archive: Path) -> Path:
    """A .zip's contents beside it; the .shp inside (or its one file). Members are written
    under their base names only."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = [n for n in zipped.namelist() if not n.endswith("/")]
            for member in names:
                (archive.parent / Path(member).name).write_bytes(zipped.read(member))
    except zipfile.BadZipFile as exc:
        raise _bad(f"{archive.name} 不是有效的 zip 文件", f"{archive.name} is not a zip.") from exc
    files = [archive.parent / Path(n).name for n in names]
    shapefiles = [f for f in files if f.suffix.lower() == ".shp"]
    if len(shapefiles) == 1:
        return shapefiles[0]
    if len(files) == 1:
        return files[0]
    raise _bad(
        f"{archive.name} 中应有一个 Shapefile（.shp、.shx、.dbf 等）或一个文件",
        f"{archive.name} should hold one Shapefile (.shp, .shx, .dbf, ...) or one file.",
    )
