#!/usr/bin/env python3
"""Writes samples/expected/bundle/: the CSVs a municipality's first bundle must hold after
samples/metingen-good.csv (supplier 87654321) and samples/beschikkingen-good.csv
(municipality 0344) are processed, with the fixed test keys: TTP key 32 bytes of 0x11,
municipality key 32 bytes of 0x22.

Computed here from DESIGN.md alone (HMAC-SHA256, upper-case hex; the link window; CSV
form: `;`, CRLF, BOM, decimal comma; column names as the dataset's), not from dropgate's output, so that tests/it/publish.rs compares two independent
answers. Times in Kwaliteit.csv vary per run and are written as TIME; the test receives
the files at RECEIVED (its clock set there), which decides Kwaliteit.csv's `tijdig`.
"""

import hashlib
import hmac
from datetime import date
from pathlib import Path

TTP_KEY = bytes([0x11]) * 32
MUNICIPALITY_KEY = bytes([0x22]) * 32
OUT = Path(__file__).resolve().parent.parent / "samples" / "expected" / "bundle"

# The local (Amsterdam) date on which tests/it/publish.rs has the samples received: 00:30 on
# 1 January 2027, still 31 December in UTC. A measurement is on time (`tijdig`) when
# received at most 91 days after its date, by that local date.
RECEIVED = date(2027, 1, 1)
ON_TIME_DAYS = 91
# The dates of metingen-good.csv's five rows (M-1 to M-5), all accepted.
MEASURED = [date(2026, 10, d) for d in (1, 2, 3, 4, 4)]


def mac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest().upper()


def client(bsn: str) -> str:
    """A client as the municipality sees it: its hash of the TTP's pseudonym."""
    return mac(MUNICIPALITY_KEY, mac(TTP_KEY, bsn))


def h(value: str) -> str:
    return mac(MUNICIPALITY_KEY, value)


def write(name: str, header: str, rows: list[str]) -> None:
    text = "\ufeff" + "".join(line + "\r\n" for line in [header, *rows])
    (OUT / name).write_bytes(text.encode("utf-8"))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write(
        "Beschikkingen.csv",
        "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;"
        "ingangsdatum;einddatum;redenBeeindiging",
        [
            f"0344;{h('B-1')};{client('111222333')};87654321;45;45A01;2026-01-01;2026-09-30;02",
            f"0344;{h('B-2')};{client('123456782')};87654321;45;45A02;2026-02-01;;",
            f"0344;{h('B-3')};{client('999900006')};12345678;46;46001;2026-03-01;2026-06-30;35",
        ],
    )
    # Only M-1 falls in a window: B-1 ended 2026-09-30, so 2026-08-30..2026-10-30 for the
    # same client and provider. B-2 has not ended; B-3 names another provider.
    write(
        "Metingen.csv",
        "zorgaanbiedercode;metingnummer;pseudobsn;datum;gebruiktMeetinstrument;typeRespondent;"
        "totaalscoreMeting;status",
        [f"87654321;{h('M-1')};{client('111222333')};2026-10-01;CT;01;8,5;Volledig"],
    )
    write(
        "Koppelingen.csv",
        "beschikkingnummer;zorgaanbiedercode;metingnummer",
        [f"{h('B-1')};87654321;{h('M-1')}"],
    )
    # M-1 (1 October) is 92 days before 1 January: late; the other four are on time.
    # Decisions have no on-time count.
    on_time = sum(1 for d in MEASURED if (RECEIVED - d).days <= ON_TIME_DAYS)
    write(
        "Kwaliteit.csv",
        "levering;aanleverancier;gegevens;ontvangen;verwerkt;uitkomst;rijen;geaccepteerd;"
        "afgekeurd;redenen;regels;tijdig",
        [
            f"1;87654321;metingen;TIME;TIME;verwerkt;5;5;0;;;{on_time}",
            "2;0344;beschikkingen;TIME;TIME;verwerkt;3;3;0;;;",
        ],
    )
    # B-3 ended in Q2 and B-1 in Q3, one client each: every figure suppressed.
    write(
        "Indicatoren.csv",
        "periode;beeindigd;clienten;respons;ct_gemiddeld;gas_gemiddeld;uitval;metingen;onderdrukt",
        ["2026-Q2;;;;;;;;1", "2026-Q3;;;;;;;;1"],
    )
    # The same per provider: B-3's 12345678 in Q2, B-1's 87654321 in Q3; suppressed too.
    write(
        "IndicatorenPerAanbieder.csv",
        "periode;zorgaanbiedercode;beeindigd;clienten;respons;ct_gemiddeld;gas_gemiddeld;uitval;"
        "metingen;onderdrukt",
        ["2026-Q2;12345678;;;;;;;;1", "2026-Q3;87654321;;;;;;;;1"],
    )


if __name__ == "__main__":
    main()
