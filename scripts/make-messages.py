#!/usr/bin/env python3
"""Writes a set of iJw/iWmo 3.2 messages (XML) for the message intake tests, and
OUT_DIR/expected.json: what intake must make of them (faults, Ketendata row counts, the
rows of the link table, and every personal value that must never come out again).

For each municipality and law, each client gets a chain of linked messages: 315 request
(with 316 return, iJw only), a 319 answer per requested product (320), a 301 assignment
(302), 305 start of care (306); for some clients a 317 change request (318), its 319 answer
(320) and, when it is taken into consideration, a new 301 and a 305 for a new product; for
some products a 307 stop (308). Each provider sends one 323 claim a month over all its
clients (325 answer, iJw only). Every Dagtekening lies in 2026 and grows along a chain.

Return messages follow the standard (and the XSDs, which fix the direction of each type):
a 302/306/308/316/318/320 repeats the header of the message it answers (Afzender,
Ontvanger, BerichtIdentificatie), and names itself in IdentificatieRetour and
DagtekeningRetour. A 325 has a header of its own and names its 323 in
DeclaratieIdentificatie. So a header identity is unique only together with BerichtCode.

With --faults: byte-identical copies under another name, one message sent again with the
same header identity (other whitespace), one valid message for a municipality that is not
in --municipalities, and messages that break their schema (a date 2027-06-31, an element out
of order, a missing element). With --zip the good messages also go into a zip, in folders
2026/MM/ by their own date; with --faults the zip also holds ../buiten.xml, a nested
binnen.zip and a directory entry.

--bulk N writes N valid messages (every type, in turn) from templates straight into the zip
(and with --bulk-dir into a folder too), without expected.json: for benchmarks.
--check generates a set with --faults --zip in a temporary folder, runs xmllint --schema on
every file and re-derives expected.json from the files themselves.

Usage: scripts/make-messages.py OUT_DIR [--seed N] [--clients N] [--municipalities 0384,0363]
           [--laws ijw,iwmo] [--zip NAME.zip] [--faults]
       scripts/make-messages.py [OUT_DIR] --bulk N --zip NAME.zip [--bulk-dir DIR] [--seed N]
       scripts/make-messages.py --check [--seed N] [--clients N]
A --zip without a folder in it is written into OUT_DIR. Needs: Python 3 (stdlib only);
--check needs xmllint (Debian package libxml2-utils). The citizen numbers pass the 11-check
and belong to no one; names, addresses and numbers are made up.
"""
import argparse
import collections
import datetime
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from benchlib import bsn  # noqa: E402

XSD = os.path.join(ROOT, "src", "check", "messages", "xsd")
YEAR_END = datetime.date(2026, 12, 31)
D = datetime.timedelta

# --- The two standards -----------------------------------------------------------------

LAWS = {
    "ijw": {
        "prefix": "JW", "base": "ijw", "folder": "jw",
        "base_ns": "http://www.istandaarden.nl/ijw/3_2/basisschema/schema",
        "ns": "http://www.istandaarden.nl/ijw/3_2/{p}/schema",
        "codes": {301: 436, 302: 437, 305: 438, 306: 439, 307: 440, 308: 441, 315: 446, 316: 447,
                  317: 486, 318: 487, 319: 488, 320: 489, 323: 490, 325: 491},
        # (categorie, code, eenheid, frequentie, volume range, tarief in cents)
        "products": [("45", "45A03", "04", "2", (2, 6), 7450), ("45", "45A48", "16", "2", (1, 4), 9800),
                     ("46", "46A01", "14", "4", (10, 31), 16500), ("54", "54001", "04", "6", (10, 40), 11200),
                     ("55", "55A11", "04", "2", (1, 4), 6900), ("43", "43A54", "84", "4", (1, 2), 125000),
                     ("41", "41A12", "14", "4", (15, 31), 21000), ("40", "40A08", "16", "2", (1, 5), 5800)],
        "reden_beeindiging": ["31", "31", "31", "02", "20", "32", "33", "34", "35"],
        "relatie_soort": ["10", "10", "11", "13", "17"],
        "born": (2008, 2024),
        "verwijzer": [("02", None), ("03", "Jeugdarts GGD"), ("04", "Jeugdbescherming Regio"), ("01", "Wijkteam")],
    },
    "iwmo": {
        "prefix": "WMO", "base": "iwmo", "folder": "wmo",
        "base_ns": "http://www.istandaarden.nl/iwmo/3_2/basisschema/schema",
        "ns": "http://www.istandaarden.nl/iwmo/3_2/{p}/schema",
        "codes": {301: 414, 305: 418, 307: 420, 315: 444, 317: 480, 319: 482, 323: 484},
        "products": [("02", "02A01", "04", "2", (1, 6), 6150), ("03", "03A02", "16", "2", (1, 5), 5200),
                     ("01", "01A04", "04", "2", (2, 8), 3950), ("04", "04A01", "14", "4", (10, 31), 9800),
                     ("05", "05A03", "84", "6", (1, 2), 95000), ("08", "08A01", "01", "2", (60, 240), 95)],
        "reden_beeindiging": ["31", "31", "31", "02", "19", "20", "21", "22", "23"],
        "relatie_soort": ["12", "16", "15", "14", "17"],
        "born": (1932, 2000),
        "verwijzer": [("01", "Wmo-loket"), ("02", None), ("05", "Medisch specialist")],
    },
}
# The message types whose Afzender is the municipality (the others come from the provider).
FROM_MUNICIPALITY = {301, 302, 319, 320, 325}
# Return message type of each original (325 answers a 323 but is no return message).
RETOUR = {301: 302, 305: 306, 307: 308, 315: 316, 317: 318, 319: 320}
# The Ketendata CSVs of repeating sub-elements: number -> [(CSV suffix, element path)].
SUBS = {
    301: [("ToegewezenProduct", "Client/ToegewezenProducten/ToegewezenProduct"),
          ("Contact", "Client/Contactgegevens/Contact")],
    305: [("StartProduct", "Client/StartProducten/StartProduct")],
    307: [("StopProduct", "Client/StopProducten/StopProduct")],
    315: [("AangevraagdProduct", "Client/AangevraagdeProducten/AangevraagdProduct")],
    316: [("AangevraagdProduct", "Client/AangevraagdeProducten/AangevraagdProduct")],
    317: [("OngewijzigdProduct", "Client/Verzoek/OngewijzigdeProducten/OngewijzigdProduct"),
          ("TeWijzigenProduct", "Client/Verzoek/TeWijzigenProducten/TeWijzigenProduct"),
          ("NieuwProduct", "Client/Verzoek/NieuweProducten/NieuwProduct")],
    318: [("OngewijzigdProduct", "Client/Verzoek/OngewijzigdeProducten/OngewijzigdProduct"),
          ("TeWijzigenProduct", "Client/Verzoek/TeWijzigenProducten/TeWijzigenProduct"),
          ("NieuwProduct", "Client/Verzoek/NieuweProducten/NieuwProduct")],
    323: [("Client", "Declaratie/Clienten/Client"), ("Prestatie", "Declaratie/Clienten/Client/Prestaties/Prestatie")],
    325: [("Client", "DeclaratieAntwoord/Clienten/Client"),
           ("Prestatie", "DeclaratieAntwoord/Clienten/Client/Prestaties/Prestatie")],
}


def type_name(law, number):
    return f"{LAWS[law]['prefix']}{number}"


def csv_names(law):
    """Every Ketendata CSV of `law`, in a fixed order."""
    names = []
    for number in sorted(LAWS[law]["codes"]):
        names.append(f"{type_name(law, number)}.csv")
        names.extend(f"{type_name(law, number)}_{sub}.csv" for sub, _ in SUBS.get(number, []))
    return names


def schema_path(law, number):
    return os.path.join(XSD, LAWS[law]["folder"], f"{type_name(law, number)}.xsd")


# --- XML ---------------------------------------------------------------------------------
# A node is (name, content, base): content a string or a list of nodes (None is left out);
# base marks an element of a basisschema type (CDT_*), whose descendants are all in the
# basisschema namespace (ijw:/iwmo:); everything else is in the message's namespace.

def E(name, content):
    return (name, content, False)


def C(name, content):
    return (name, content, True)


def render(law, number, nodes):
    info = LAWS[law]
    p = f"{info['prefix'].lower()}{number}"
    b = info["base"]
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           f'<{p}:Bericht xmlns:{b}="{info["base_ns"]}" xmlns:{p}="{info["ns"].format(p=p)}">\n']

    def walk(node, depth, in_base):
        name, content, base = node
        pre = b if in_base else p
        tabs = "\t" * depth
        if isinstance(content, str):
            out.append(f"{tabs}<{pre}:{name}>{escape(content)}</{pre}:{name}>\n")
            return
        out.append(f"{tabs}<{pre}:{name}>\n")
        for child in content:
            if child is not None:
                walk(child, depth + 1, in_base or base)
        out.append(f"{tabs}</{pre}:{name}>\n")

    for node in nodes:
        walk(node, 1, False)
    out.append(f"</{p}:Bericht>\n")
    return "".join(out)


