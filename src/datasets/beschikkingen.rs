//! `beschikkingen`: municipal decisions, delivered by municipalities (DESIGN 3.2).

use chrono::NaiveDate;

use super::values::{date, digits, text};
use super::{Cells, Column, Context, Message, col, optional};
use crate::pseudonym::Bsn;

pub(super) const COLUMNS: &[Column] = &[
    col("gemeentecode", "Gemeentecode"),
    col("beschikkingnummer", "Beschikkingnummer"),
    col("pseudobsn", "BSN"),
    col("zorgaanbiedercode", "AGB-code"),
    col("productcategorie", "Productcategorie"),
    col("productcode", "Productcode"),
    col("ingangsdatum", "Ingangsdatum"),
    optional("einddatum", "Einddatum"),
    optional("redenBeeindiging", "Reden beëindiging"),
];

/// iJw code list JZ588: why care ended.
pub const REDENEN: &[&str] = &[
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
    let gemeentecode = c.required("gemeentecode", "cbs", |v| digits(v, 4));
    if let (Some(code), Some(own)) = (&gemeentecode, ctx.municipality) {
        if code != own {
            c.problem(
                "gemeentecode",
                code,
                "cbs.not-own",
                Message::new(
                    format!("moet de eigen code van deze gemeente zijn, {own}"),
                    format!("must be this municipality's own code {own}"),
                ),
            );
        }
    }
    let beschikkingnummer = c.required("beschikkingnummer", "text", |v| text(v, 64));
    let bsn = c.bsn();
    let agb = c.required("zorgaanbiedercode", "agb", |v| digits(v, 8));
    let productcategorie = c.required("productcategorie", "productcategorie", |v| digits(v, 2));
    let productcode = c.required("productcode", "productcode", |v| text(v, 5));
    let ingangsdatum = c.required("ingangsdatum", "date", date);
    let einddatum = c.optional("einddatum", "date", date);
    if let (Some(start), Some(Some(end))) = (ingangsdatum, einddatum) {
        if end < start {
            c.problem(
                "einddatum",
                c.raw("einddatum"),
                "date.order",
                Message::new(
                    "mag niet voor de ingangsdatum liggen",
                    "must not be before ingangsdatum",
                ),
            );
        }
    }
    let reden = c.optional("redenBeeindiging", "reden", |v| {
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
