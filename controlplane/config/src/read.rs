//! The schema walk: reads a parsed TOML document section by section and key by key, taking
//! the default for every key that is absent and recording a [`Problem`] (with its line) for
//! every key that is unknown or of the wrong type, instead of stopping at the first.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::Problem;

/// Problems found so far, and where every key that was read is written.
pub(crate) struct Reader {
    line_starts: Vec<usize>,
    problems: Vec<Problem>,
    /// Key path (`mm1.listen`, `mm1.trusted_proxies[1]`, `mm1`) to its line.
    lines: HashMap<String, usize>,
    /// Paths whose value could not be read (the default stands in for it).
    failed: HashSet<String>,
    /// Sections read, with the keys each knows.
    sections: Vec<(&'static str, Vec<&'static str>)>,
}

impl Reader {
    pub(crate) fn new(text: &str) -> Reader {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Reader {
            line_starts,
            problems: Vec::new(),
            lines: HashMap::new(),
            failed: HashSet::new(),
            sections: Vec::new(),
        }
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn problem(&mut self, path: String, span: Range<usize>, message: String) {
        let line = Some(self.line_of(span.start));
        self.failed.insert(path.clone());
        self.problems.push(Problem {
            path,
            line,
            message,
        });
    }

    /// Opens section `name` of `root` for reading.
    pub(crate) fn section<'r, 't, 'i>(
        &'r mut self,
        root: &'t DeTable<'i>,
        name: &'static str,
    ) -> Section<'r, 't, 'i> {
        let mut table = None;
        if let Some((key, value)) = root.get_key_value(name) {
            let line = self.line_of(key.span().start);
            self.lines.insert(name.to_owned(), line);
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                other => self.problem(
                    name.to_owned(),
                    value.span(),
                    format!("expected a table ([{name}]), found {}", describe(other)),
                ),
            }
        }
        Section {
            reader: self,
            name,
            table,
            known: Vec::new(),
        }
    }

    /// Reports the top-level keys that are not a section that was read.
    pub(crate) fn finish_root(&mut self, root: &DeTable<'_>) {
        let names: Vec<&str> = self.sections.iter().map(|(n, _)| *n).collect();
        for (key, _) in root.iter() {
            let key_text: &str = key.get_ref();
            if names.contains(&key_text) {
                continue;
            }
            let owner = self
                .sections
                .iter()
                .find(|(_, keys)| keys.contains(&key_text))
                .map(|(n, _)| *n);
            let hint = match (owner, suggest(key_text, names.iter().copied())) {
                (Some(section), _) => {
                    format!(" (did you mean {section}.{key_text}, in [{section}]?)")
                }
                (None, Some(s)) => format!(" (did you mean [{s}]?)"),
                (None, None) => format!(" (sections are {})", names.join(", ")),
            };
            self.problem(
                quote_key(key_text),
                key.span(),
                format!("unknown section{hint}"),
            );
        }
    }

    /// Records a problem found by validation, placing it on the line of `path` (or of its
    /// nearest enclosing key). Dropped when `path` or `related` could not be read: the default
    /// that stands in for it would only make a confusing second report.
    pub(crate) fn finding(&mut self, path: String, related: Option<&str>, message: String) {
        if self.failed.contains(&path) || related.is_some_and(|r| self.failed.contains(r)) {
            return;
        }
        // An absent key goes on the line of the key it was compared with, if that is written.
        let line = self
            .lines
            .get(&path)
            .or_else(|| related.and_then(|r| self.lines.get(r)))
            .copied()
            .or_else(|| self.line_of_path(&path));
        self.problems.push(Problem {
            path,
            line,
            message,
        });
    }

    fn line_of_path(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(&line) = self.lines.get(p) {
                return Some(line);
            }
            let cut = p.rfind(['[', '.'])?;
            p = p.get(..cut)?;
        }
    }

    /// The problems, if any.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

/// One section being read.
pub(crate) struct Section<'r, 't, 'i> {
    reader: &'r mut Reader,
    name: &'static str,
    table: Option<&'t DeTable<'i>>,
    known: Vec<&'static str>,
}

