"""CSV / TSV: one record per row, the header naming the fields; cells kept verbatim, formulas flagged, never run.

Decisions: a NUL in the text is replaced by U+FFFD and reported per row (`parse.csv.nul_byte`) rather than refusing
the file: one stray NUL in a million-row export should not lose the other rows. Ragged rows keep every cell (extra
cells get `column_N`, missing ones are empty) and are reported per row.
"""

import _csv
import csv
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import BinaryIO

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.encoding import LineTooLongError, open_line_batches
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.records import NO_ENTRIES, row_record

DELIMITERS = ",;\t|"
_SNIFF_LINES = 20
_SNIFF_CHARS = 16 * 1024  # the sniffer's regexes backtrack: keep its sample small
_FORMULA_STARTS = frozenset("=+-@\t\r")
# What spreadsheet software would evaluate: =SUM(…), +A1, -cmd|…, @SUM(…); a leading tab or CR hides one.
_FORMULA = re.compile(r"[=+\-@](?:[^\W\d_]|\()|[\t\r]")
_first_char = itemgetter(slice(0, 1))


def parse_delimited(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """Rows of a CSV/TSV file as Records ('header: value; …'), and issues confined to one row."""
    if options.delimiter is not None and (len(options.delimiter) != 1 or options.delimiter in '"\r\n'):
        raise PermanentError(
            Reason.PARSE_CSV_INVALID_DELIMITER, f"delimiter {options.delimiter!r} is not one plain character"
        )
    batches, issues = open_line_batches(stream, options, limits)
    yield from issues
    # csv's field cap is process-global: set it for this parse, restore it after (on exhaustion or close).
    previous_cap = csv.field_size_limit(limits.max_field_chars)
    try:
        yield from _parse_rows(batches, options, limits)
    finally:
        csv.field_size_limit(previous_cap)


def parse_tsv(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """Rows of a tab-separated file (tab unless `options.delimiter` says otherwise)."""
    if options.delimiter is None:
        options = options.model_copy(update={"delimiter": "\t"})
    return parse_delimited(stream, options, limits)


def sniff_delimiter(sample: str) -> str:
    """The delimiter among , ; tab | that the sample's rows agree on, else a comma."""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except Exception:  # the sniffer is a heuristic: any failure of it means "use the default", never a failed file
        return ","
    return delimiter if delimiter in DELIMITERS else ","


def formula_columns(fields: dict[str, str]) -> list[str]:
    """Columns whose cell a spreadsheet would evaluate as a formula (kept verbatim, only flagged)."""
    return [name for name, value in fields.items() if value[:1] in _FORMULA_STARTS and _FORMULA.match(value)]


@dataclass
class _Feed:
    """Physical lines for `csv.reader`, a batch at a time: NULs replaced (their lines noted), one row's characters
    capped, and whether a batch can hold a formula cell at all (most cannot: their rows skip the check).

    csv takes the lines through `itertools.chain` in C; this runs once per batch. The row loop keeps `row_start` (the
    line the open row starts on): a row on several lines is measured when it ends, and a row still open when csv
    moves to the next batch is measured then, so csv never holds more than the cap and one batch of one row.
    """

    batches: Iterator[tuple[list[str], str]]
    delimiter: str
    limits: ParseLimits
    lines: list[str] = field(default_factory=list)  # the batch csv is reading
    first: int = 1  # line number of lines[0]
    row_start: int = 1
    carried: int = 0  # characters of the open row in the batches before `lines`
    formulas: bool = True  # whether a cell of `lines` may start with a formula character
    nul_lines: deque[int] = field(default_factory=deque)

    def generate(self) -> Iterator[list[str]]:
        for lines, text in self.batches:
            end = self.first + len(self.lines)  # the line after the batch csv has finished
            spans = self.row_start < end  # a row is open across the boundary
            self.carried = self.measure(self.row_start, end - 1) if spans else 0
            # `text` holds every line but the first (see open_line_batches): searching both covers the batch.
            self.formulas = (
                may_hold_formulas(text, self.delimiter)
                or may_hold_formulas(lines[0], self.delimiter)
                or (spans and self.formulas)
            )
            if "\x00" in text or "\x00" in lines[0]:
                lines = self._without_nuls(lines, end)
            self.first, self.lines = end, lines
            yield lines

    def measure(self, start: int, end: int) -> int:
        """Characters of the row on lines `start`..`end` (`end` in the current batch); raises over the cap."""
        cap = self.limits.max_line_chars
        begin = max(start, self.first)
        total = self.carried if start < self.first else 0
        window = self.lines[begin - self.first : end - self.first + 1]
        size = total + sum(map(len, window))
        if size > cap:
            for number, line in enumerate(window, start=begin):
                total += len(line)
                if total > cap:
                    # One row's quoted fields can span many lines: bound what csv holds for a single row.
                    raise PermanentError(Reason.LIMITS_ROW_TOO_LARGE, f"row ending at line {number} exceeds {cap}")
        return size

    def nul_before(self, line_number: int) -> bool:
        """Whether a NUL was replaced on any line up to `line_number` not asked about before."""
        found = False
        while self.nul_lines and self.nul_lines[0] <= line_number:
            self.nul_lines.popleft()
            found = True
        return found

    def _without_nuls(self, lines: list[str], first: int) -> list[str]:
        clean = []
        for number, line in enumerate(lines, start=first):
            if "\x00" in line:
                self.nul_lines.append(number)
                line = line.replace("\x00", "\ufffd")
            clean.append(line)
        return clean


def may_hold_formulas(text: str, delimiter: str) -> bool:
    """Whether a cell in these lines may start with a formula character: False is certain, True may be wrong.

    One fast search per character (most files have none of = + - @ or a tab); searching for a character where a cell
    starts (after a delimiter, a quote or a line end) would cost several searches and save little.
    """
    if any(char in text for char in "=+-@"):
        return True
    if "\t" in text and (delimiter != "\t" or '"\t' in text):  # with tabs as delimiters, only a quoted cell
        return True
    return "\r" in text and '"\r' in text  # a CR starts a cell only inside quotes: unquoted, it ends the line


def _parse_rows(
    batches: Iterator[tuple[list[str], str]], options: ParseOptions, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    delimiter = options.delimiter or ","
    try:
        first = _first_batch(batches)
        if options.delimiter is None:
            sample = "".join(_sample(first[0]))[:_SNIFF_CHARS].replace("\x00", "\ufffd")
            delimiter = sniff_delimiter(sample)
        feed = _Feed(chain([first] if first[0] else [], batches), delimiter, limits)
        lines = chain.from_iterable(feed.generate())
        rows = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
        yield from _records(rows, feed, options, limits)
    except LineTooLongError as error:
        refined = _line_too_long(error, delimiter, limits)
        if refined is None:
            raise
        raise refined from error


def _first_batch(batches: Iterator[tuple[list[str], str]]) -> tuple[list[str], str]:
    # The sniffing sample comes from one batch: join the first ones if they are too small to hold it.
    first: list[str] = []
    for lines, _ in batches:
        first.extend(lines)
        if len(first) >= _SNIFF_LINES or sum(map(len, first)) >= _SNIFF_CHARS:
            break
    return first, "".join(first)


def _sample(lines: list[str]) -> list[str]:
    sample: list[str] = []
    size = 0
    for line in lines:
        sample.append(line)
        size += len(line)
        if len(sample) >= _SNIFF_LINES or size >= _SNIFF_CHARS:
            break
    return sample


def _records(
    rows: _csv.Reader, feed: _Feed, options: ParseOptions, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    """One flat loop with local state because it runs once per row; odd rows leave it for the slow paths."""
    names: list[str] = []
    width = 0  # cells the header (or the first row) has
    template = ""  # "name: {}; …" for a row of `width` non-blank cells
    last_line = 0
    nul_lines, strip, formula_starts = feed.nul_lines, str.strip, _FORMULA_STARTS
    try:
        for row in rows:
            start, last_line = last_line + 1, rows.line_num
            feed.row_start = last_line + 1
            if last_line != start:
                feed.measure(start, last_line)
            if nul_lines and feed.nul_before(last_line):
                yield ParseIssue(
                    locator=f"row {start}", reason_code=Reason.PARSE_CSV_NUL_BYTE, detail="NUL replaced by U+FFFD"
                )
            stripped = list(map(strip, row))
            full = all(stripped)  # the usual row: every cell filled, so it is not blank unless it has no cell
            if not (full and stripped) and not any(stripped):
                continue
            if not names:
                names, width, header_issues = _start_columns(row, start, options, limits)
                template = "; ".join(name.replace("{", "{{").replace("}", "}}") + ": {}" for name in names)
                yield from header_issues
                if options.has_header:
                    continue
            if len(row) != width:  # only odd rows pay for the checks
                row, row_issues = _fit(row, f"row {start}", names, width, limits)
                yield from row_issues
                stripped = list(map(strip, row))
                full = all(stripped)
            fields = dict(zip(names, row))  # noqa: B905 -- lengths may differ; strict=False costs a keyword call a row
            if full and len(row) == width:
                text = template.format(*stripped)
            else:
                text = "; ".join([f"{name}: {value}" for name, value in zip(names, stripped, strict=False) if value])
            if feed.formulas and not formula_starts.isdisjoint(map(_first_char, row)):
                formulas = formula_columns(fields)
                if formulas:
                    yield Record(text, f"row {start}", fields, {"formula_cells": ",".join(formulas)})
                    continue
            yield row_record((text, f"row {start}", fields, NO_ENTRIES, (), ()))
    except csv.Error as error:
        raise _csv_error(error, last_line + 1) from error


def _start_columns(
    row: list[str], line: int, options: ParseOptions, limits: ParseLimits
) -> tuple[list[str], int, list[ParseIssue]]:
    issues = []
    if len(row) > limits.max_fields:
        detail = f"{len(row)} columns, only the first {limits.max_fields} kept"
        issues.append(ParseIssue(locator=f"row {line}", reason_code=Reason.LIMITS_TOO_MANY_FIELDS, detail=detail))
        row = row[: limits.max_fields]
    if not options.has_header:
        return [f"column_{index}" for index in range(1, len(row) + 1)], len(row), issues
    names, renamed = unique_names(row)
    if renamed:
        detail = "blank or duplicate header names renamed: " + ", ".join(renamed)
        issues.append(
            ParseIssue(locator=f"row {line}", reason_code=Reason.PARSE_CSV_HEADER_RENAMED, detail=detail[:1000])
        )
    return names, len(names), issues


def unique_names(header: list[str]) -> tuple[list[str], list[str]]:
    """Header cells as unique column names (blank -> column_N, repeats -> name_2, …), and what was renamed."""
    names: list[str] = []
    seen: set[str] = set()
    renamed: list[str] = []
    for index, cell in enumerate(header, start=1):
        wanted = cell.strip()
        name = _unused(wanted or f"column_{index}", seen)
        if name != wanted:
            renamed.append(f"{wanted!r} -> {name!r}")
        seen.add(name)
        names.append(name)
    return names, renamed


def _unused(name: str, seen: set[str]) -> str:
    candidate, suffix = name, 2
    while candidate in seen:
        candidate, suffix = f"{name}_{suffix}", suffix + 1
    return candidate


def _fit(
    row: list[str], locator: str, names: list[str], width: int, limits: ParseLimits
) -> tuple[list[str], list[ParseIssue]]:
    """A ragged row padded or given extra column names (and cut at `max_fields`), with the issues it raises."""
    issues = []
    if len(row) > limits.max_fields:
        detail = f"{len(row)} cells, only the first {limits.max_fields} kept"
        issues.append(ParseIssue(locator=locator, reason_code=Reason.LIMITS_TOO_MANY_FIELDS, detail=detail))
        row = row[: limits.max_fields]
    if len(row) != width:
        detail = f"{len(row)} cells where the header has {width}"
        issues.append(ParseIssue(locator=locator, reason_code=Reason.PARSE_CSV_RAGGED_ROW, detail=detail))
        if len(row) > len(names):
            _extend_names(names, len(row))
        row = row + [""] * (width - len(row))
    return row, issues


def _extend_names(names: list[str], count: int) -> None:
    # Extra cells of ragged rows get positional names; the list is shared, so later rows reuse them.
    seen = set(names)
    for index in range(len(names) + 1, count + 1):
        name = _unused(f"column_{index}", seen)
        seen.add(name)
        names.append(name)


def _csv_error(error: csv.Error, line: int) -> PermanentError:
    if "field larger than field limit" in str(error):
        return PermanentError(Reason.LIMITS_FIELD_TOO_LARGE, f"row starting at line {line}: {error}")
    return PermanentError(Reason.PARSE_CSV_MALFORMED, f"row starting at line {line}: {error}")


def _line_too_long(error: LineTooLongError, delimiter: str, limits: ParseLimits) -> PermanentError | None:
    # Name the cap the line actually breaks: one giant field (the usual hostile single-line file) or many cells.
    try:
        for _ in csv.reader([error.partial], delimiter=delimiter, strict=False):
            pass
    except csv.Error:
        cap = limits.max_field_chars
        return PermanentError(
            Reason.LIMITS_FIELD_TOO_LARGE, f"line {error.line_number}: a field exceeds {cap} characters"
        )
    return None
