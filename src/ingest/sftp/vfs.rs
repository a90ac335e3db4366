//! The virtual tree a user sees over SFTP (DESIGN 1): `/<tenant>/{upload,receipts,outbox}`
//! for the tenants the user holds grants for, and nothing else.
//!
//! Paths are resolved component by component on this tree, never by string prefix on host
//! paths: `..` stops at the virtual root, and a name that is not a granted tenant or a folder
//! the user's roles allow simply does not exist. This module never touches the disk.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Grant;

/// Longest path accepted from a client, in bytes.
const MAX_PATH_BYTES: usize = 4096;
/// Longest file name, in bytes (as most Unix file systems).
const MAX_NAME_BYTES: usize = 255;
/// Longest name a client may give a file it creates, in bytes. Lower than the file
/// system's 255 because names grow on their way: a receipt is `<name>.<yyyyMMddHHmmss>
/// .result.csv` (26 bytes more), an archived original `<id>-<name>`, a taken name gets
/// `-<n>`. A name that fits here fits in every one of them.
pub(crate) const MAX_NEW_NAME_BYTES: usize = 200;

/// One of a tenant's three folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Folder {
    Upload,
    Receipts,
    Outbox,
}

impl Folder {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Receipts => "receipts",
            Self::Outbox => "outbox",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Upload, Self::Receipts, Self::Outbox]
            .into_iter()
            .find(|f| f.as_str() == name)
    }
}

/// What a user may do for one tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Roles {
    pub deliver: bool,
    pub collect: bool,
}

impl Roles {
    /// Whether the folder is part of this user's view: `upload/` and `receipts/` for
    /// deliverers, `outbox/` for collectors.
    pub(crate) fn sees(self, folder: Folder) -> bool {
        match folder {
            Folder::Upload | Folder::Receipts => self.deliver,
            Folder::Outbox => self.collect,
        }
    }
}

/// A user's grants, by tenant id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Grants(BTreeMap<String, Roles>);

impl Grants {
    pub(crate) fn from_config(grants: &[Grant]) -> Self {
        Self(
            grants
                .iter()
                .map(|g| {
                    let roles = Roles {
                        deliver: g.deliver,
                        collect: g.collect,
                    };
                    (g.tenant.clone(), roles)
                })
                .collect(),
        )
    }

    pub(crate) fn roles(&self, tenant: &str) -> Option<Roles> {
        self.0.get(tenant).copied()
    }

    /// Granted tenants, sorted.
    pub(crate) fn tenants(&self) -> impl Iterator<Item = (&str, Roles)> {
        self.0.iter().map(|(t, r)| (t.as_str(), *r))
    }

    /// Where a session starts: the tenant's folder for a user with one grant, else the root.
    pub(crate) fn home(&self) -> VPath {
        match self.0.keys().next() {
            Some(tenant) if self.0.len() == 1 => VPath(vec![tenant.clone()]),
            _ => VPath::default(),
        }
    }
}

/// A normalised path on the virtual tree: at most three names, each valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VPath(Vec<String>);

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for name in &self.0 {
            write!(f, "/{name}")?;
        }
        Ok(())
    }
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Root,
    Tenant(String),
    Folder(String, Folder),
    /// A name inside a folder; whether it exists on disk is for the caller to find out.
    Entry(String, Folder, String),
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathError {
    NotFound(String),
    InvalidName(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(path) => write!(f, "no such file or folder: {path}"),
            Self::InvalidName(why) => f.write_str(why),
        }
    }
}

/// Checks one name that the client sent.
pub(crate) fn check_name(name: &str) -> Result<(), PathError> {
    let bad = |why: &str| {
        Err(PathError::InvalidName(format!(
            "invalid name {name:?}: {why}"
        )))
    };
    if name.len() > MAX_NAME_BYTES {
        return bad("longer than 255 bytes");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("control characters are not allowed");
    }
    if name.contains('\\') {
        return bad("backslashes are not allowed");
    }
    if name.contains('\u{FFFD}') {
        // The SFTP layer replaced bytes that were not UTF-8; the real name is unknown.
        return bad("names must be UTF-8");
    }
    Ok(())
}

/// Why a client may not create a file under a name. The text is what the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NameRefused {
    #[error("name is longer than {MAX_NEW_NAME_BYTES} bytes (it has {0})")]
    TooLong(usize),
    #[error("name holds a control or direction character (U+{:04X})", u32::from(*.0))]
    UnsafeChar(char),
}

/// Checks a name a client wants to create (a new upload, a rename target, a folder), on top
/// of [`check_name`], which every path passes. Such a name ends up in receipts, mails, logs
/// and listings: it must fit there ([`MAX_NEW_NAME_BYTES`]), and hold no character that
/// could forge or visually reorder a line there or hide what the name is
/// (`redact::is_unsafe_char`: controls, bidi overrides and isolates, zero-width marks).
pub(crate) fn check_new_name(name: &str) -> Result<(), NameRefused> {
    if name.len() > MAX_NEW_NAME_BYTES {
        return Err(NameRefused::TooLong(name.len()));
    }
    match name.chars().find(|c| crate::redact::is_unsafe_char(*c)) {
        Some(c) => Err(NameRefused::UnsafeChar(c)),
        None => Ok(()),
    }
}

impl VPath {
    /// Its names, from the root.
    pub(crate) fn names(&self) -> &[String] {
        &self.0
    }