impl<'t, 'i> Section<'_, 't, 'i> {
    /// The value of `key`, if written, with its path. Registers `key` as known.
    fn value(&mut self, key: &'static str) -> Option<(&'t Spanned<DeValue<'i>>, String)> {
        self.known.push(key);
        let (k, v) = self.table?.get_key_value(key)?;
        let path = format!("{}.{key}", self.name);
        let line = self.reader.line_of(k.span().start);
        self.reader.lines.insert(path.clone(), line);
        Some((v, path))
    }

    /// Reads `key` with `convert`, or takes `default`.
    pub(crate) fn get<T>(
        &mut self,
        key: &'static str,
        default: T,
        convert: impl FnOnce(&DeValue<'i>) -> Result<T, String>,
    ) -> T {
        let Some((v, path)) = self.value(key) else {
            return default;
        };
        match convert(v.get_ref()) {
            Ok(t) => t,
            Err(message) => {
                self.reader.problem(path, v.span(), message);
                default
            }
        }
    }

    /// Reads `key` as an array whose elements each go through `convert`, or takes `default`.
    /// Every bad element is reported, with its index.
    pub(crate) fn list<T>(
        &mut self,
        key: &'static str,
        default: Vec<T>,
        convert: impl Fn(&DeValue<'i>) -> Result<T, String>,
    ) -> Vec<T> {
        let Some((v, path)) = self.value(key) else {
            return default;
        };
        let DeValue::Array(items) = v.get_ref() else {
            let message = format!("expected an array, found {}", describe(v.get_ref()));
            self.reader.problem(path, v.span(), message);
            return default;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut bad = false;
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let line = self.reader.line_of(item.span().start);
            self.reader.lines.insert(item_path.clone(), line);
            match convert(item.get_ref()) {
                Ok(t) => out.push(t),
                Err(message) => {
                    bad = true;
                    self.reader.problem(item_path, item.span(), message);
                }
            }
        }
        if bad {
            self.reader.failed.insert(path);
            return default;
        }
        out
    }

    /// Reports the keys of this section that were not read, and closes it.
    pub(crate) fn finish(self) {
        if let Some(table) = self.table {
            for (key, _) in table.iter() {
                let key_text: &str = key.get_ref();
                if self.known.contains(&key_text) {
                    continue;
                }
                let hint = match suggest(key_text, self.known.iter().copied()) {
                    Some(s) => format!(" (did you mean {s}?)"),
                    None => format!(" (keys of [{}] are {})", self.name, self.known.join(", ")),
                };
                self.reader.problem(
                    format!("{}.{}", self.name, quote_key(key_text)),
                    key.span(),
                    format!("unknown key{hint}"),
                );
            }
        }
        self.reader.sections.push((self.name, self.known));
    }
}

/// A string.
pub(crate) fn string(v: &DeValue<'_>) -> Result<String, String> {
    match v {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(format!("expected a string, found {}", describe(other))),
    }
}

/// A boolean.
pub(crate) fn boolean(v: &DeValue<'_>) -> Result<bool, String> {
    match v {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(format!("expected true or false, found {}", describe(other))),
    }
}

/// A non-negative integer that fits `T`.
pub(crate) fn uint<T: TryFrom<u64>>(v: &DeValue<'_>) -> Result<T, String> {
    let DeValue::Integer(n) = v else {
        return Err(format!(
            "expected a non-negative integer, found {}",
            describe(v)
        ));
    };
    let value = i128::from_str_radix(n.as_str(), n.radix())
        .map_err(|_| format!("{n} is not an integer"))?;
    if value < 0 {
        return Err(format!("must not be negative, found {n}"));
    }
    u64::try_from(value)
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("{n} is too large"))
}

/// A string parsed with `FromStr`; the error names what was expected (`what`) and why.
pub(crate) fn parsed<T>(what: &str, v: &DeValue<'_>) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: Display,
{
    let s = string(v)?;
    s.parse()
        .map_err(|e: T::Err| format!("{s:?} is not {what}: {e}"))
}

/// Like [`parsed`], but the empty string reads as `None`.
pub(crate) fn optional<T>(what: &str, v: &DeValue<'_>) -> Result<Option<T>, String>
where
    T: std::str::FromStr,
    T::Err: Display,
{
    match v {
        DeValue::String(s) if s.is_empty() => Ok(None),
        _ => parsed(what, v).map(Some),
    }
}

/// A value, as an error message shows it.
fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push_str("...");
            }
            format!("string {shown:?}")
        }
        DeValue::Integer(n) => format!("integer {n}"),
        DeValue::Float(x) => format!("float {x}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// A key as written in a path: bare if it can be, else quoted.
fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// The known name closest to `name`, if it is close enough to be a typo.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|&(d, k)| {
            (d <= 2.max(k.len() / 4) || name.starts_with(k) || k.starts_with(name)) && d < k.len()
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = i;
        let mut left = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let up = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let cost = if ca == cb { diagonal } else { diagonal + 1 };
            let here = cost.min(up + 1).min(left + 1);
            diagonal = up;
            if let Some(cell) = row.get_mut(j) {
                *cell = left;
            }
            left = here;
        }
        if let Some(last) = row.get_mut(b.len()) {
            *last = left;
        }
    }
    row.get(b.len()).copied().unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("max_mesage_bytes", "max_message_bytes"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggestions() {
        let keys = ["listen", "public_url", "max_message_bytes"];
        assert_eq!(suggest("lisen", keys.iter().copied()), Some("listen"));
        assert_eq!(
            suggest("max_mesage_byte", keys.iter().copied()),
            Some("max_message_bytes")
        );
        assert_eq!(suggest("listen_on", keys.iter().copied()), Some("listen"));
        assert_eq!(suggest("colour", keys.iter().copied()), None);
    }

    #[test]
    fn lines() {
        let r = Reader::new("a\nbb\n\nc");
        assert_eq!(r.line_of(0), 1);
        assert_eq!(r.line_of(1), 1);
        assert_eq!(r.line_of(2), 2);
        assert_eq!(r.line_of(5), 3);
        assert_eq!(r.line_of(6), 4);
    }
}
