//! The message types of iJw 3.2 and iWmo 3.2 that dropgate reads, each with its published
//! XSD, embedded in the binary (`xsd/`, see its README for the source). The schemas import
//! `basisschema.xsd` by that name; the two standards each have their own, so a schema is
//! named by a URL per standard (`mem:/jw/JW301.xsd`, `mem:/wmo/basisschema.xsd`) and the
//! engine's loader serves these URLs, and nothing else, from here.

use std::fmt;

/// The standard (and the law behind it) a message belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Standard {
    /// iJw: youth care (Jeugdwet).
    Ijw,
    /// iWmo: social support (Wmo 2015).
    Iwmo,
}

impl Standard {
    /// Every standard, in the order bundles and texts list them.
    pub(crate) const ALL: [Standard; 2] = [Standard::Ijw, Standard::Iwmo];

    /// The name of its Ketendata product in file names and requests: `IJW`, `IWMO`.
    pub fn product(self) -> &'static str {
        match self {
            Standard::Ijw => "IJW",
            Standard::Iwmo => "IWMO",
        }
    }

    /// The standard whose product name (any case) this is.
    pub fn by_product(name: &str) -> Option<Standard> {
        Self::ALL
            .into_iter()
            .find(|s| s.product().eq_ignore_ascii_case(name))
    }

    /// The name people know it by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Standard::Ijw => "iJw",
            Standard::Iwmo => "iWmo",
        }
    }

    /// Its part of a namespace: `http://www.istandaarden.nl/<this>/3_2/...`.
    pub(crate) fn namespace_part(self) -> &'static str {
        match self {
            Standard::Ijw => "ijw",
            Standard::Iwmo => "iwmo",
        }
    }

    /// Its folder of schemas, in `xsd/` and in the URLs the loader serves.
    fn folder(self) -> &'static str {
        match self {
            Standard::Ijw => "jw",
            Standard::Iwmo => "wmo",
        }
    }

    /// The prefix of its message type names (`JW`, `WMO`).
    fn prefix(self) -> &'static str {
        match self {
            Standard::Ijw => "JW",
            Standard::Iwmo => "WMO",
        }
    }

    /// The schema its message schemas import as `basisschema.xsd`.
    fn basisschema(self) -> &'static str {
        match self {
            Standard::Ijw => include_str!("xsd/jw/basisschema.xsd"),
            Standard::Iwmo => include_str!("xsd/wmo/basisschema.xsd"),
        }
    }
}

/// The release of the standards whose messages are read: the `3_2` in a namespace.
pub(crate) const RELEASE: &str = "3_2";

/// Where every iStandaarden namespace starts.
pub(crate) const NAMESPACE_ROOT: &str = "http://www.istandaarden.nl/";

/// One message type with a schema here, such as JW301 (an assignment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MessageType {
    pub(crate) standard: Standard,
    /// The number in its name: 301 for JW301.
    pub(crate) number: u16,
}

impl MessageType {
    /// Every message type whose schema is embedded.
    pub(crate) const ALL: [MessageType; 21] = [
        jw(301),
        jw(302),
        jw(305),
        jw(306),
        jw(307),
        jw(308),
        jw(315),
        jw(316),
        jw(317),
        jw(318),
        jw(319),
        jw(320),
        jw(323),
        jw(325),
        wmo(301),
        wmo(305),
        wmo(307),
        wmo(315),
        wmo(317),
        wmo(319),
        wmo(323),
    ];

    /// The type whose root element has this namespace, if it is one here.
    pub(crate) fn by_namespace(namespace: &str) -> Option<MessageType> {
        Self::ALL.into_iter().find(|t| t.namespace() == namespace)
    }

    /// Whether it is a return message (`retourbericht`): the answer of the receiving side
    /// to a message, JW302 to a JW301, JW325 to a JW323.
    pub(crate) fn is_return(self) -> bool {
        matches!(self.number, 302 | 306 | 308 | 316 | 318 | 320 | 325)
    }

    /// Its name as the standard writes it: `JW301`, `WMO305`.
    pub(crate) fn name(self) -> String {
        format!("{}{}", self.standard.prefix(), self.number)
    }

    /// The namespace of its root element `Bericht` (and of the elements its own schema
    /// declares): `http://www.istandaarden.nl/ijw/3_2/jw301/schema`.
    pub(crate) fn namespace(self) -> String {
        format!(
            "{NAMESPACE_ROOT}{}/{RELEASE}/{}{}/schema",
            self.standard.namespace_part(),
            self.standard.folder(),
            self.number
        )
    }

    /// The URL its schema is parsed under, so that its import of `basisschema.xsd`
    /// resolves to the same standard's `mem:/<folder>/basisschema.xsd`.
    pub(crate) fn url(self) -> String {
        format!("mem:/{}/{}.xsd", self.standard.folder(), self.name())
    }

