#!/usr/bin/env python3
"""Writes hostile deliveries for dropgate's acceptance test "no delivery can stop the service"
(tests/it/hostile.rs) into OUTDIR, and prints a JSON manifest on stdout:

    {"agb": "...", "files": ["name", ...], "planted": [{"file": ..., "bsn": ..., "shape": ...}]}

Usage: python3 tests/make-hostile.py OUTDIR

Standard library only. Bombs are deflate streams built from one compressed chunk repeated
(each chunk from a fresh compressor, ended by a sync flush, so the copies are independent
and their concatenation is one valid stream), with the CRC-32 combined arithmetically: a
400 MiB cell costs a few hundred KB on disk and a fraction of a second to make. Zips are
written by hand so that their declared sizes can also lie.

Every file's content differs from every other's (intake would record a second copy as a
duplicate). The agb code of the supplier tenant that receives them is AGB below.
"""

import gzip
import json
import random
import struct
import sys
import zlib
from pathlib import Path

AGB = "13572468"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
HEADER = [
    "zorgaanbiedercode",
    "pseudobsn",
    "metingnummer",
    "datum",
    "gebruiktMeetinstrument",
    "typeRespondent",
    "totaalscoreMeting",
    "status",
]
MIB = 1 << 20
# Plain text too big for a line or node, but kept small on disk (the readers stop at
# max_line_bytes, 64 KiB by default, whatever comes after).
HUGE_TEXT = 16 * MIB


# --- BSNs -------------------------------------------------------------------------------


def valid_bsn(start8):
    """The first 11-check-valid 9-digit number whose first 8 digits are >= start8."""
    n = int(start8)
    while True:
        d = [int(c) for c in f"{n:08d}"]
        check = sum((9 - i) * d[i] for i in range(8)) % 11
        if check < 10:
            bsn = f"{n:08d}{check}"
            digits = [int(c) for c in bsn]
            assert (sum((9 - i) * digits[i] for i in range(8)) - digits[8]) % 11 == 0
            return bsn
        n += 1


BSNS = [
    valid_bsn(p)
    for p in [
        "24681357",
        "31415926",
        "27182818",
        "16180339",
        "14142135",
        "17320508",
        "22360679",
        "26457513",
        "19283746",
    ]
]


def spaced(b):
    return f"{b[:4]} {b[4:6]} {b[6:]}"


def dotted(b):
    return f"{b[:3]}.{b[3:6]}.{b[6:]}"


def dashed(b):
    return f"{b[:3]}-{b[3:6]}-{b[6:]}"


# --- deflate and zip by hand ------------------------------------------------------------


def _gf2_times(mat, vec):
    s, i = 0, 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _gf2_square(mat):
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1, crc2, len2):
    """zlib's crc32_combine: the CRC of A+B from crc(A), crc(B) and len(B)."""
    if len2 == 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


