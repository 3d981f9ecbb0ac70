"""Excel .xlsx / .xlsm: openpyxl in read-only mode (rows streamed from each sheet's XML), one record per row like a
CSV row, the sheet's first non-empty row naming the fields, locators 'Sheet1!row 12'.

Cells keep their type as text: integers without a trailing '.0', dates as ISO dates (a time only when it has one),
booleans as true/false, formulas as the value Excel cached when it last saved (never evaluated: a formula without a
cached value is empty). `options.sheet` picks one sheet (an ingestion rule's selector); otherwise every worksheet
is read, chart sheets skipped. Not read: merged cells beyond their top-left cell (read-only mode does not expose
the merge ranges), comments, charts, images, pivot caches.
"""

import datetime
import warnings
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import WorkSheetParser

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.delimited import unique_names
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.package import LIBRARY_ERRORS

# What openpyxl raises on a damaged or crafted package (it has no exception of its own for most of them).
_ERRORS: tuple[type[BaseException], ...] = (InvalidFileException, *LIBRARY_ERRORS)
_MIDNIGHT = datetime.time(0, 0)
_MAX_COLUMNS = 16_384  # Excel's last column, XFD


def parse_xlsx(
    source: BinaryIO, archive: zipfile.ZipFile, options: ParseOptions, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    """Rows of the workbook's worksheets (or of `options.sheet`) as records with the header's names as fields."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "extension not supported" and the like: nothing a user can act on
            workbook = load_workbook(source, read_only=True, data_only=True, keep_links=False, keep_vba=False)
    except RecursionError as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, "the workbook nests too deeply") from error
    except _ERRORS as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"workbook: {error}"[:500]) from error
    try:
        for sheet in _sheets(workbook, options.sheet):
            yield from _rows(workbook, sheet, options, limits)
    except RecursionError as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, "a sheet nests too deeply") from error
    except _ERRORS as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"sheet: {error}"[:500]) from error
    finally:
        workbook.close()


def _sheets(workbook: Workbook, wanted: str | None) -> list[ReadOnlyWorksheet]:
    sheets = list(workbook.worksheets)
    if wanted is None:
        return sheets
    chosen = [sheet for sheet in sheets if sheet.title == wanted] or [
        sheet for sheet in sheets if sheet.title.casefold() == wanted.casefold()
    ]
    if not chosen:
        titles = ", ".join(sheet.title for sheet in sheets)[:400]
        raise PermanentError(Reason.PARSE_OFFICE_SHEET_NOT_FOUND, f"no sheet {wanted!r}; the workbook has {titles}")
    return chosen[:1]


def _sheet_rows(workbook: Workbook, sheet: ReadOnlyWorksheet) -> Iterator[tuple[int, list[object]]]:
    """(row number, cell values by column) of the rows the sheet's XML holds, streamed.

    openpyxl's own row loop (ReadOnlyWorksheet.iter_rows) is not used: it yields every missing row one by one up to
    the next row number or the declared dimension (a row numbered 1,000,000,000 is a hang) and keeps the attributes
    of every styled row (a million empty styled rows held ~500 MB). Its sheet parser is: the private names below are
    of openpyxl 3.1.5, pinned.
    """
    with sheet._get_source() as source:
        parser = WorkSheetParser(
            source,
            workbook.shared_strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        for number, cells in parser.parse():
            parser.row_dimensions.clear()
            values: dict[int, object] = {cell["column"]: cell["value"] for cell in cells if cell["value"] is not None}
            width = max(values, default=0)
            yield number, [values.get(column) for column in range(1, min(width, _MAX_COLUMNS) + 1)]


def _rows(
    workbook: Workbook, sheet: ReadOnlyWorksheet, options: ParseOptions, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    title = str(sheet.title)
    names: list[str] | None = None
    metadata = {"sheet": title}
    for number, row in _sheet_rows(workbook, sheet):
        cells = [cell_text(value) for value in row]
        while cells and not cells[-1]:
            cells.pop()  # styled but empty cells at the end of a row
        if not cells:
            continue  # an empty (or only styled) row
        locator = f"{title}!row {number}"
        if len(cells) > limits.max_fields:
            detail = f"{len(cells)} cells > {limits.max_fields}; the rest dropped"
            yield ParseIssue(locator=locator, reason_code=Reason.LIMITS_TOO_MANY_FIELDS, detail=detail)
            del cells[limits.max_fields :]
        too_long = next((len(cell) for cell in cells if len(cell) > limits.max_field_chars), 0)
        if too_long:
            detail = f"a cell of {too_long} characters > {limits.max_field_chars}; row skipped"
            yield ParseIssue(locator=locator, reason_code=Reason.LIMITS_FIELD_TOO_LARGE, detail=detail)
            continue
        if names is None:
            if options.has_header:
                names, renamed = unique_names(cells)
                if renamed:
                    detail = f"header cells renamed: {', '.join(renamed)}"[:1000]
                    yield ParseIssue(locator=locator, reason_code=Reason.PARSE_CSV_HEADER_RENAMED, detail=detail)
                continue
            names = []
        if len(cells) > len(names):
            names = names + [f"column_{index}" for index in range(len(names) + 1, len(cells) + 1)]
        fields = dict(zip(names, cells, strict=False))
        text = "; ".join(f"{name}: {value}" for name, value in fields.items() if value)
        yield Record(text=text, locator=locator, fields=fields, metadata=metadata)


def cell_text(value: object) -> str:
    """A cell's value as text that keeps its type: 12 not 12.0, 2024-05-01 not 2024-05-01 00:00:00."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == _MIDNIGHT else value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value).strip()
