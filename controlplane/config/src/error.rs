//! Configuration problems, all of them at once.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where: the key path, such as `mm1.trusted_proxies[1]` or `push.mode`; empty for a
    /// problem with the whole file (unreadable, not TOML).
    pub path: String,
    /// The 1-based line in the file, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong, for a human.
    pub message: String,
}

/// Every problem found in a configuration, in the order of the file (problems without a line
/// first). Never empty.
///
/// `Display` writes one problem per line, `FILE:LINE: PATH: MESSAGE`, leaving out what a
/// problem does not have (no file for [`parse`](crate::parse), `line N` without a file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    file: Option<PathBuf>,
    problems: Vec<Problem>,
}

impl ConfigErrors {
    pub(crate) fn new(mut problems: Vec<Problem>) -> ConfigErrors {
        // Stable: problems on one line keep the order they were found in.
        problems.sort_by_key(|p| p.line);
        ConfigErrors {
            file: None,
            problems,
        }
    }

    pub(crate) fn in_file(mut self, file: &Path) -> ConfigErrors {
        self.file = Some(file.to_owned());
        self
    }

    /// The problems, at least one.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The file the configuration came from, for [`load`](crate::load).
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match (&self.file, p.line) {
                (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
                (Some(file), None) => write!(f, "{}: ", file.display())?,
                (None, Some(line)) => write!(f, "line {line}: ")?,
                (None, None) => {}
            }
            if !p.path.is_empty() {
                write!(f, "{}: ", p.path)?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
