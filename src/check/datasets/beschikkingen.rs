//! `beschikkingen`: municipal decisions, delivered by municipalities (DESIGN 3.2).

use chrono::NaiveDate;

use super::values::{date, digits, text};
use super::{Cells, Column, Context, Message, col, optional, rules};
use crate::pseudonym::Bsn;

pub(super) const COLUMNS: &[Column] = &[
    col("gemeentecode", "Gemeentecode").spec(
        "CBS-code van uw gemeente",
        &[&rules::REQUIRED, &rules::CBS, &rules::CBS_NOT_OWN],
        "0344",
    ),
    col("beschikkingnummer", "Beschikkingnummer").spec(
        "uw nummer van de beschikking, uniek per gemeente; een latere levering met hetzelfde nummer vervangt de beschikking (correctie)",
        &[&rules::REQUIRED, &rules::TEXT, &rules::DUPLICATE_IN_FILE],
        "B-2026-0001",
    ),
    col("pseudobsn", "BSN").spec(
        "BSN van de cliënt; bij ontvangst vervangen door een pseudoniem, nooit bewaard",
        &[&rules::REQUIRED, &rules::BSN],
        "111222333",
    ),
    col("zorgaanbiedercode", "AGB-code").spec(
        "AGB-code van de zorgaanbieder die de zorg levert",
        &[&rules::REQUIRED, &rules::AGB],
        "87654321",
    ),
    col("productcategorie", "Productcategorie").spec(
        "productcategorie",
        &[&rules::REQUIRED, &rules::PRODUCTCATEGORIE],
        "45",
    ),
    col("productcode", "Productcode").spec(
        "productcode",
        &[&rules::REQUIRED, &rules::PRODUCTCODE],
        "45A01",
    ),
    col("ingangsdatum", "Ingangsdatum").spec(
        "begin van de beschikking",
        &[&rules::REQUIRED, &rules::DATE],
        "2026-01-01",
    ),
    optional("einddatum", "Einddatum").spec(
        "einde van de beschikking; leeg zolang zij loopt",
        &[&rules::DATE, &rules::DATE_ORDER],
        "2026-09-30",
    ),
    optional("redenBeeindiging", "Reden beëindiging").spec(
        "reden van beëindiging; leeg zolang zij loopt",
        &[&rules::REDEN],
        "02",
    ),
];

/// iJw code list JZ588: why care ended.
pub(crate) const REDENEN: &[&str] = &[
    "02", "20", "31", "32", "33", "34", "35", "36", "37", "38", "39",
];

/// A checked decision. The BSN is still in clear: pseudonymise it before it goes anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Beschikking {
    pub gemeentecode: String,
    pub beschikkingnummer: String,
    pub bsn: Bsn,
    pub agb: String,
    pub productcategorie: String,
    pub productcode: String,
    pub ingangsdatum: NaiveDate,
    pub einddatum: Option<NaiveDate>,
    pub reden: Option<String>,
}

pub(super) fn check(c: &mut Cells<'_>, ctx: &Context<'_>) -> Option<Beschikking> {
    let gemeentecode = c.required("gemeentecode", &rules::CBS, |v| digits(v, 4));
    if let (Some(code), Some(own)) = (&gemeentecode, ctx.municipality) {
        if code != own {
            c.problem(
                "gemeentecode",
                code,
                &rules::CBS_NOT_OWN,
                Message::new(
                    format!("moet de eigen code van deze gemeente zijn, {own}"),
                    format!("must be this municipality's own code {own}"),
                ),
            );
        }
    }
    let beschikkingnummer = c.required("beschikkingnummer", &rules::TEXT, |v| text(v, 64));
    let bsn = c.bsn();
    let agb = c.required("zorgaanbiedercode", &rules::AGB, |v| digits(v, 8));
    let productcategorie = c.required("productcategorie", &rules::PRODUCTCATEGORIE, |v| {
        digits(v, 2)
    });
    let productcode = c.required("productcode", &rules::PRODUCTCODE, |v| text(v, 5));
    let ingangsdatum = c.required("ingangsdatum", &rules::DATE, date);
    let einddatum = c.optional("einddatum", &rules::DATE, date);
    if let (Some(start), Some(Some(end))) = (ingangsdatum, einddatum) {
        if end < start {
            c.problem(
                "einddatum",
                c.raw("einddatum"),
                &rules::DATE_ORDER,
                Message::new(
                    "mag niet voor de ingangsdatum liggen",
                    "must not be before ingangsdatum",
                ),
            );
        }
    }
    let reden = c.optional("redenBeeindiging", &rules::REDEN, |v| {
        let code = if v.len() == 1 {
            format!("0{v}")
        } else {
            v.to_owned()
        };
        if REDENEN.contains(&code.as_str()) {
            Ok(code)
        } else {
            let codes = REDENEN.join(", ");
            Err(Message::new(
                format!("moet een code uit JZ588 zijn: {codes}"),
                format!("must be a JZ588 code: {codes}"),
            ))
        }
    });
    Some(Beschikking {
        gemeentecode: gemeentecode?,
        beschikkingnummer: beschikkingnummer?,
        bsn: bsn?,
        agb: agb?,
        productcategorie: productcategorie?,
        productcode: productcode?,
        ingangsdatum: ingangsdatum?,
        einddatum: einddatum?,
        reden: reden?,
    })
}
