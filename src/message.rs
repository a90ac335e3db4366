//! A sentence for people, in Dutch and in English (DESIGN 6): whoever reads it picks the
//! language, so that the code that finds a problem need not know who will read about it.

use std::fmt;

/// The language a reader gets their texts in: Dutch unless configured otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    Dutch,
    English,
}

/// One sentence in both languages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub nl: String,
    pub en: String,
}

impl Message {
    pub fn new(nl: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            nl: nl.into(),
            en: en.into(),
        }
    }

    /// The sentence in `language`.
    pub fn pick(&self, language: Language) -> &str {
        match language {
            Language::Dutch => &self.nl,
            Language::English => &self.en,
        }
    }

    /// Both sentences passed through `f` (a redaction, say).
    pub fn map(&self, f: impl Fn(&str) -> String) -> Self {
        Self {
            nl: f(&self.nl),
            en: f(&self.en),
        }
    }
}

/// The English sentence: for logs and errors read by the sysadmin.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en)
    }
}