    /// Its schema's text.
    pub(crate) fn xsd(self) -> &'static str {
        match (self.standard, self.number) {
            (Standard::Ijw, 301) => include_str!("xsd/jw/JW301.xsd"),
            (Standard::Ijw, 302) => include_str!("xsd/jw/JW302.xsd"),
            (Standard::Ijw, 305) => include_str!("xsd/jw/JW305.xsd"),
            (Standard::Ijw, 306) => include_str!("xsd/jw/JW306.xsd"),
            (Standard::Ijw, 307) => include_str!("xsd/jw/JW307.xsd"),
            (Standard::Ijw, 308) => include_str!("xsd/jw/JW308.xsd"),
            (Standard::Ijw, 315) => include_str!("xsd/jw/JW315.xsd"),
            (Standard::Ijw, 316) => include_str!("xsd/jw/JW316.xsd"),
            (Standard::Ijw, 317) => include_str!("xsd/jw/JW317.xsd"),
            (Standard::Ijw, 318) => include_str!("xsd/jw/JW318.xsd"),
            (Standard::Ijw, 319) => include_str!("xsd/jw/JW319.xsd"),
            (Standard::Ijw, 320) => include_str!("xsd/jw/JW320.xsd"),
            (Standard::Ijw, 323) => include_str!("xsd/jw/JW323.xsd"),
            (Standard::Ijw, 325) => include_str!("xsd/jw/JW325.xsd"),
            (Standard::Iwmo, 301) => include_str!("xsd/wmo/WMO301.xsd"),
            (Standard::Iwmo, 305) => include_str!("xsd/wmo/WMO305.xsd"),
            (Standard::Iwmo, 307) => include_str!("xsd/wmo/WMO307.xsd"),
            (Standard::Iwmo, 315) => include_str!("xsd/wmo/WMO315.xsd"),
            (Standard::Iwmo, 317) => include_str!("xsd/wmo/WMO317.xsd"),
            (Standard::Iwmo, 319) => include_str!("xsd/wmo/WMO319.xsd"),
            (Standard::Iwmo, 323) => include_str!("xsd/wmo/WMO323.xsd"),
            // `ALL` holds only the types above, and no other value is made.
            _ => "",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

const fn jw(number: u16) -> MessageType {
    MessageType {
        standard: Standard::Ijw,
        number,
    }
}

const fn wmo(number: u16) -> MessageType {
    MessageType {
        standard: Standard::Iwmo,
        number,
    }
}

/// The schema text served under `url`: a message type's schema or a standard's
/// `basisschema.xsd`, by the URLs above; `None` for any other URL.
pub(crate) fn by_url(url: &str) -> Option<&'static str> {
    let (folder, file) = url.strip_prefix("mem:/")?.split_once('/')?;
    let standard = [Standard::Ijw, Standard::Iwmo]
        .into_iter()
        .find(|s| s.folder() == folder)?;
    if file == "basisschema.xsd" {
        return Some(standard.basisschema());
    }
    MessageType::ALL
        .into_iter()
        .find(|t| t.standard == standard && t.url() == url)
        .map(MessageType::xsd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each embedded schema declares the namespace its type says, imports the basisschema
    /// of its own standard, and is served under its URL.
    #[test]
    fn every_schema_is_its_types_and_served_by_its_url() {
        for t in MessageType::ALL {
            let xsd = t.xsd();
            assert!(
                xsd.contains(&format!("targetNamespace=\"{}\"", t.namespace())),
                "{t}"
            );
            let basis = format!(
                "{NAMESPACE_ROOT}{}/{RELEASE}/basisschema/schema",
                t.standard.namespace_part()
            );
            assert!(
                xsd.contains(&format!(
                    "namespace=\"{basis}\" schemaLocation=\"basisschema.xsd\""
                )),
                "{t}"
            );
            assert_eq!(by_url(&t.url()), Some(xsd), "{t}");
            assert_eq!(MessageType::by_namespace(&t.namespace()), Some(t));
        }
        assert!(by_url("mem:/jw/basisschema.xsd").is_some_and(|x| x.contains("ijw/3_2")));
        assert!(by_url("mem:/wmo/basisschema.xsd").is_some_and(|x| x.contains("iwmo/3_2")));
        for url in [
            "mem:/jw/JW399.xsd",
            "mem:/wmo/JW301.xsd",
            "mem:/jw/../wmo/basisschema.xsd",
            "file:///etc/passwd",
            "/etc/passwd",
            "basisschema.xsd",
            "http://www.istandaarden.nl/ijw/3_2/basisschema.xsd",
        ] {
            assert_eq!(by_url(url), None, "{url}");
        }
    }

    /// The embedded folders hold exactly the schemas of `ALL` and the two basisschemas.
    #[test]
    fn the_table_lists_every_embedded_schema() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/check/messages/xsd");
        let mut found = Vec::new();
        for folder in ["jw", "wmo"] {
            for entry in std::fs::read_dir(dir.join(folder)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name != "basisschema.xsd" {
                    found.push(format!("mem:/{folder}/{name}"));
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = MessageType::ALL.iter().map(|t| t.url()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }
}