def rc(code="0200"):
    return E("RetourCodes", [E("RetourCode", code)])


def xsd_versie(name):
    return C(name, [E("BasisschemaXsdVersie", "1.0.0"), E("BerichtXsdVersie", "1.0.0")])


def ident(name, identificatie, dagtekening):
    return C(name, [E("Identificatie", identificatie), E("Dagtekening", str(dagtekening))])


# --- Made-up people ----------------------------------------------------------------------

SURNAME_STEMS = ["Berg", "Brink", "Dijk", "Hoek", "Kamp", "Veld", "Wal", "Horst", "Beek", "Bosch", "Hof",
                 "Laar", "Meer", "Steen", "Hout", "Kerk", "Molen", "Weide", "Zand", "Heuvel", "Linde",
                 "Vos", "Haver", "Riet", "Wessel", "Harm", "Tjalling", "Eik", "Roo", "Bloem", "Wijn",
                 "Kool", "Gras", "Vink", "Mos", "Stroo", "Ooster", "Wester", "Noord", "Zuid"]
SURNAME_ENDS = ["huizen", "mans", "stra", "ink", "ema", "inga", "sma", "kamp", "man", "ers", "hof", "veld",
                "werf", "dijk", "horst", "rink", "beek", "boom", "gaard", "land"]
PREFIXES = [None] * 6 + ["van", "de", "van der", "van den", "ter", "te"]
FIRST_NAMES = ["Anouk", "Bram", "Daan", "Eline", "Fenna", "Gijs", "Hidde", "Isa", "Jesse", "Jorieke", "Lieke",
               "Maud", "Niels", "Roos", "Sem", "Tess", "Wouter", "Yara", "Sietske", "Jelmer", "Femke", "Ruben",
               "Marit", "Thijs", "Noor", "Lotte", "Joris", "Floor", "Stijn", "Merel", "Koen", "Ilse", "Sanne",
               "Teun", "Romy", "Gerrit", "Hendrika", "Willemijn", "Aaltje", "Berend", "Cornelis", "Dirkje",
               "Evert", "Geertruida", "Harmen", "Jantina", "Klaasje", "Lammert", "Maartje", "Otto",
               "Pieternella", "Reinout", "Sjoerd", "Trijntje", "Ulbe", "Vera", "Wiebe", "Xander", "Ymkje",
               "Zwaantje", "Auke", "Baukje", "Douwe", "Eelco", "Fokje", "Gerben", "Hylke", "Idske"]
STREET_STEMS = ["Lijsterbes", "Kastanje", "Vlier", "Goudsbloem", "Reiger", "Merel", "Zwaluw", "Esdoorn",
                "Hazelaar", "Klaproos", "Korenbloem", "Madelief", "Meidoorn", "Populier", "Rozen", "Sering",
                "Tulp", "Wilgen", "Eiken", "Beuken", "Berken", "Linden", "Iepen", "Hyacint", "Narcis",
                "Zonnebloem", "Kievit", "Patrijs", "Fazant", "Buizerd", "Vinken", "Roodborst", "Specht",
                "Uilen", "Zilvermeeuw", "Koekoek", "Hoefslag", "Molen", "Dorps", "Kerk"]
STREET_ENDS = ["straat", "laan", "weg", "plein", "gracht", "singel", "kade", "dreef", "hof", "pad"]
STREET_FRONTS = ["Oude ", "Nieuwe ", "Korte ", "Lange "]
PLACE_FRONTS = ["Ooster", "Wester", "Noorder", "Zuider", "Nieuw", "Oud", "Groot", "Klein", "Hoog", "Laag",
                "Midden", "Achter"]
PLACE_ENDS = ["wolde", "veen", "brug", "dam", "horn", "meer", "broek", "zijl", "kerk", "dorp", "haven", "wijk",
              "lo", "rade", "hout", "zande"]
PLACE_RIVERS = [" aan de Vecht", " aan de Linge", " aan de Berkel", " aan den Rijn", " aan de Dinkel"]
MAIL_DOMAINS = ["voorbeeldpost.nl", "proefmail.nl", "testbus.nl"]
REMARKS = ["Afspraak in overleg met school", "Wacht op verslag huisarts", "Graag contact via mentor",
           "Inzet afgestemd met wijkteam", "Client heeft voorkeur voor middagafspraken"]
# The kinds of personal values listed in expected.json's `secrets`.
SECRET_KINDS = ["bsn", "achternaam", "voornamen", "straatnaam", "plaatsnaam", "telefoon", "email", "postcode",
                "geboortedatum", "commentaar"]


class People:
    """Makes up people whose every value is new: each surname, set of first names, postcode,
    phone number and e-mail address occurs once, so that a test can grep for it; streets,
    places and birth dates too, until some ten thousand have been used."""

    def __init__(self, rng):
        self.rng = rng
        self.seen = {kind: set() for kind in SECRET_KINDS}

    def _new(self, kind, *makers, repeat=False):
        """A value from the first of `makers` that still finds a new one; with `repeat`, a
        value seen before rather than none."""
        for make in makers:
            for _ in range(60):
                value = make()
                if value not in self.seen[kind]:
                    self.seen[kind].add(value)
                    return value
        if repeat:
            return value
        sys.exit(f"no new {kind} left to make up: ask for fewer --clients")

    def _surname(self):
        r = self.rng
        make = lambda: r.choice(SURNAME_STEMS) + r.choice(SURNAME_ENDS)  # noqa: E731
        return self._new("achternaam", make, lambda: f"{make()}-{make()}")

    def _first_names(self):
        r = self.rng
        return self._new("voornamen", lambda: " ".join(r.sample(FIRST_NAMES, 2)), lambda: " ".join(r.sample(FIRST_NAMES, 3)))

    def bsn(self):
        return self._new("bsn", lambda: bsn(self.rng))

    def birth_date(self, first, last):
        r = self.rng
        make = lambda: str(datetime.date(r.randint(first, last), 1, 1) + D(r.randrange(365)))  # noqa: E731
        return self._new("geboortedatum", make, repeat=True)

    def remark(self):
        r = self.rng
        return self._new("commentaar", lambda: f"{r.choice(REMARKS)} (notitie {r.getrandbits(24):06x})")

    def address(self):
        r = self.rng

        def fit(make):  # Straatnaam holds at most 24 characters
            while len(s := make()) > 24:
                pass
            return s

        def postcode():
            while (letters := r.choice("ABCDEFGHJKLMNPRSTVWXZ") + r.choice("ABCDEFGHJKLMNPRSTVWXZ")) in ("SA", "SD", "SS"):
                pass
            return f"{r.randint(1000, 9999)}{letters}"

        street = lambda: r.choice(STREET_STEMS) + r.choice(STREET_ENDS)  # noqa: E731
        place = lambda: r.choice(PLACE_FRONTS) + r.choice(PLACE_ENDS)  # noqa: E731
        return {
            "straat": self._new("straatnaam", lambda: fit(street), lambda: fit(lambda: r.choice(STREET_FRONTS) + street()),
                                lambda: fit(lambda: r.choice(SURNAME_STEMS) + r.choice(SURNAME_ENDS) + r.choice(STREET_ENDS)),
                                repeat=True),
            "huisnummer": str(r.randint(1, 240)),
            "huisletter": r.choice([None] * 5 + ["A", "B", "C"]),
            "toevoeging": r.choice([None] * 6 + ["bis", "2hg", "K12"]),
            "postcode": self._new("postcode", postcode),
            "plaats": self._new("plaatsnaam", place, lambda: place() + r.choice(PLACE_RIVERS), lambda: f"{place()}-{place()}",
                               repeat=True),
        }

    def phone(self):
        r = self.rng

        def make():
            area = r.choice(["06", "010", "020", "030", "050", "0570", "0513"])
            return area + "".join(r.choice("0123456789") for _ in range(10 - len(area)))
        return self._new("telefoon", make)

    def person(self, born, with_bsn=True, partner=False):
        r = self.rng
        first = self._first_names()
        surname = self._surname()
        person = {
            "bsn": self.bsn() if with_bsn else None,
            "geboortedatum": self.birth_date(*born),
            "geslacht": r.choice("1212120"),
            "achternaam": surname,
            "voorvoegsel": r.choice(PREFIXES),
            "partnernaam": self._surname() if partner else None,
            "voornamen": first,
            "voorletters": "".join(n[0] for n in first.split()),
            "adres": self.address(),
            "telefoon": self.phone(),
        }
        local = f"{first.split()[0]}.{surname}".lower().replace(" ", "").replace("-", ".")
        person["email"] = self._new("email", lambda: f"{local}@{r.choice(MAIL_DOMAINS)}",
                                    lambda: f"{local}{r.randint(2, 999)}@{r.choice(MAIL_DOMAINS)}")
        return person


# --- Message parts -----------------------------------------------------------------------