    /// Resolves `path` (absolute, or relative to `cwd`) component by component.
    pub(crate) fn resolve(cwd: &VPath, path: &str) -> Result<Self, PathError> {
        if path.len() > MAX_PATH_BYTES {
            return Err(PathError::InvalidName("path longer than 4096 bytes".into()));
        }
        let mut names = if path.starts_with('/') {
            Vec::new()
        } else {
            cwd.0.clone()
        };
        for name in path.split('/') {
            match name {
                "" | "." => {}
                ".." => {
                    names.pop();
                }
                name => {
                    check_name(name)?;
                    if names.len() == 3 {
                        return Err(PathError::NotFound(path.to_owned()));
                    }
                    names.push(name.to_owned());
                }
            }
        }
        Ok(Self(names))
    }

    /// The node this path names for a user with `grants`. Tenants and folders outside the
    /// grants do not exist for that user.
    pub(crate) fn node(&self, grants: &Grants) -> Result<Node, PathError> {
        let not_found = || PathError::NotFound(self.to_string());
        let Some(tenant) = self.0.first() else {
            return Ok(Node::Root);
        };
        let roles = grants.roles(tenant).ok_or_else(not_found)?;
        let Some(folder) = self.0.get(1) else {
            return Ok(Node::Tenant(tenant.clone()));
        };
        let folder = Folder::parse(folder)
            .filter(|f| roles.sees(*f))
            .ok_or_else(not_found)?;
        match self.0.get(2) {
            None => Ok(Node::Folder(tenant.clone(), folder)),
            Some(name) => Ok(Node::Entry(tenant.clone(), folder, name.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants::from_config(&[
            Grant {
                tenant: "alpha".into(),
                deliver: true,
                collect: false,
            },
            Grant {
                tenant: "town".into(),
                deliver: false,
                collect: true,
            },
        ])
    }

    fn check(cwd: &str, path: &str, expected: Result<Node, &str>) {
        let cwd = VPath::resolve(&VPath::default(), cwd).unwrap();
        let got = VPath::resolve(&cwd, path).and_then(|p| p.node(&grants()));
        match (got, expected) {
            (Ok(node), Ok(want)) => assert_eq!(node, want, "{cwd} + {path:?}"),
            (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{path:?}: {e}"),
            (got, want) => panic!("{cwd} + {path:?}: got {got:?}, want {want:?}"),
        }
    }

    fn entry(t: &str, f: Folder, n: &str) -> Result<Node, &'static str> {
        Ok(Node::Entry(t.into(), f, n.into()))
    }

    #[test]
    fn paths_resolve_on_the_virtual_tree_only() {
        use Folder::*;
        check("/", "/", Ok(Node::Root));
        check("/", "..", Ok(Node::Root));
        check("/", "/../../..", Ok(Node::Root));
        check("/alpha", "upload/x.csv", entry("alpha", Upload, "x.csv"));
        check(
            "/alpha/upload",
            "../receipts/r.txt",
            entry("alpha", Receipts, "r.txt"),
        );
        check(
            "/alpha/upload",
            "../../../../etc/passwd",
            Err("no such file"),
        );
        check("/", "/etc/passwd", Err("no such file"));
        check("/", "/alpha/outbox", Err("no such file"));
        check("/", "/town/upload", Err("no such file"));
        check("/", "/town/outbox/b.zip", entry("town", Outbox, "b.zip"));
        check("/", "/beta/upload/x", Err("no such file"));
        check("/", "/alpha/upload/x/y", Err("no such file"));
        check("/", "/alpha/upload/a\\..\\b", Err("backslashes"));
        check("/", "/alpha/upload/a\u{0}b", Err("control characters"));
        check("/", "/alpha/upload/a\nb", Err("control characters"));
        check("/", "/alpha/upload/\u{FFFD}", Err("UTF-8"));
        check(
            "/",
            &format!("/alpha/upload/{}", "x".repeat(256)),
            Err("255 bytes"),
        );
        check("/", &"/..".repeat(2000), Err("4096 bytes"));
        check(
            "/",
            "/alpha/./upload/.//x.csv",
            entry("alpha", Upload, "x.csv"),
        );
        check(
            "/",
            "/alpha/upload/%2e%2e",
            entry("alpha", Upload, "%2e%2e"),
        );
    }

    #[test]
    fn new_names_are_short_and_free_of_control_and_direction_characters() {
        assert_eq!(check_new_name(&"x".repeat(200)), Ok(()));
        assert_eq!(check_new_name("résumé 2026 ü.csv"), Ok(()));
        assert_eq!(
            check_new_name(&"x".repeat(201)),
            Err(NameRefused::TooLong(201))
        );
        // Bytes, not characters: 101 two-byte letters are 202 bytes.
        assert_eq!(
            check_new_name(&"é".repeat(101)),
            Err(NameRefused::TooLong(202))
        );
        for c in [
            '\u{1}', '\u{7F}', '\u{85}', '\u{9F}', '\u{200B}', '\u{200F}', '\u{202A}', '\u{202E}',
            '\u{2066}', '\u{2069}', '\u{FEFF}', '\u{61C}',
        ] {
            let name = format!("invoice{c}vsc.exe");
            assert_eq!(
                check_new_name(&name),
                Err(NameRefused::UnsafeChar(c)),
                "{c:?}"
            );
        }
        assert_eq!(
            check_new_name("a\u{202E}b").unwrap_err().to_string(),
            "name holds a control or direction character (U+202E)"
        );
        assert_eq!(
            check_new_name(&"x".repeat(240)).unwrap_err().to_string(),
            "name is longer than 200 bytes (it has 240)"
        );
    }

    #[test]
    fn a_single_grant_is_home() {
        let one = Grants::from_config(&[Grant {
            tenant: "alpha".into(),
            deliver: true,
            collect: false,
        }]);
        assert_eq!(one.home().to_string(), "/alpha");
        assert_eq!(grants().home().to_string(), "/");
    }
}