class Deflated:
    """A raw deflate stream built from parts (bytes, repeat), with CRC and sizes."""

    def __init__(self, parts):
        out, crc, size = [], 0, 0
        batched = []
        for data, repeat in parts:
            # A short piece repeated is first grouped into pieces of about 1 MiB: each
            # copy of a compressed piece costs a few bytes of block framing.
            group = max(1, min(repeat, MIB // max(1, len(data))))
            batched.append((data * group, repeat // group))
            batched.append((data, repeat % group))
        for data, repeat in batched:
            if not data or not repeat:
                continue
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            block = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
            # crc and length of `data` repeated `repeat` times, by doubling.
            one_crc, one_len = zlib.crc32(data), len(data)
            rep_crc, rep_len, k = 0, 0, repeat
            while k:
                if k & 1:
                    rep_crc = crc32_combine(rep_crc, one_crc, one_len)
                    rep_len += one_len
                k >>= 1
                if k:
                    one_crc = crc32_combine(one_crc, one_crc, one_len)
                    one_len *= 2
            out.append(block * repeat)
            crc = crc32_combine(crc, rep_crc, rep_len)
            size += rep_len
        out.append(zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))
        self.data = b"".join(out)
        self.crc = crc
        self.size = size


def write_zip(path, entries):
    """entries: (name, content) with content bytes (stored), a Deflated, or a tuple
    (Deflated, declared_size) for an entry that lies about its unpacked size."""
    body, central = bytearray(), bytearray()
    for name, content in entries:
        name_b = name.encode()
        declared = None
        if isinstance(content, tuple):
            content, declared = content
        if isinstance(content, Deflated):
            method, data, crc, size = 8, content.data, content.crc, content.size
        else:
            method, data, crc, size = 0, content, zlib.crc32(content), len(content)
        if declared is not None:
            size = declared
        offset = len(body)
        body += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size,
            len(name_b), 0,
        )
        body += name_b + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data),
            size, len(name_b), 0, 0, 0, 0, 0, offset,
        )
        central += name_b
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(body), 0
    )
    path.write_bytes(bytes(body) + bytes(central) + end)


def small(data):
    return Deflated([(data if isinstance(data, bytes) else data.encode(), 1)])


# --- xlsx and ods -----------------------------------------------------------------------

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def xlsx_skeleton(with_sst):
    types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        + (
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            if with_sst
            else ""
        )
        + "</Types>"
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{REL_NS}">'
        f'<Relationship Id="rId1" Type="{DOC_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{MAIN_NS}" '
        f'xmlns:r="{DOC_REL}"><sheets><sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    wb_rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{REL_NS}">'
        f'<Relationship Id="rId1" Type="{DOC_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (
            f'<Relationship Id="rId2" Type="{DOC_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            if with_sst
            else ""
        )
        + "</Relationships>"
    )
    return [
        ("[Content_Types].xml", small(types)),
        ("_rels/.rels", small(rels)),
        ("xl/workbook.xml", small(workbook)),
        ("xl/_rels/workbook.xml.rels", small(wb_rels)),
    ]


def col_name(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def inline_row(r, values):
    cells = "".join(
        f'<c r="{col_name(j)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
        for j, v in enumerate(values)
    )
    return f'<row r="{r}">{cells}</row>'


SHEET_HEAD = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN_NS}">'
)


def xlsx(path, sheet_parts, sst_parts=None, declared=None):
    entries = xlsx_skeleton(sst_parts is not None)
    sheet = Deflated([(p.encode() if isinstance(p, str) else p, n) for p, n in sheet_parts])
    entries.append(("xl/worksheets/sheet1.xml", sheet if declared is None else (sheet, declared)))
    if sst_parts is not None:
        entries.append(
            (
                "xl/sharedStrings.xml",
                Deflated([(p.encode() if isinstance(p, str) else p, n) for p, n in sst_parts]),
            )
        )
    write_zip(path, entries)


ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


def ods_cell(v, repeat=None):
    rep = f' table:number-columns-repeated="{repeat}"' if repeat else ""
    return f'<table:table-cell{rep} office:value-type="string"><text:p>{v}</text:p></table:table-cell>'


def ods(path, body):
    header = "<table:table-row>" + "".join(ods_cell(h) for h in HEADER) + "</table:table-row>"
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Blad1">'
        + header
        + body
        + "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    write_zip(
        path,
        [
            ("mimetype", ODS_MIME),
            ("content.xml", small(content)),
            ("META-INF/manifest.xml", small(ODS_MANIFEST)),
        ],
    )


# --- the files --------------------------------------------------------------------------


def csv_text(rows, sep=";", end="\n", header=True):
    lines = ([sep.join(HEADER)] if header else []) + [sep.join(r) for r in rows]
    return end.join(lines) + end