def geboortedatum(person):
    return C("Geboortedatum", [E("Datum", person["geboortedatum"])])


def geslachtsnaam(person):
    return E("Geslachtsnaam", [E("Achternaam", person["achternaam"]),
                               E("Voorvoegsel", person["voorvoegsel"]) if person["voorvoegsel"] else None])


def naam_kort(person):
    return C("Naam", [geslachtsnaam(person), E("Voornamen", person["voornamen"]),
                      E("Voorletters", person["voorletters"])])


def naam_volledig(person):
    partner = person["partnernaam"]
    return C("Naam", [geslachtsnaam(person),
                      E("Partnernaam", [E("Achternaam", partner)]) if partner else None,
                      E("Voornamen", person["voornamen"]), E("Voorletters", person["voorletters"]),
                      E("NaamGebruik", "4" if partner else "1")])


def client_kort(client):
    """Bsn, Geboortedatum, Geslacht, Naam (CDT_VerkorteNaam): the client in 305/307/315."""
    p = client["person"]
    return [E("Bsn", p["bsn"]), geboortedatum(p), E("Geslacht", p["geslacht"]), naam_kort(p)]


def adres(a):
    return C("Adres", [E("Huis", [E("Huisnummer", a["huisnummer"]),
                                  E("Huisletter", a["huisletter"]) if a["huisletter"] else None,
                                  E("HuisnummerToevoeging", a["toevoeging"]) if a["toevoeging"] else None]),
                       E("Postcode", a["postcode"]), E("Straatnaam", a["straat"]), E("Plaatsnaam", a["plaats"]),
                       E("LandCode", "NL")])


def contact(soort, address, phone=None, email=None, organisatie=None):
    return E("Contact", [E("Soort", soort), adres(address),
                         E("Organisatie", organisatie) if organisatie else None,
                         C("Telefoon", [E("Telefoon01", [E("Telefoonnummer", phone), E("Landnummer", "0031")])])
                         if phone else None,
                         E("Emailadres", email) if email else None])


def product(p):
    return C("Product", [E("Categorie", p["cat"]), E("Code", p["code"])])


def omvang(volume, eenheid, freq):
    return C("Omvang", [E("Volume", str(volume)), E("Eenheid", eenheid), E("Frequentie", freq)])


# --- The generator -----------------------------------------------------------------------

class Message:
    """One generated file and what intake must make of it."""

    def __init__(self, **kw):
        self.retour = None      # (identificatie, dagtekening) of a return message itself
        self.declaratie = None  # (identificatie, dagtekening) of the 323 a 325 answers
        self.fault = None
        self.duplicate_of = None
        self.detail = None
        self.bsns = []
        self.rows = {}          # CSV suffix -> rows (sub-elements only)
        self.tkeys = set()      # ToewijzingNummers that link (see links())
        self.rkeys = set()      # ReferentieAanbieders that link
        self.__dict__.update(kw)

    @property
    def own_date(self):
        return self.retour[1] if self.retour else self.dagtekening

    def identity(self):
        return (self.code, self.afzender, self.ontvanger, self.identificatie, str(self.dagtekening))


