"""CSV files for French Excel: UTF-8 with a BOM (so accents open right), `;` between cells, and
no cell a spreadsheet would run as a formula (CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What neutralise quotes: a formula's start, or a quote already (an import gives the text back).
_QUOTED = (*FORMULA_START, "'")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula is prefixed with a quote; so is one that
    already starts with a quote, so that an import gives back the same text."""
    return "'" + cell if cell.startswith(_QUOTED) else cell


def unneutralise(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith((*FORMULA_START, "'")) else cell


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The rows as the text of a CSV file for French Excel; every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerows([[neutralise("" if cell is None else str(cell)) for cell in row] for row in rows])
    return BOM + out.getvalue()
