#!/usr/bin/env python3
"""Writes the sample deliveries in samples/: a good and a bad file of each dataset in each
format (CSV, xlsx, xls, ods, XML), and samples/expected/<dataset>-bad.problems.csv: the
problems (line;column;value;rule) that a receipt for the bad file must list, in order.

Every format carries the same rows on the same lines (header on line 1), so one expected
file serves all five. Needs: pip install openpyxl xlwt odfpy. The citizen numbers are test
numbers that pass the 11-check; they belong to no one.
"""
import datetime
import os
from xml.sax.saxutils import escape

import openpyxl
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples")

METINGEN = ["zorgaanbiedercode", "pseudobsn", "metingnummer", "datum", "gebruiktMeetinstrument",
            "typeRespondent", "totaalscoreMeting", "status"]
BESCHIKKINGEN = ["gemeentecode", "beschikkingnummer", "pseudobsn", "zorgaanbiedercode", "productcategorie",
                 "productcode", "ingangsdatum", "einddatum", "redenBeeindiging"]

METINGEN_GOOD = [
    ["87654321", "111222333", "M-1", "2026-10-01", "CT", "01", "8,5", "Volledig"],
    ["87654321", "123456782", "M-2", "02-10-2026", "GAS", "2", "1", "Onvolledig"],
    ["87654321", "12345672", "M-3", "2026/10/03", "ct", "06", "0", ""],
    ["87654321", "123456782", "M-4", "2026-10-04", "GAS", "03", "", "Onvolledig"],
    ["87654321", "999900006", "M-5", "04/10/2026", "GAS", "05", "", "nee"],
]
# (row, expected problems as (column, shown value, rule)); the first row is good. The files
# are delivered in the folder of the care provider with AGB code 87654321 (DESIGN 3.1: every
# row must carry it). Texts mask every run of eight or more digits (DESIGN 6), AGB codes too.
METINGEN_BAD = [
    (["87654321", "111222333", "B-1", "2026-10-01", "CT", "01", "7", "Volledig"], []),
    (["1234567", "123456782", "B-2", "2026-10-01", "CT", "01", "7", ""], [("zorgaanbiedercode", "1234567", "agb")]),
    (["11111111", "123456782", "B-3", "2026-10-01", "CT", "01", "7", ""], [("zorgaanbiedercode", "******11", "agb.other-provider")]),
    (["87654321", "123456789", "B-4", "2026-10-01", "CT", "01", "7", ""], [("pseudobsn", "*******89", "bsn")]),
    (["87654321", "000000000", "B-5", "2026-10-01", "CT", "01", "7", ""], [("pseudobsn", "*******00", "bsn")]),
    (["87654321", "123456782", "", "2026-10-01", "CT", "01", "7", ""], [("metingnummer", "", "required")]),
    (["87654321", "123456782", "X" * 65, "2026-10-01", "CT", "01", "7", ""], [("metingnummer", "X" * 64 + "…", "text")]),
    (["87654321", "123456782", "B-8", "31-02-2026", "CT", "01", "7", ""], [("datum", "31-02-2026", "date")]),
    (["87654321", "123456782", "B-9", "2099-01-01", "CT", "01", "7", ""], [("datum", "2099-01-01", "date.future")]),
    (["87654321", "123456782", "B-10", "2026-10-01", "XYZ", "01", "7", ""], [("gebruiktMeetinstrument", "XYZ", "instrument")]),
    (["87654321", "123456782", "B-11", "2026-10-01", "CT", "07", "7", ""], [("typeRespondent", "07", "respondent")]),
    (["87654321", "123456782", "B-12", "2026-10-01", "CT", "01", "abc", ""], [("totaalscoreMeting", "abc", "score")]),
    (["87654321", "123456782", "B-13", "2026-10-01", "CT", "01", "10,5", ""], [("totaalscoreMeting", "10,5", "score.range")]),
    (["87654321", "123456782", "B-14", "2026-10-01", "GAS", "01", "3", ""], [("totaalscoreMeting", "3", "score.range")]),
    (["87654321", "123456782", "B-15", "2026-10-01", "CT", "01", "7", "misschien"], [("status", "misschien", "status")]),
    (["87654321", "999900006", "B-1", "2026-10-02", "CT", "01", "6", ""], [("metingnummer", "B-1", "duplicate-in-file")]),
    (["87654321", "", "B-17", "", "CT", "01", "7", ""], [("pseudobsn", "", "required"), ("datum", "", "required")]),
    # A complete measurement (status empty or Volledig) needs a score; one not filled in has none.
    (["87654321", "123456782", "B-18", "2026-10-01", "CT", "01", "", "Volledig"], [("totaalscoreMeting", "", "required")]),
    (["87654321", "123456782", "B-19", "2026-10-01", "GAS", "01", "1", "Nee"], [("totaalscoreMeting", "1", "score.not-filled-in")]),
]