class Generator:
    def __init__(self, seed, municipalities, laws, clients):
        self.rng = random.Random(seed)
        self.people = People(self.rng)
        self.municipalities = municipalities
        self.laws = laws
        self.clients = clients
        self.messages = []
        self.ids = set()
        self.tnums = set()
        self.refs = collections.Counter()
        self.counter = collections.Counter()
        self.deliveries = collections.defaultdict(list)
        agbs = set()
        while len(agbs) < 5:
            agbs.add(self.rng.choice(["98", "75", "41", "94", "30"]) + f"{self.rng.randrange(10 ** 6):06d}")
        self.providers = sorted(agbs)
        self.pools = {m: sorted(self.rng.sample(self.providers, 3)) for m in municipalities}

    # Identifiers.
    def new_id(self):
        r = self.rng
        while True:
            style = r.randrange(3)
            if style == 0:
                value = f"{r.getrandbits(32):08x}-{r.getrandbits(12):03x}"
            elif style == 1:
                value = "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
            else:
                value = f"BI{r.getrandbits(36):09x}".upper()
            if value not in self.ids:
                self.ids.add(value)
                return value

    def new_t(self):
        while (t := self.rng.randrange(100_000, 99_999_999)) in self.tnums:
            pass
        self.tnums.add(t)
        return t

    def new_ref(self, provider):
        """ReferentieAanbieder: unique per provider; providers number alike, so the same value
        turns up at two providers (links must match the provider too)."""
        self.refs[provider] += 1
        return f"VZ{self.refs[provider]:05d}"

    # Messages.
    def emit(self, law, number, muni, provider, dagtekening, body, **kw):
        code = LAWS[law]["codes"][number]
        afzender, ontvanger = (muni, provider) if number in FROM_MUNICIPALITY else (provider, muni)
        m = Message(law=law, number=number, type=type_name(law, number), code=code, municipality=muni,
                    provider=provider, afzender=afzender, ontvanger=ontvanger,
                    identificatie=kw.pop("identificatie", None) or self.new_id(), dagtekening=dagtekening, **kw)
        assert dagtekening <= YEAR_END and dagtekening.year == 2026, (m.type, dagtekening)
        header = [E("BerichtCode", str(code)), E("BerichtVersie", "3"), E("BerichtSubversie", "2"),
                  E("Afzender", afzender), E("Ontvanger", ontvanger),
                  ident("BerichtIdentificatie", m.identificatie, dagtekening), xsd_versie("XsdVersie")]
        if m.retour:
            assert m.retour[1] <= YEAR_END
            header += [E("IdentificatieRetour", m.retour[0]), E("DagtekeningRetour", str(m.retour[1])),
                       xsd_versie("XsdVersieRetour"), rc()]
        if m.declaratie:
            header += [ident("DeclaratieIdentificatie", *m.declaratie), xsd_versie("XsdVersieDeclaratie"), rc()]
        m.xml = render(law, number, [E("Header", header)] + body)
        self.name(m)
        self.messages.append(m)
        return m

    def name(self, m):
        self.counter["file"] += 1
        m.file = f"{m.type}-{m.municipality}-{self.counter['file']:05d}.xml"

    def retour(self, original, dagtekening, body=(), **kw):
        """The return message of `original`: its header repeated, its own name and date in
        IdentificatieRetour and DagtekeningRetour."""
        assert dagtekening > original.dagtekening
        number = RETOUR[original.number]
        return self.emit(original.law, number, original.municipality, original.provider, original.dagtekening,
                         list(body), identificatie=original.identificatie,
                         retour=(self.new_id(), dagtekening), **kw)

    def days(self, lo, hi):
        return D(self.rng.randint(lo, hi))

    # One client's chain.
    def new_product(self, law, ref, ingang):
        cat, code, eenheid, freq, (lo, hi), tarief = self.rng.choice(LAWS[law]["products"])
        months = self.rng.randint(3, 12)
        eind = add_months(ingang, months) - D(1)
        return {"t": None, "ref": ref, "cat": cat, "code": code, "eenheid": eenheid, "freq": freq,
                "volume": self.rng.randint(lo, hi), "tarief": tarief, "ingang": ingang, "eind": eind,
                "begin": None, "start_dag": None, "stop": None}

    def new_client(self, law, muni, full=False):
        r = self.rng
        info = LAWS[law]
        adult = law == "iwmo"
        person = self.people.person(info["born"], partner=adult and r.random() < 0.3)
        relations = []
        if full or r.random() < (0.6 if law == "ijw" else 0.4):
            for i in range(r.randint(1, 2)):
                born = (1962, 1995) if law == "ijw" else (1945, 1990)
                relations.append((str(i + 1), r.choice(info["relatie_soort"]), self.people.person(born, with_bsn=False)))
        second = None
        if full or r.random() < 0.4:
            second = (r.choice(["02", "03", "04"]), self.people.address(),
                      r.choice([None, "Pleeggezin", "Zorgboerderij De Linde", "Woonvorm Het Anker"]))
        return {"person": person, "law": law, "muni": muni, "provider": r.choice(self.pools[muni]),
                "relations": relations, "second": second,
                "remark": self.people.remark() if r.random() < 0.5 else None,
                "remark315": self.people.remark() if r.random() < 0.3 else None}

    def chain(self, c, full=False):
        """The messages about client `c`; with `full`, every step and every kind of product
        in a change request happens (so that every CSV and link relation occurs)."""
        r = self.rng
        law, muni, prov = c["law"], c["muni"], c["provider"]
        ijw = law == "ijw"
        bsns = [c["person"]["bsn"]]
        day = datetime.date(2026, 1, 5) + self.days(0, 115)

        # 315: request, one or two products, each with its own ReferentieAanbieder.
        requested = [self.new_product(law, self.new_ref(prov), day + self.days(7, 21))
                     for _ in range(2 if full else r.randint(1, 2))]
        rows = {"AangevraagdProduct": len(requested)}
        m315 = self.emit(law, 315, muni, prov, day, self.body315(c, requested, retour=False), bsns=bsns, rows=rows,
                         rkeys={p["ref"] for p in requested})
        last = day
        if ijw:
            last = day + D(1)
            self.retour(m315, last, self.body315(c, requested, retour=True), bsns=bsns, rows=rows)
        # 319 per request: "aanvraag in onderzoek" (a grant is the 301 itself).
        for p in requested:
            last += self.days(1, 3)
            m319 = self.emit(law, 319, muni, prov, last, self.body319(law, muni, p["ref"], "2", retour=False),
                             rkeys={p["ref"]})
            if ijw:
                last += D(1)
                self.retour(m319, last, self.body319(law, muni, p["ref"], "2", retour=True))
        # 301: the requested products, each with its ReferentieAanbieder, and sometimes one more.
        products = list(requested)
        if len(products) < 3 and r.random() < 0.4:
            products.append(self.new_product(law, None, requested[0]["ingang"]))
        for p in products:
            p["t"] = self.new_t()
        last += self.days(3, 10)
        self.assign(c, products, last)
        last = self.messages[-1].own_date
        # 305: the start of each product, sometimes one message per product.
        last = self.start(c, products, last)

        # 317: change request for some clients, answered by a 319; taken into consideration,
        # it leads to a new 301 with every current product and a 305 for a new one.
        if full or r.random() < 0.5:
            day = last + self.days(14, 45)
            ref2 = self.new_ref(prov)
            change = {p["t"]: r.random() < 0.5 for p in products}
            if full:
                change = {p["t"]: i == 0 for i, p in enumerate(products)}
            nieuw = []
            if full or r.random() < 0.5 or not any(change.values()):
                nieuw = [self.new_product(law, ref2, day + self.days(7, 14))]
            wish = day + self.days(7, 14)
            new_end = {p["t"]: add_months(p["eind"], r.randint(1, 3)) for p in products if change[p["t"]]}
            new_volume = {p["t"]: p["volume"] + 1 for p in products if change[p["t"]]}
            body = lambda retour: self.body317(c, ref2, products, change, wish, new_end, new_volume, nieuw, retour)  # noqa: E731
            rows = {"OngewijzigdProduct": sum(not v for v in change.values()),
                    "TeWijzigenProduct": sum(change.values()), "NieuwProduct": len(nieuw)}
            m317 = self.emit(law, 317, muni, prov, day, body(False), bsns=bsns, rows=rows, rkeys={ref2},
                             tkeys={p["t"] for p in products})
            last = day
            if ijw:
                last += D(1)
                self.retour(m317, last, body(True), bsns=bsns, rows=rows)
            granted = full or r.random() < 0.7
            answer = "2" if granted else "1"
            last += self.days(2, 5)
            m319 = self.emit(law, 319, muni, prov, last, self.body319(law, muni, ref2, answer, retour=False),
                             rkeys={ref2})
            if ijw:
                last += D(1)
                self.retour(m319, last, self.body319(law, muni, ref2, answer, retour=True))
            if granted:
                for p in products:
                    if change[p["t"]]:
                        p["eind"], p["volume"], p["ref"], p["wijziging"] = new_end[p["t"]], new_volume[p["t"]], ref2, "04"
                for p in nieuw:
                    p["t"] = self.new_t()
                products += nieuw
                last += self.days(3, 10)
                self.assign(c, products, last)
                last = self.messages[-1].own_date
                if nieuw:
                    last = self.start(c, nieuw, last)

        # 307: the stop of some products (one message per client).
        stopped = []
        for i, p in enumerate(products):
            if r.random() < 0.5 or (full and i == 0):
                stop = min(last + self.days(1, 90), p["eind"], datetime.date(2026, 11, 30))
                if stop >= p["begin"]:
                    p["stop"], p["reden"] = stop, r.choice(LAWS[law]["reden_beeindiging"])
                    stopped.append(p)
        if stopped:
            day = max(last + D(1), max(p["stop"] for p in stopped) + self.days(1, 5))
            if day + D(1) <= YEAR_END:
                m307 = self.emit(law, 307, muni, prov, day, self.body307(c, stopped), bsns=[c["person"]["bsn"]],
                                 rows={"StopProduct": len(stopped)}, tkeys={p["t"] for p in stopped})
                if ijw:
                    self.retour(m307, day + D(1))
            else:
                for p in stopped:
                    p["stop"] = None
        for p in products:
            self.deliveries[(law, muni, prov)].append((c, p))

    def assign(self, c, products, day):
        r = self.rng
        p = c["person"]
        contacts = [contact("01", p["adres"], p["telefoon"], p["email"])]
        if c["second"]:
            soort, address, organisatie = c["second"]
            contacts.append(contact(soort, address, organisatie=organisatie))
        relaties = [E("Relatie", [E("Nummer", nummer), E("Volgorde", nummer), E("Soort", soort), geboortedatum(rp),
                                  E("Geslacht", rp["geslacht"]), naam_volledig(rp),
                                  contact("01", rp["adres"], rp["telefoon"], rp["email"])])
                    for nummer, soort, rp in c["relations"]]
        tijd = f"{r.randint(8, 17):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}"
        toegewezen = [E("ToegewezenProduct", [
            E("ToewijzingNummer", str(q["t"])), E("ReferentieAanbieder", q["ref"]) if q["ref"] else None,
            product(q), E("Toewijzingsdatum", str(day)), E("Toewijzingstijd", tijd), E("Ingangsdatum", str(q["ingang"])),
            E("Einddatum", str(q["eind"])), E("RedenWijziging", q["wijziging"]) if q.get("wijziging") else None,
            omvang(q["volume"], q["eenheid"], q["freq"])]) for q in products]
        body = [E("Client", [E("Bsn", p["bsn"]), geboortedatum(p), E("Geslacht", p["geslacht"]), naam_volledig(p),
                             E("Commentaar", c["remark"]) if c["remark"] else None,
                             E("Relaties", relaties) if relaties else None,
                             E("Contactgegevens", contacts), E("ToegewezenProducten", toegewezen)])]
        m = self.emit(c["law"], 301, c["muni"], c["provider"], day, body, bsns=[p["bsn"]],
                      rows={"ToegewezenProduct": len(products), "Contact": len(contacts)},
                      tkeys={q["t"] for q in products}, rkeys={q["ref"] for q in products if q["ref"]})
        if c["law"] == "ijw":
            self.retour(m, day + D(1))

    def start(self, c, products, last):
        r = self.rng
        groups = [[p] for p in products] if len(products) > 1 and r.random() < 0.3 else [products]
        for group in groups:
            for p in group:
                p["begin"] = p["ingang"] + self.days(0, 7)
            day = max(last + D(1), max(p["begin"] for p in group) + self.days(1, 4))
            for p in group:
                p["start_dag"] = day
            body = [E("Client", client_kort(c) + [E("StartProducten", [E("StartProduct", [
                E("ToewijzingNummer", str(p["t"])), product(p), E("ToewijzingIngangsdatum", str(p["ingang"])),
                E("Begindatum", str(p["begin"])), E("StatusAanlevering", "1")]) for p in group])])]
            m = self.emit(c["law"], 305, c["muni"], c["provider"], day, body, bsns=[c["person"]["bsn"]],
                          rows={"StartProduct": len(group)}, tkeys={p["t"] for p in group})
            last = day
            if c["law"] == "ijw":
                last = day + D(1)
                self.retour(m, last)
        return last

    def body315(self, c, requested, retour):
        r = random.Random(c["person"]["bsn"])  # the same choices in the 315 and its 316
        law = c["law"]
        items = []
        for p in requested:
            typ, naam = r.choice(LAWS[law]["verwijzer"])
            verwijzer = [E("Type", typ), E("Naam", naam) if naam else E("ZorgverlenerCode", f"01{r.randrange(10 ** 6):06d}")]
            items.append(E("AangevraagdProduct", [
                E("ReferentieAanbieder", p["ref"]),
                E("BeschikkingNummer", str(r.randint(1000, 999999))) if r.random() < 0.5 else None,
                product(p), E("BeschikkingIngangsdatum", str(p["ingang"] - D(14))) if r.random() < 0.5 else None,
                E("ToewijzingIngangsdatum", str(p["ingang"])), E("ToewijzingEinddatum", str(p["eind"])),
                omvang(p["volume"], p["eenheid"], p["freq"]), C("Verwijzer", verwijzer),
                E("Raamcontract", "1") if r.random() < 0.3 else None,
                rc() if retour else None]))
        gezag = E("GezagsdragerBekend", r.choice("12")) if law == "ijw" and r.random() < 0.5 else None
        body = [E("Client", client_kort(c) + [gezag, E("Commentaar", c["remark315"]) if c["remark315"] else None,
                                              E("AangevraagdeProducten", items), rc() if retour else None])]
        return body

    def body319(self, law, muni, ref, answer, retour):
        r = random.Random(f"{muni}{ref}{answer}")
        reden = E("RedenAfwijzingVerzoek", r.choice("123456789")) if answer == "1" else None
        woonplaats = (E("Woonplaatsbeginsel", [E("Gemeente", muni), rc() if retour else None])
                      if law == "ijw" and r.random() < 0.3 else None)
        return [E("Antwoord", [E("ReferentieAanbieder", ref), E("VerzoekAntwoord", answer), reden, woonplaats,
                               rc() if retour else None])]

    def body317(self, c, ref2, products, change, wish, new_end, new_volume, nieuw, retour):
        ongewijzigd = [E("OngewijzigdProduct", [E("ToewijzingNummer", str(p["t"])), rc() if retour else None])
                       for p in products if not change[p["t"]]]
        tewijzigen = [E("TeWijzigenProduct", [E("ToewijzingNummer", str(p["t"])), E("GewensteIngangsdatum", str(wish)),
                                              E("Einddatum", str(new_end[p["t"]])),
                                              omvang(new_volume[p["t"]], p["eenheid"], p["freq"]), rc() if retour else None])
                      for p in products if change[p["t"]]]
        nieuwe = [E("NieuwProduct", [product(p), E("GewensteIngangsdatum", str(p["ingang"])), E("Einddatum", str(p["eind"])),
                                     omvang(p["volume"], p["eenheid"], p["freq"]), rc() if retour else None])
                  for p in nieuw]
        verzoek = E("Verzoek", [E("ReferentieAanbieder", ref2), E("RedenVerzoek", "1" if nieuw else "2"),
                                E("OngewijzigdeProducten", ongewijzigd) if ongewijzigd else None,
                                E("TeWijzigenProducten", tewijzigen) if tewijzigen else None,
                                E("NieuweProducten", nieuwe) if nieuwe else None, rc() if retour else None])
        return [E("Client", [E("Bsn", c["person"]["bsn"]), verzoek, rc() if retour else None])]

    def body307(self, c, stopped):
        return [E("Client", client_kort(c) + [E("StopProducten", [E("StopProduct", [
            E("ToewijzingNummer", str(p["t"])), product(p), E("ToewijzingIngangsdatum", str(p["ingang"])),
            E("Begindatum", str(p["begin"])), E("RedenBeeindiging", p["reden"]), E("Einddatum", str(p["stop"])),
            E("StatusAanlevering", "1")]) for p in stopped])])]

    def claims(self, law, muni, prov):
        """One 323 a month from `prov` to `muni` over every client with care that month,
        dated early the next month (its 325 a few days later)."""
        r = self.rng
        deliveries = self.deliveries[(law, muni, prov)]
        for month in range(1, 12):
            first = datetime.date(2026, month, 1)
            end = add_months(first, 1) - D(1)
            day = end + self.days(3, 12)
            per_client = collections.OrderedDict()
            for c, p in deliveries:
                last = p["stop"] or p["eind"]
                if p["start_dag"] and p["start_dag"] < day and p["begin"] <= end and last >= first:
                    per_client.setdefault(c["person"]["bsn"], []).append(
                        (p, max(first, p["begin"]), min(end, last), r.randint(1, max(1, p["volume"] * 4))))
            if not per_client:
                continue
            self.counter["declaratie"] += 1
            nummer = f"D{self.counter['declaratie']:07d}"
            clients, total = [], 0
            for bsn_, items in per_client.items():
                prestaties = []
                for p, begin, eind, volume in items:
                    self.counter["prestatie"] += 1
                    bedrag = volume * p["tarief"]
                    total += bedrag
                    prestaties.append((f"PR{self.counter['prestatie']:08d}", p, begin, eind, volume, bedrag,
                                       "0611" if r.random() < 0.1 else "0200"))
                clients.append((bsn_, prestaties))
            prestaties = sum(len(ps) for _, ps in clients)
            m323 = self.emit(law, 323, muni, prov, day, self.body323(nummer, first, end, day, total, clients, None),
                             bsns=[b for b, _ in clients], rows={"Client": len(clients), "Prestatie": prestaties},
                             tkeys={p["t"] for _, ps in clients for _, p, *_ in ps})
            if law == "ijw":
                answer = min(day + self.days(3, 10), YEAR_END)
                self.emit(law, 325, muni, prov, answer, self.body323(nummer, first, end, day, total, clients, True),
                          declaratie=(m323.identificatie, day), bsns=[b for b, _ in clients],
                          rows={"Client": len(clients), "Prestatie": prestaties})

    def body323(self, nummer, first, end, day, total, clients, answer):
        def prestatie(ref, p, begin, eind, volume, bedrag, code):
            return E("Prestatie", [C("ProductReferentie", [E("ReferentieNummer", ref)]), E("ToewijzingNummer", str(p["t"])),
                                   E("ProductCategorie", p["cat"]), E("ProductCode", p["code"]),
                                   C("ProductPeriode", [E("Begindatum", str(begin)), E("Einddatum", str(eind))]),
                                   E("GeleverdVolume", str(volume)), E("Eenheid", p["eenheid"]),
                                   E("ProductTarief", str(p["tarief"])),
                                   C("IngediendBedrag", [E("Bedrag", str(bedrag)), E("DebetCredit", "D")]),
                                   rc(code) if answer else None])
        clienten = E("Clienten", [E("Client", [E("Bsn", b), E("Prestaties", [prestatie(*x) for x in ps]),
                                               rc() if answer else None]) for b, ps in clients])
        totaal = C("TotaalIngediendBedrag", [E("TotaalBedrag", str(total)), E("DebetCredit", "D")])
        if not answer:
            return [E("Declaratie", [E("DeclaratieNummer", nummer),
                                     C("DeclaratiePeriode", [E("Begindatum", str(first)), E("Einddatum", str(end))]),
                                     E("DeclaratieDagtekening", str(day)), totaal, clienten])]
        granted = sum(x[5] for _, ps in clients for x in ps if x[6] == "0200")
        all_granted = granted == total
        return [E("DeclaratieAntwoord", [E("DeclaratieNummer", nummer), totaal,
                                         C("TotaalToegekendBedrag", [E("TotaalBedrag", str(granted)), E("DebetCredit", "D")]),
                                         clienten, rc("8001" if all_granted else "0200")])]

    # The whole set.
    def run(self):
        for muni in self.municipalities:
            for law in self.laws:
                for i in range(self.clients):
                    self.chain(self.new_client(law, muni, full=i == 0), full=i == 0)
                for prov in self.pools[muni]:
                    self.claims(law, muni, prov)
        return self.messages

    def faults(self):
        """Copies, a message sent again, one for another municipality, and schema violations."""
        r = self.rng
        good = [m for m in self.messages if m.fault is None]
        for original in r.sample(good, min(3, len(good))):
            self.copy(original, original.xml, "same-bytes")
        resent = r.choice([m for m in good if m.number in (301, 305, 307)])
        self.copy(resent, resent.xml.replace("\t", "  ").replace("\n", "\r\n"), "same-identity")

        other = next(code for code in ("0999", "0998", "0997", "0996") if code not in self.municipalities)
        law = self.laws[0]
        c = self.new_client(law, self.municipalities[0])
        c["muni"] = other
        p = self.new_product(law, self.new_ref(c["provider"]), datetime.date(2026, 5, 18))
        m = self.emit(law, 315, other, c["provider"], datetime.date(2026, 5, 4), self.body315(c, [p], retour=False),
                      bsns=[c["person"]["bsn"]], rows={"AangevraagdProduct": 1}, rkeys={p["ref"]})
        m.fault = "wrong-municipality"
        m.detail = f"municipality {other} is not one of {','.join(self.municipalities)}"

        muni = self.municipalities[0]
        for law in self.laws:
            of = {m.number: m for m in reversed(good) if m.law == law and m.municipality == muni}
            self.invalid(of[315], "ToewijzingEinddatum>", "2027-06-31", "date 2027-06-31 (ToewijzingEinddatum)")
            self.invalid(of[305], None, None, "Geslacht before Geboortedatum (element out of order)")
            self.invalid(of[301], "Toewijzingsdatum>", None, "Toewijzingsdatum missing (required element)")

    def copy(self, original, xml, detail):
        m = Message(**{k: v for k, v in original.__dict__.items() if k not in ("file", "fault", "detail", "duplicate_of")})
        m.xml, m.fault, m.duplicate_of, m.detail = xml, "duplicate", original.file, detail
        self.name(m)
        self.messages.append(m)

    def invalid(self, original, element, value, detail):
        """A copy of `original` under a new Identificatie, broken in one place."""
        new = self.new_id()
        xml = original.xml.replace(f"Identificatie>{original.identificatie}<", f"Identificatie>{new}<", 2)
        lines = xml.split("\n")
        if element and value:
            i = next(i for i, line in enumerate(lines) if element in line)
            start = lines[i].index(element) + len(element)
            lines[i] = lines[i][:start] + value + lines[i][start + 10:]
        elif element:
            i = next(i for i, line in enumerate(lines) if element in line)
            del lines[i]
        else:  # swap the client's Geboortedatum (3 lines) and Geslacht
            i = next(i for i, line in enumerate(lines) if line.endswith("Geboortedatum>") and "/" not in line)
            lines[i:i + 4] = [lines[i + 3]] + lines[i:i + 3]
        m = Message(**{k: v for k, v in original.__dict__.items() if k not in ("file", "fault", "detail", "duplicate_of")})
        m.identificatie, m.xml, m.fault, m.detail = new, "\n".join(lines), "invalid", detail
        self.name(m)
        self.messages.append(m)