def good_row(n, bsn, **over):
    row = {
        "zorgaanbiedercode": AGB,
        "pseudobsn": bsn,
        "metingnummer": f"H-{n}",
        "datum": "2026-10-01",
        "gebruiktMeetinstrument": "CT",
        "typeRespondent": "01",
        "totaalscoreMeting": "7",
        "status": "Volledig",
    }
    row.update(over)
    return [row[h] for h in HEADER]


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    files = []
    planted = []

    def put(name, content):
        assert name not in files, name
        data = content.encode() if isinstance(content, str) else content
        (out / name).write_bytes(data)
        files.append(name)

    def made(name):
        files.append(name)
        return out / name

    def plant(name, bsn, shape):
        planted.append({"file": name, "bsn": bsn, "shape": shape})

    # xls: a DIMENSIONS record (0x0200) that declares a huge sheet.
    xls = bytearray((SAMPLES / "metingen-good.xls").read_bytes())
    at = xls.find(b"\x00\x02\x0e\x00")
    assert at >= 0, "no DIMENSIONS record in metingen-good.xls"
    for name, rows, cols in [
        ("xls-dim-max.xls", 2**32 - 1, 65535),
        ("xls-dim-2m-by-256.xls", 2_000_000, 256),
        ("xls-dim-rows.xls", 2**32 - 1, 8),
        ("xls-dim-cols.xls", 4, 65535),
    ]:
        data = bytearray(xls)
        struct.pack_into("<IIHH", data, at + 4, 0, rows, 0, cols)
        put(name, bytes(data))
    # xls: a compound file header followed by junk.
    rnd = random.Random(20261001)
    put("xls-cfb-junk.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rnd.randbytes(8192))

    # ods: repeat bombs.
    x = ods_cell("x", 16000)
    ods(made("ods-rows-and-cols.ods"),
        f'<table:table-row table:number-rows-repeated="1000000">{x}</table:table-row>')
    ods(made("ods-rows.ods"),
        '<table:table-row table:number-rows-repeated="1048576">'
        + ods_cell("y") + "</table:table-row>")
    ods(made("ods-rows-2g.ods"),
        '<table:table-row table:number-rows-repeated="2147483647">'
        + ods_cell("z") + "</table:table-row>")
    ods(made("ods-cols.ods"), f"<table:table-row>{x}</table:table-row>")
    ods(made("ods-cols-1g.ods"),
        "<table:table-row>" + ods_cell("w", 1073741824) + "</table:table-row>")
    ods(made("ods-sparse-far-cell.ods"),
        '<table:table-row table:number-rows-repeated="1000000">'
        '<table:table-cell table:number-columns-repeated="16000"/></table:table-row>'
        "<table:table-row>" + ods_cell("far") + "</table:table-row>")
    ods(made("ods-many-wide-rows.ods"),
        f"<table:table-row>{ods_cell('v', 16000)}</table:table-row>" * 3000)

    # xlsx.
    head = SHEET_HEAD + "<sheetData>" + inline_row(1, HEADER)
    tail = "</sheetData></worksheet>"
    xchunk = b"x" * MIB
    xlsx(made("xlsx-huge-shared-string.xlsx"),
         [(head + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>' + tail, 1)],
         [(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}" count="1" '
           'uniqueCount="1"><si><t>', 1), (xchunk, 400), ("</t></si></sst>", 1)])
    xlsx(made("xlsx-huge-inline-string.xlsx"),
         [(head + '<row r="2"><c r="A2" t="inlineStr"><is><t>', 1), (b"i" * MIB, 400),
          ("</t></is></c></row>" + tail, 1)])
    xlsx(made("xlsx-shared-strings-bomb.xlsx"),
         [(head + '<row r="2"><c r="A2" t="s"><v>39999999</v></c></row>' + tail, 1)],
         [(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}" count="40000000" '
           'uniqueCount="40000000">', 1), ("<si><t/></si>" * 80_000, 500), ("</sst>", 1)])
    rows_mib = ('<row><c t="inlineStr"><is><t>a</t></is></c></row>' * 21_000).encode()
    xlsx(made("xlsx-zip-bomb.xlsx"), [(head, 1), (rows_mib, 600), (tail, 1)])
    # The same unpacked size, but the zip says the sheet is 1 KiB.
    xlsx(made("xlsx-zip-bomb-lying-size.xlsx"),
         [(head, 1), (b" " * MIB, 600), (tail, 1)], declared=1024)
    # The sheet claims to fill every cell of the grid; one far cell says so too.
    xlsx(made("xlsx-dimension-lie.xlsx"),
         [(SHEET_HEAD + '<dimension ref="A1:XFD1048576"/><sheetData>' + inline_row(1, HEADER)
           + '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far</t></is></c></row>'
           + tail, 1)])
    xlsx(made("xlsx-deep-nesting.xlsx"),
         [(head + '<row r="2">', 1), ("<c>", 100_000), ("</c>", 100_000),
          ("</row>" + tail, 1)])
    xlsx(made("xlsx-wide-row.xlsx"),
         [(head + '<row r="2">', 1), ('<c t="inlineStr"><is><t>w</t></is></c>', 2_000_000),
          ("</row>" + tail, 1)])
    # A PDF under an Excel name, and a zip that is no workbook.
    put("pdf-named.xlsx", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n" + rnd.randbytes(2048))
    write_zip(made("zip-of-text.csv"), [("metingen.csv", small(csv_text([good_row(1, "111222333")])))])
    put("xlsx-truncated.xlsx", (SAMPLES / "metingen-good.xlsx").read_bytes()[:1500])

    # XML.
    put("xml-deep-nesting.xml",
        "<?xml version=\"1.0\"?><metingen>" + "<meting>" * 100_000 + "</meting>" * 100_000
        + "</metingen>")
    put("xml-billion-laughs.xml",
        '<?xml version="1.0"?><!DOCTYPE metingen [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                  for i in range(9))
        + ']><metingen><meting><metingnummer>&j;</metingnummer></meting></metingen>')
    put("xml-external-entity.xml",
        '<?xml version="1.0"?><!DOCTYPE metingen [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<metingen><meting><metingnummer>&x;</metingnummer></meting></metingen>")
    put("xml-parameter-entity.xml",
        '<?xml version="1.0"?><!DOCTYPE metingen [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
        "<metingen/>")
    with open(made("xml-huge-text-node.xml"), "wb") as f:
        f.write(b"<?xml version=\"1.0\"?><metingen><meting><metingnummer>")
        for _ in range(HUGE_TEXT // MIB):
            f.write(b"t" * MIB)
        f.write(b"</metingnummer></meting></metingen>")
    put("xml-huge-element-name.xml", "<metingen><" + "n" * (2 * MIB) + "/></metingen>")
    put("xml-many-attributes.xml",
        "<metingen><meting " + " ".join(f'a{i}="{i}"' for i in range(100_000))
        + "/></metingen>")
    put("xml-root-only.xml", '<?xml version="1.0"?>\n<metingen/>\n')

    # CSV.
    with open(made("csv-one-long-line.csv"), "wb") as f:
        f.write(csv_text([]).encode())
        for _ in range(HUGE_TEXT // MIB):
            f.write(b"l" * MIB)
        f.write(b"\n")
    put("csv-huge-quoted-field.csv",
        csv_text([]) + AGB + ';"' + "q\n" * MIB + '";H-1;2026-10-01;CT;01;7;\n')
    put("csv-separators-only.csv", csv_text([]) + ";;;;;;;\n" * 200_000)
    put("csv-separators-no-header.csv", ";;;;;;\n" * 1000 + " ; ; \n" * 1000)
    put("csv-cr-only.csv", csv_text([good_row(1, "111222333")], end="\r"))
    utf16 = csv_text([good_row(2, "111222333")], end="\r\n")
    put("csv-utf16le-bom.csv", b"\xff\xfe" + utf16.encode("utf-16-le"))
    put("csv-utf16be-bom.csv", b"\xfe\xff" + utf16.encode("utf-16-be"))
    put("csv-utf16le-no-bom.csv", csv_text([good_row(3, "123456782")]).encode("utf-16-le"))
    put("csv-empty.csv", b"")
    put("csv-whitespace-only.csv", " \r\n\t\n \n")
    put("csv-header-only.csv", csv_text([]))
    put("csv-many-columns.csv", csv_text([["c"] * 30_000]))
    put("csv-control-and-bidi.csv",
        csv_text([good_row(4, "123456782", metingnummer='"\x1b[2J\u202eevil\r\nstatus: verwerkt"',
                           status="Volledig\x0b")]))
    put("csv-sep-line-lies.csv", "sep=|\n" + csv_text([good_row(5, "111222333")]))

    # Binary junk.
    put("elf.csv", b"\x7fELF\x02\x01\x01\x00" + bytes(8) + rnd.randbytes(4096))
    put("gzip-of-csv.csv",
        gzip.compress(csv_text([good_row(6, "111222333")]).encode(), mtime=0))
    put("random-with-nuls.csv", bytes(b if b % 7 else 0 for b in rnd.randbytes(65536)))
    put("random.xml", rnd.randbytes(32768))

    # A name of 240 bytes (SFTP refuses names over 200; a local copy can make one).
    put("m" * 236 + ".csv", csv_text([good_row(7, "123456782")]))

    # BSNs inside longer values, each a distinct number in its own shape.
    b = iter(BSNS)
    n = next(b)
    put("bsn-comma-row.csv",
        csv_text([]) + ",".join(good_row(10, n)) + "\n" + ";".join(good_row(11, "111222333")) + "\n")
    plant("bsn-comma-row.csv", n, n)
    n = next(b)
    put("bsn-unclosed-quote.csv",
        csv_text([good_row(12, "111222333", metingnummer='"H-12')])
        + ";".join(good_row(13, n)) + "\n" + ";".join(good_row(14, "123456782")) + "\n")
    plant("bsn-unclosed-quote.csv", n, n)
    n = next(b)
    put("bsn-headerless.csv", ";".join(good_row(15, n)) + "\n" + ";".join(good_row(16, "111222333")) + "\n")
    plant("bsn-headerless.csv", n, n)
    n = next(b)
    put("bsn-spaces.csv", csv_text([good_row(17, spaced(n))]))
    plant("bsn-spaces.csv", n, spaced(n))
    n = next(b)
    put("bsn-dots.csv", csv_text([good_row(18, "111222333", status=dotted(n))]))
    plant("bsn-dots.csv", n, dotted(n))
    n = next(b)
    put("bsn-dashes.csv", csv_text([good_row(19, "123456782", datum=dashed(n))]))
    plant("bsn-dashes.csv", n, dashed(n))
    n = next(b)
    put("bsn-in-metingnummer.csv", csv_text([good_row(20, "111222333", metingnummer=f"X{n}Y")]))
    plant("bsn-in-metingnummer.csv", n, f"X{n}Y")
    n = next(b)
    row = "".join(f"<{h}>{v}</{h}>" for h, v in zip(HEADER, good_row(21, "123456782")))
    put("bsn-xml-extra-element.xml",
        f'<?xml version="1.0"?><metingen><meting>{row}<opmerking>client {n}</opmerking>'
        "</meting></metingen>")
    plant("bsn-xml-extra-element.xml", n, f"client {n}")
    n = next(b)
    put("bsn-in-header.csv",
        ";".join(HEADER) + f";extra {n}\n" + ";".join(good_row(22, "111222333")) + ";x\n")
    plant("bsn-in-header.csv", n, n)

    json.dump({"agb": AGB, "files": files, "planted": planted}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
