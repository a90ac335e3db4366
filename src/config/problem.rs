//! A problem found in a configuration file, located by its key path and, where the TOML
//! document has it, by line.

use std::fmt;

use toml::de::{DeTable, DeValue};

/// One step in a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Where in the document a value lives, e.g. `user[1].grant[0].tenant`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Self(segments)
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }

    /// Converts a path reported by `serde_ignored`.
    pub(crate) fn from_ignored(path: &serde_ignored::Path<'_>) -> Self {
        use serde_ignored::Path;
        match path {
            Path::Root => Self::default(),
            Path::Seq { parent, index } => Self::from_ignored(parent).index(*index),
            Path::Map { parent, key } => Self::from_ignored(parent).key(key),
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => Self::from_ignored(parent),
        }
    }

    /// The byte offset in `doc` where this path's key (or array element) starts.
    fn offset_in(&self, doc: &DeTable<'_>) -> Option<usize> {
        let mut table = doc;
        let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
        let mut offset = None;
        for segment in &self.0 {
            let value = match (segment, array) {
                (Segment::Key(key), None) => {
                    let (k, v) = table.get_key_value(key.as_str())?;
                    offset = Some(k.span().start);
                    v
                }
                (Segment::Index(i), Some(items)) => {
                    let v = items.get(*i)?;
                    offset = Some(v.span().start);
                    v
                }
                _ => return offset,
            };
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = t,
                DeValue::Array(items) => array = Some(&items[..]),
                _ => {}
            }
        }
        offset
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, where the document could tell.
    pub line: Option<usize>,
    /// The key the problem is about; empty for problems of the whole file.
    pub path: KeyPath,
    pub message: String,
}

impl Problem {
    pub fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Self {
            line: None,
            path,
            message: message.into(),
        }
    }

    /// Fills in `line` from the parsed document.
    pub(crate) fn locate(mut self, source: &str, doc: &DeTable<'_>) -> Self {
        if self.line.is_none() {
            self.line = self
                .path
                .offset_in(doc)
                .map(|offset| line_of(source, offset));
        }
        self
    }
}

/// The 1-based line number of a byte offset.
pub(super) fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Problem {
    /// `file:line: key: message`, the form editors and terminals link to.
    pub fn in_file(&self, file: &std::path::Path) -> String {
        match self.line {
            Some(line) => format!("{}:{line}: {self}", file.display()),
            None => format!("{}: {self}", file.display()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.0.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}