def add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return datetime.date(year, month, d)
        except ValueError:
            continue


# --- Expectations --------------------------------------------------------------------------

SECRET_ELEMENTS = {"bsn": "Bsn", "achternaam": "Achternaam", "voornamen": "Voornamen", "straatnaam": "Straatnaam",
                   "plaatsnaam": "Plaatsnaam", "telefoon": "Telefoonnummer", "email": "Emailadres",
                   "postcode": "Postcode", "commentaar": "Commentaar"}
SECRET_RE = re.compile(r"<\w+:(Bsn|Achternaam|Voornamen|Straatnaam|Plaatsnaam|Telefoonnummer|Emailadres|Postcode|"
                       r"Commentaar)>([^<]*)<|<\w+:Geboortedatum>\s*<\w+:Datum>([^<]*)<")


def secrets(xmls):
    """Every personal value in the messages, by kind, in order of first appearance."""
    kinds = {element: kind for kind, element in SECRET_ELEMENTS.items()}
    found = {kind: {} for kind in SECRET_KINDS}
    for xml in xmls:
        for element, value, born in SECRET_RE.findall(xml):
            found[kinds[element] if element else "geboortedatum"][value or born] = None
    return {kind: list(values) for kind, values in found.items()}


def links(items):
    """The rows of the link table among `items` (the good messages of one municipality and
    law), each pair once per relation. Items have: file, number, provider, code, afzender,
    ontvanger, identificatie, dagtekening, declaratie, tkeys, rkeys."""
    rows = set()
    by = collections.defaultdict(list)
    for m in items:
        by[m.number].append(m)
    starts = {305: "toewijzing-start", 307: "toewijzing-stop", 317: "toewijzing-wijziging", 323: "toewijzing-declaratie"}
    for a in by[301]:
        for number, relation in starts.items():
            for b in by[number]:
                if a.tkeys & b.tkeys:
                    rows.add((a.file, b.file, relation))
    for a in by[315] + by[317]:
        for number, relation in ((319, "verzoek-antwoord"), (301, "verzoek-toewijzing")):
            for b in by[number]:
                if a.provider == b.provider and a.rkeys & b.rkeys:
                    rows.add((a.file, b.file, relation))
    originals = {(m.code, m.afzender, m.ontvanger, m.identificatie, str(m.dagtekening)): m for m in items}
    for b in items:
        if b.number in RETOUR.values():
            a = originals.get((b.code - 1, b.afzender, b.ontvanger, b.identificatie, str(b.dagtekening)))
            if a is not None:
                rows.add((a.file, b.file, "retour"))
        if b.number == 325:
            for a in by[323]:
                if (a.identificatie, str(a.dagtekening)) == tuple(map(str, b.declaratie)) and \
                        (a.afzender, a.ontvanger) == (b.ontvanger, b.afzender):
                    rows.add((a.file, b.file, "retour"))
    return [{"from": f, "to": t, "relation": rel} for f, t, rel in sorted(rows)]