BESCHIKKINGEN_GOOD = [
    ["0344", "B-1", "111222333", "87654321", "45", "45A01", "2026-01-01", "2026-09-30", "02"],
    ["0344", "B-2", "123456782", "87654321", "45", "45A02", "01-02-2026", "", ""],
    ["0344", "B-3", "999900006", "12345678", "46", "46001", "2026/03/01", "30/06/2026", "35"],
]
BESCHIKKINGEN_BAD = [
    (["0344", "G-1", "111222333", "87654321", "45", "45A01", "2026-01-01", "", ""], []),
    (["344", "G-2", "123456782", "87654321", "45", "45A01", "2026-01-01", "", ""], [("gemeentecode", "344", "cbs")]),
    (["0307", "G-3", "123456782", "87654321", "45", "45A01", "2026-01-01", "", ""], [("gemeentecode", "0307", "cbs.not-own")]),
    (["0344", "", "123456782", "87654321", "45", "45A01", "2026-01-01", "", ""], [("beschikkingnummer", "", "required")]),
    (["0344", "G-5", "123456788", "87654321", "45", "45A01", "2026-01-01", "", ""], [("pseudobsn", "*******88", "bsn")]),
    (["0344", "G-6", "123456782", "ABCDEFGH", "45", "45A01", "2026-01-01", "", ""], [("zorgaanbiedercode", "ABCDEFGH", "agb")]),
    (["0344", "G-7", "123456782", "87654321", "4", "45A01", "2026-01-01", "", ""], [("productcategorie", "4", "productcategorie")]),
    (["0344", "G-8", "123456782", "87654321", "45", "123456", "2026-01-01", "", ""], [("productcode", "123456", "productcode")]),
    (["0344", "G-9", "123456782", "87654321", "45", "45A01", "2026-13-01", "", ""], [("ingangsdatum", "2026-13-01", "date")]),
    (["0344", "G-10", "123456782", "87654321", "45", "45A01", "2026-05-01", "2026-04-30", ""], [("einddatum", "2026-04-30", "date.order")]),
    (["0344", "G-11", "123456782", "87654321", "45", "45A01", "2026-05-01", "2026-06-30", "99"], [("redenBeeindiging", "99", "reden")]),
    (["0344", "G-1", "999900006", "87654321", "45", "45A01", "2026-01-01", "", ""], [("beschikkingnummer", "G-1", "duplicate-in-file")]),
]


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(";".join(header) + "\r\n")
        for row in rows:
            f.write(";".join(row) + "\r\n")


def xlsx_value(column, value):
    """Some cells as a spreadsheet would hold them: real dates and numbers."""
    if column in ("datum", "ingangsdatum") and len(value) == 10 and value[4] == "-":
        try:
            return datetime.datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            return value
    if column == "totaalscoreMeting" and value.lstrip("-").isdigit():
        return float(value)
    return value


def write_xlsx(path, header, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append([xlsx_value(c, v) for c, v in zip(header, row)])
    wb.save(path)


def write_xls(path, header, rows):
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Blad1")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for j, name in enumerate(header):
        ws.write(0, j, name)
    for i, row in enumerate(rows, start=1):
        for j, (column, value) in enumerate(zip(header, row)):
            v = xlsx_value(column, value)
            if isinstance(v, datetime.datetime):
                ws.write(i, j, v, date_style)
            else:
                ws.write(i, j, v)
    wb.save(path)


def write_ods(path, header, rows):
    doc = OpenDocumentSpreadsheet()
    table = Table(name="Blad1")
    for row in [header] + rows:
        tr = TableRow()
        for value in row:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            tr.addElement(cell)
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    doc.save(path)


def write_xml(path, root, record, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'<?xml version="1.0" encoding="UTF-8"?><{root}>\n')
        for row in rows:
            fields = "".join(f"<{c}>{escape(v)}</{c}>" for c, v in zip(header, row) if v != "")
            f.write(f"<{record}>{fields}</{record}>\n")
        f.write(f"</{root}>\n")


def main():
    for dataset, record, header, good, bad in (
        ("metingen", "meting", METINGEN, METINGEN_GOOD, METINGEN_BAD),
        ("beschikkingen", "beschikking", BESCHIKKINGEN, BESCHIKKINGEN_GOOD, BESCHIKKINGEN_BAD),
    ):
        bad_rows = [row for row, _ in bad]
        for kind, rows in (("good", good), ("bad", bad_rows)):
            base = os.path.join(OUT, f"{dataset}-{kind}")
            write_csv(base + ".csv", header, rows)
            write_xlsx(base + ".xlsx", header, rows)
            write_xls(base + ".xls", header, rows)
            write_ods(base + ".ods", header, rows)
            write_xml(base + ".xml", dataset, record, header, rows)
        with open(os.path.join(OUT, "expected", f"{dataset}-bad.problems.csv"), "w", encoding="utf-8") as f:
            for line, (_, problems) in enumerate(bad, start=2):
                for column, value, rule in problems:
                    f.write(f"{line};{column};{value};{rule}\n")


if __name__ == "__main__":
    main()