def counts(items, law):
    result = {name: 0 for name in csv_names(law)}
    for m in items:
        result[f"{m.type}.csv"] += 1
        for sub, n in m.rows.items():
            result[f"{m.type}_{sub}.csv"] += n
    return result


def expectation(gen, args, zip_entries):
    messages = {}
    for m in sorted(gen.messages, key=lambda m: m.file):
        messages[m.file] = {
            "type": m.type, "law": m.law, "municipality": m.municipality, "provider": m.provider,
            "identity": {"berichtcode": m.code, "afzender": m.afzender, "ontvanger": m.ontvanger,
                         "identificatie": m.identificatie, "dagtekening": str(m.dagtekening)},
            "retour": {"identificatie": m.retour[0], "dagtekening": str(m.retour[1])} if m.retour else None,
            "declaratie": {"identificatie": m.declaratie[0], "dagtekening": str(m.declaratie[1])} if m.declaratie else None,
            "fault": m.fault, "duplicate_of": m.duplicate_of, "detail": m.detail,
        }
    good = [m for m in gen.messages if m.fault is None]
    per = {muni: {law: [m for m in good if m.municipality == muni and m.law == law] for law in gen.laws}
           for muni in gen.municipalities}
    return {
        "generator": "scripts/make-messages.py",
        "seed": args.seed, "clients": args.clients, "municipalities": gen.municipalities, "laws": gen.laws,
        "faults": bool(args.faults),
        "messages": messages,
        "counts": {muni: {law: counts(items, law) for law, items in laws.items()} for muni, laws in per.items()},
        "links": {muni: {law: links(items) for law, items in laws.items()} for muni, laws in per.items()},
        "secrets": secrets(m.xml for m in gen.messages),
        "bsns": {m.file: list(dict.fromkeys(m.bsns)) for m in sorted(gen.messages, key=lambda m: m.file)},
        "zip": zip_entries,
    }


def zip_path(out_dir, name):
    if os.path.isabs(name) or os.path.dirname(name) or not out_dir:
        return name
    return os.path.join(out_dir, name)


def zip_info(name, day):
    info = zipfile.ZipInfo(name, date_time=(day.year, day.month, day.day, 12, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_zip(path, gen, faults):
    """The good messages in 2026/MM/ by their own date; with faults also an entry outside,
    a nested zip and a directory entry. Returns expected.json's `zip`."""
    entries, bad = {}, {}
    good = sorted((m for m in gen.messages if m.fault is None), key=lambda m: (m.own_date, m.file))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for m in good:
            name = f"2026/{m.own_date.month:02d}/{m.file}"
            z.writestr(zip_info(name, m.own_date), m.xml.encode())
            entries[name] = m.file
        if faults:
            outside, inner = good[0], good[-1]
            z.writestr(zip_info("../buiten.xml", outside.own_date), outside.xml.encode())
            bad["../buiten.xml"] = "path-outside"
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as nested:
                nested.writestr(zip_info(inner.file, inner.own_date), inner.xml.encode())
            z.writestr(zip_info("binnen.zip", inner.own_date), buf.getvalue())
            bad["binnen.zip"] = "nested-zip"
            directory = zipfile.ZipInfo("leeg/", date_time=(2026, 6, 1, 12, 0, 0))
            directory.external_attr = (0o40755 << 16) | 0x10
            z.writestr(directory, b"")
            bad["leeg/"] = "directory"
    return {"path": os.path.basename(path), "entries": entries, "faults": bad}


def generate(args):
    munis = args.municipalities.split(",")
    laws = args.laws.split(",")
    for muni in munis:
        if len(muni) != 4 or not muni.isdigit():
            sys.exit(f"not a CBS code: {muni}")
    for law in laws:
        if law not in LAWS:
            sys.exit(f"unknown law {law} (ijw, iwmo)")
    gen = Generator(args.seed, munis, laws, args.clients)
    gen.run()
    if args.faults:
        gen.faults()
    os.makedirs(args.out_dir, exist_ok=True)
    for m in gen.messages:
        with open(os.path.join(args.out_dir, m.file), "w", encoding="utf-8", newline="") as f:
            f.write(m.xml)
    zip_entries = write_zip(zip_path(args.out_dir, args.zip), gen, args.faults) if args.zip else None
    with open(os.path.join(args.out_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expectation(gen, args, zip_entries), f, indent=1, ensure_ascii=False)
        f.write("\n")
    return gen


# --- Bulk ----------------------------------------------------------------------------------

def templates(seed):
    """Per (law, number) a message rendered once by the generator with marker values, then
    made a str.format template with the fields muni, agb, bsn, bsn2, t1, t2, ref, id, dag,
    rid and rdag (a return message's own name and date; for a 325 its 323's)."""
    gen = Generator(seed, ["7777"], list(LAWS), 1)
    out = {}
    for law in LAWS:
        gen.messages = []
        c = gen.new_client(law, "7777", full=True)
        c["provider"], c["person"]["bsn"] = "87654321", "111111110"
        day, wish = datetime.date(2026, 2, 2), datetime.date(2026, 3, 2)
        ps = [gen.new_product(law, "QREF", datetime.date(2026, 2, 9)) for _ in range(2)]
        for p, t in zip(ps, (9101, 9102)):
            p.update(t=t, stop=datetime.date(2026, 8, 31), reden="31")
        m315 = gen.emit(law, 315, "7777", c["provider"], day, gen.body315(c, ps, False))
        m319 = gen.emit(law, 319, "7777", c["provider"], day, gen.body319(law, "7777", "QREF", "2", False))
        gen.assign(c, ps, day)
        gen.start(c, ps, day)
        m307 = gen.emit(law, 307, "7777", c["provider"], day, gen.body307(c, ps[:1]))
        change, nieuw = {9101: False, 9102: True}, [gen.new_product(law, "QREF", wish)]
        body317 = lambda retour: gen.body317(c, "QREF", ps, change, wish, {9102: YEAR_END}, {9102: 3}, nieuw, retour)  # noqa: E731
        m317 = gen.emit(law, 317, "7777", c["provider"], day, body317(False))
        first, end = datetime.date(2026, 1, 1), datetime.date(2026, 1, 31)
        claim = [("111111110", [("PR1", ps[0], first, end, 4, 4 * ps[0]["tarief"], "0200")]),
                 ("222222220", [("PR2", ps[1], first, end, 2, 2 * ps[1]["tarief"], "0200")])]
        total = 4 * ps[0]["tarief"] + 2 * ps[1]["tarief"]
        m323 = gen.emit(law, 323, "7777", c["provider"], day, gen.body323("D1", first, end, day, total, claim, None))
        if law == "ijw":
            gen.emit(law, 325, "7777", c["provider"], day + D(1), gen.body323("D1", first, end, day, total, claim, True),
                     declaratie=(m323.identificatie, day))
            gen.retour(m315, day + D(1), gen.body315(c, ps, True))
            gen.retour(m319, day + D(1), gen.body319(law, "7777", "QREF", "2", True))
            gen.retour(m307, day + D(1))
            gen.retour(m317, day + D(1), body317(True))
        for m in gen.messages:
            if m.number in out.get(law, {}):
                continue
            xml = m.xml.replace(f"Identificatie>{m.identificatie}<", "Identificatie>{id}<")
            xml = xml.replace(f"Dagtekening>{m.dagtekening}<", "Dagtekening>{dag}<", 1)
            if m.retour:
                xml = xml.replace(f"IdentificatieRetour>{m.retour[0]}<", "IdentificatieRetour>{rid}<")
                xml = xml.replace(f"DagtekeningRetour>{m.retour[1]}<", "DagtekeningRetour>{rdag}<")
            if m.declaratie:
                xml = xml.replace(f"Identificatie>{m.declaratie[0]}<", "Identificatie>{rid}<")
                xml = xml.replace(f"Dagtekening>{m.declaratie[1]}<", "Dagtekening>{rdag}<")
            for marker, field in (("7777", "{muni}"), ("87654321", "{agb}"), ("111111110", "{bsn}"),
                                  ("222222220", "{bsn2}"), (">9101<", ">{t1}<"), (">9102<", ">{t2}<"), ("QREF", "{ref}")):
                xml = xml.replace(marker, field)
            out.setdefault(law, {})[m.number] = xml
    return {(law, number): xml for law, xmls in out.items() for number, xml in xmls.items()}


def bulk(args):
    """N valid messages, every type in turn, straight into the zip (and --bulk-dir)."""
    if not args.zip and not args.bulk_dir:
        sys.exit("--bulk needs --zip and/or --bulk-dir")
    rng = random.Random(args.seed)
    tpl = templates(args.seed)
    kinds = sorted(tpl)
    munis = args.municipalities.split(",")
    agbs = [f"98{rng.randrange(10 ** 6):06d}" for _ in range(7)]
    start = datetime.date(2026, 1, 1)
    z = zipfile.ZipFile(zip_path(args.out_dir, args.zip), "w", zipfile.ZIP_DEFLATED) if args.zip else None
    if args.bulk_dir:
        os.makedirs(args.bulk_dir, exist_ok=True)
    for i in range(args.bulk):
        law, number = kinds[i % len(kinds)]
        day = start + D(i % 330)
        muni = munis[i % len(munis)]
        xml = tpl[(law, number)].format(
            muni=muni, agb=agbs[i % len(agbs)], bsn=bsn(rng), bsn2=bsn(rng), t1=2 * i + 1_000_000,
            t2=2 * i + 1_000_001, ref=f"BR{i:07d}", dag=day, rdag=day + D(1), id=f"B{i:011d}", rid=f"R{i:011d}").encode()
        name = f"{type_name(law, number)}-{muni}-{i:06d}.xml"
        if z:
            z.writestr(zip_info(f"2026/{day.month:02d}/{name}", day), xml)
        if args.bulk_dir:
            with open(os.path.join(args.bulk_dir, name), "wb") as f:
                f.write(xml)
    if z:
        z.close()


# --- Self-check ----------------------------------------------------------------------------

def local(tag):
    return tag.rsplit("}", 1)[-1]


def find_all(root, path):
    nodes = [root]
    for part in path.split("/"):
        nodes = [c for n in nodes for c in n if local(c.tag) == part]
    return nodes


def text(root, path):
    nodes = find_all(root, path)
    return nodes[0].text if nodes else None


def read_message(path):
    """What the files say, read without the generator's model."""
    data = open(path, "rb").read()
    root = ET.fromstring(data)
    ns = root.tag[1:].split("}")[0]
    law = "ijw" if "/ijw/" in ns else "iwmo"
    number = int(ns.split("/")[-2][-3:])
    m = Message(file=os.path.basename(path), law=law, number=number, type=type_name(law, number), data=data)
    m.code = int(text(root, "Header/BerichtCode"))
    m.afzender, m.ontvanger = text(root, "Header/Afzender"), text(root, "Header/Ontvanger")
    m.identificatie = text(root, "Header/BerichtIdentificatie/Identificatie")
    m.dagtekening = text(root, "Header/BerichtIdentificatie/Dagtekening")
    if text(root, "Header/IdentificatieRetour"):
        m.retour = (text(root, "Header/IdentificatieRetour"), text(root, "Header/DagtekeningRetour"))
    if text(root, "Header/DeclaratieIdentificatie/Identificatie"):
        m.declaratie = (text(root, "Header/DeclaratieIdentificatie/Identificatie"),
                        text(root, "Header/DeclaratieIdentificatie/Dagtekening"))
    m.municipality = m.afzender if len(m.afzender or "") == 4 else m.ontvanger
    m.provider = m.ontvanger if m.municipality == m.afzender else m.afzender
    m.bsns = list(dict.fromkeys(e.text for e in root.iter() if local(e.tag) == "Bsn"))
    m.rows = {sub: len(find_all(root, p)) for sub, p in SUBS.get(number, [])}
    tpaths = {301: ["Client/ToegewezenProducten/ToegewezenProduct/ToewijzingNummer"],
              305: ["Client/StartProducten/StartProduct/ToewijzingNummer"],
              307: ["Client/StopProducten/StopProduct/ToewijzingNummer"],
              317: ["Client/Verzoek/OngewijzigdeProducten/OngewijzigdProduct/ToewijzingNummer",
                    "Client/Verzoek/TeWijzigenProducten/TeWijzigenProduct/ToewijzingNummer"],
              323: ["Declaratie/Clienten/Client/Prestaties/Prestatie/ToewijzingNummer"]}
    rpaths = {301: ["Client/ToegewezenProducten/ToegewezenProduct/ReferentieAanbieder"],
              315: ["Client/AangevraagdeProducten/AangevraagdProduct/ReferentieAanbieder"],
              317: ["Client/Verzoek/ReferentieAanbieder"], 319: ["Antwoord/ReferentieAanbieder"]}
    m.tkeys = {int(e.text) for p in tpaths.get(number, []) for e in find_all(root, p)}
    m.rkeys = {e.text for p in rpaths.get(number, []) for e in find_all(root, p)}
    return m


def xmllint(paths):
    """{path: True when it validates} with one xmllint run per schema (and batch)."""
    by_schema = collections.defaultdict(list)
    for path in paths:
        root = ET.parse(path).getroot()
        ns = root.tag[1:].split("}")[0]
        law = "ijw" if "/ijw/" in ns else "iwmo"
        by_schema[schema_path(law, int(ns.split("/")[-2][-3:]))].append(path)
    result = {}
    for schema, files in by_schema.items():
        for i in range(0, len(files), 500):
            batch = files[i:i + 500]
            out = subprocess.run(["xmllint", "--noout", "--schema", schema] + batch, capture_output=True, text=True)
            for line in out.stderr.splitlines():
                for f in batch:
                    if line == f"{f} validates":
                        result[f] = True
                    elif line == f"{f} fails to validate":
                        result[f] = False
            missing = [f for f in batch if f not in result]
            if missing:
                sys.exit(f"xmllint said nothing about {missing[:3]}: {out.stderr[-500:]}")
    return result


def check(args):
    if shutil.which("xmllint") is None:
        sys.exit("--check needs xmllint (apt-get install libxml2-utils)")
    tmp = tempfile.mkdtemp(prefix="make-messages-")
    problems = []

    def expect(ok, what):
        if not ok:
            problems.append(what)

    try:
        out = os.path.join(tmp, "set")
        run = argparse.Namespace(out_dir=out, seed=args.seed, clients=args.clients, municipalities=args.municipalities,
                                 laws=args.laws, zip="berichten.zip", faults=True)
        t = time.monotonic()
        generate(run)
        took = time.monotonic() - t
        exp = json.load(open(os.path.join(out, "expected.json"), encoding="utf-8"))
        files = sorted(f for f in os.listdir(out) if f.endswith(".xml"))
        expect(files == sorted(exp["messages"]), "the files are the messages of expected.json")
        t = time.monotonic()
        valid = xmllint([os.path.join(out, f) for f in files])
        lint_took = time.monotonic() - t

        # Faults, found from the files: schema, municipality, then bytes and identity in name order.
        munis = args.municipalities.split(",")
        seen_bytes, seen_ids, found = {}, {}, {}
        msgs = {}
        for f in files:
            m = read_message(os.path.join(out, f))
            msgs[f] = m
            if not valid[os.path.join(out, f)]:
                found[f] = ("invalid", None)
            elif m.municipality not in munis:
                found[f] = ("wrong-municipality", None)
            elif m.data in seen_bytes:
                found[f] = ("duplicate", seen_bytes[m.data])
            elif m.identity() in seen_ids:
                found[f] = ("duplicate", seen_ids[m.identity()])
            else:
                found[f] = (None, None)
                seen_bytes[m.data] = f
                seen_ids[m.identity()] = f
        for f in files:
            e = exp["messages"][f]
            expect(found[f] == (e["fault"], e["duplicate_of"]), f"{f}: fault {found[f]} from the files, {e['fault']} expected")
            m = msgs[f]
            expect(e["identity"] == {"berichtcode": m.code, "afzender": m.afzender, "ontvanger": m.ontvanger,
                                     "identificatie": m.identificatie, "dagtekening": m.dagtekening}, f"{f}: identity")
            expect((e["type"], e["law"], e["municipality"]) == (m.type, m.law, m.municipality), f"{f}: type, law, municipality")
            expect(exp["bsns"][f] == m.bsns, f"{f}: bsns")
            for d in [m.dagtekening] + ([m.retour[1]] if m.retour else []):
                expect(d.startswith("2026-"), f"{f}: a date {d} outside 2026")

        # Counts and links, from the files.
        good = [msgs[f] for f in files if found[f][0] is None]
        n_links = 0
        for muni in munis:
            for law in args.laws.split(","):
                items = [m for m in good if m.municipality == muni and m.law == law]
                expect(counts(items, law) == exp["counts"][muni][law], f"counts {muni} {law}")
                ls = links(items)
                n_links += len(ls)
                expect(ls == exp["links"][muni][law], f"links {muni} {law}")
                own = {m.file: (m.retour[1] if m.retour else m.dagtekening) for m in items}
                for link in ls:
                    if link["relation"] in ("retour", "verzoek-antwoord", "verzoek-toewijzing"):
                        expect(own[link["from"]] < own[link["to"]], f"date order {link}")
                for relation in ["toewijzing-start", "toewijzing-stop", "toewijzing-wijziging", "toewijzing-declaratie",
                                 "verzoek-antwoord", "verzoek-toewijzing"] + (["retour"] if law == "ijw" else []):
                    expect(any(link["relation"] == relation for link in ls), f"no {relation} link in {muni} {law}")
                expect(all(v > 0 for k, v in exp["counts"][muni][law].items()),
                       f"a CSV without rows in {muni} {law}: {[k for k, v in exp['counts'][muni][law].items() if not v]}")

        # The same ReferentieAanbieder at two providers: links must match the provider too.
        shared = collections.defaultdict(set)
        for m in good:
            for ref in m.rkeys:
                shared[(m.municipality, m.law, ref)].add(m.provider)
        expect(any(len(v) > 1 for v in shared.values()), "no ReferentieAanbieder at two providers")

        # Secrets: each in some file, each unique, every BSN passing the 11-check.
        everything = "\n".join(m.data.decode() for m in msgs.values())
        n_secrets = 0
        for kind, values in exp["secrets"].items():
            n_secrets += len(values)
            expect(len(values) == len(set(values)), f"secrets {kind} repeat")
            for v in values:
                expect(v in everything, f"secret {kind} {v} in no file")
        for b in exp["secrets"]["bsn"]:
            expect(sum(w * int(x) for w, x in zip([9, 8, 7, 6, 5, 4, 3, 2, -1], b)) % 11 == 0, f"BSN {b}")
        all_bsns = {b for m in msgs.values() for b in m.bsns}
        expect(all_bsns == set(exp["secrets"]["bsn"]), "the BSNs in the files are the secrets' BSNs")

        # The zip: every good message under 2026/MM/, byte for byte, and the three bad entries.
        with zipfile.ZipFile(os.path.join(out, "berichten.zip")) as z:
            names = z.namelist()
            for name, f in exp["zip"]["entries"].items():
                expect(z.read(name) == msgs[f].data, f"zip {name}")
                expect(name.startswith("2026/") and found[f][0] is None, f"zip {name} path or fault")
            expect(sorted(exp["zip"]["entries"].values()) == sorted(m.file for m in good), "zip holds every good message")
            expect(sorted(names) == sorted(list(exp["zip"]["entries"]) + list(exp["zip"]["faults"])), "zip entries")

        # Bulk: a small run, every file through xmllint, the zip equal to the folder.
        bulk_dir = os.path.join(tmp, "bulk")
        bulk_args = argparse.Namespace(out_dir=tmp, bulk=420, zip="bulk.zip", bulk_dir=bulk_dir, seed=args.seed,
                                       municipalities=args.municipalities)
        bulk(bulk_args)
        bulk_files = sorted(os.listdir(bulk_dir))
        bulk_valid = xmllint([os.path.join(bulk_dir, f) for f in bulk_files])
        expect(all(bulk_valid.values()), f"bulk: {sum(not v for v in bulk_valid.values())} invalid")
        with zipfile.ZipFile(os.path.join(tmp, "bulk.zip")) as z:
            expect(sorted(os.path.basename(n) for n in z.namelist()) == bulk_files, "bulk zip = bulk folder")
        ids = [read_message(os.path.join(bulk_dir, f)).identity() for f in bulk_files]
        expect(len(set(ids)) == len(ids), "bulk identities unique")

        faults = collections.Counter(e["fault"] for e in exp["messages"].values())
        by_law = collections.Counter(e["law"] for e in exp["messages"].values() if e["fault"] is None)
        lint = collections.Counter((exp["messages"][os.path.basename(p)]["fault"], ok) for p, ok in valid.items())
        print(f"{len(files)} messages in {took:.1f}s: {faults[None]} good ({', '.join(f'{k} {v}' for k, v in sorted(by_law.items()))}), "
              f"{faults['duplicate']} duplicate, {faults['wrong-municipality']} wrong municipality, {faults['invalid']} invalid")
        print(f"xmllint --schema ({lint_took:.1f}s): " + ", ".join(
            f"{fault or 'good'} {'validates' if ok else 'fails'} {n}" for (fault, ok), n in sorted(lint.items(), key=str)))
        expect(all(ok == (exp["messages"][os.path.basename(p)]["fault"] != "invalid") for p, ok in valid.items()),
               "good, duplicate and wrong-municipality messages validate; invalid ones fail")
        rows = sum(v for laws in exp["counts"].values() for cs in laws.values() for v in cs.values())
        print(f"{rows} Ketendata rows, {n_links} links, {n_secrets} secrets, zip {len(names)} entries; "
              f"bulk {len(bulk_files)} messages validate: {all(bulk_valid.values())}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp)
    for p in problems[:40]:
        print("PROBLEM:", p)
    print("check:", "FAILED" if problems else "ok")
    return 1 if problems else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", nargs="?", help="folder for the messages and expected.json")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--clients", type=int, default=6, help="clients per municipality and law")
    p.add_argument("--municipalities", default="0384,0363", help="CBS codes, comma-separated")
    p.add_argument("--laws", default="ijw,iwmo", help="ijw, iwmo or both")
    p.add_argument("--zip", help="also write this zip (a bare name goes into OUT_DIR)")
    p.add_argument("--faults", action="store_true", help="add duplicates, a wrong municipality, invalid messages")
    p.add_argument("--bulk", type=int, help="write N valid messages from templates, no expected.json")
    p.add_argument("--bulk-dir", help="with --bulk: the same messages as files in this folder")
    p.add_argument("--check", action="store_true", help="generate a set in a temporary folder and check it with xmllint")
    p.add_argument("--keep", action="store_true", help="with --check: keep the temporary folder")
    args = p.parse_args()
    if args.check:
        sys.exit(check(args))
    if args.bulk is not None:
        t = time.monotonic()
        bulk(args)
        print(f"{args.bulk} messages in {time.monotonic() - t:.1f}s", file=sys.stderr)
        return
    if not args.out_dir:
        p.error("OUT_DIR is needed")
    gen = generate(args)
    faults = collections.Counter(m.fault for m in gen.messages)
    print(f"{len(gen.messages)} messages in {args.out_dir} ({faults[None]} good)", file=sys.stderr)


if __name__ == "__main__":
    main()
