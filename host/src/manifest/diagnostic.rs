//! Errors that point into a manifest: `file:line:column`, the offending line and a caret under
//! the offending value, rendered the way rustc and cargo render theirs.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A manifest's text, kept so that errors found after parsing can still quote it.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it (relative paths stay relative, as in compiler output).
    pub path: PathBuf,
    /// The whole file.
    pub text: String,
}

/// A place in a manifest: a file and a byte range in it.
#[derive(Clone, Debug)]
pub struct Location {
    /// The manifest.
    pub file: Arc<SourceFile>,
    /// The bytes of the offending value.
    pub span: Range<usize>,
}

impl Location {
    /// The 1-based line and column of the start of the span.
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.file.text[..self.span.start.min(self.file.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = self.line_col();
        write!(f, "{}:{line}:{column}", self.file.path.display())
    }
}

/// One error, at a place in a manifest when it has one.
#[derive(Debug)]
pub struct Diagnostic {
    message: String,
    at: Option<Location>,
    notes: Vec<String>,
}

impl Diagnostic {
    /// An error about a value in a manifest.
    pub fn at(at: Location, message: impl Into<String>) -> Self {
        Self { message: message.into(), at: Some(at), notes: Vec::new() }
    }

    /// An error about a whole file (it cannot be read, for example).
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        let message = format!("{}: {}", path.display(), message.into());
        Self { message, at: None, notes: Vec::new() }
    }

    /// What is wrong, without location or notes.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Adds a line of help or context under the snippet.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = Level::ERROR.primary_title(&self.message);
        let mut group = match &self.at {
            Some(at) => {
                let path = at.file.path.to_string_lossy();
                title.element(
                    Snippet::source(at.file.text.as_str())
                        .path(path)
                        .annotation(AnnotationKind::Primary.span(at.span.clone())),
                )
            }
            None => Group::with_title(title),
        };
        for note in &self.notes {
            group = group.element(Level::NOTE.message(note));
        }
        write!(f, "{}", Renderer::plain().render(&[group]))
    }
}

impl std::error::Error for Diagnostic {}

/// Every error found in one pass over a set of manifests, in file order.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Records an error.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// `Ok(value)` when no error was recorded, else all of them in file order.
    pub fn into_result<T>(mut self, value: T) -> Result<T, Self> {
        if self.0.is_empty() {
            return Ok(value);
        }
        self.0.sort_by_key(|d| d.at.as_ref().map(|at| (at.file.path.clone(), at.span.start)));
        Err(self)
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, diagnostics: I) {
        diagnostics.into_iter().for_each(|d| self.push(d));
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            writeln!(f, "{diagnostic}\n")?;
        }
        let n = self.0.len();
        write!(f, "error: {n} {} in the manifests", if n == 1 { "error" } else { "errors" })
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let file = Arc::new(SourceFile { path: "x.toml".into(), text: "a = 1\nbb = 2\n".into() });
        let at = Location { file, span: 6..8 };
        assert_eq!(at.line_col(), (2, 1));
        assert_eq!(at.to_string(), "x.toml:2:1");
        let rendered = Diagnostic::at(at, "unknown key `bb`").note("keys are a").to_string();
        assert!(rendered.contains("error: unknown key `bb`"), "{rendered}");
        assert!(rendered.contains("--> x.toml:2:1"), "{rendered}");
        assert!(rendered.contains("bb = 2"), "{rendered}");
        assert!(rendered.contains("note: keys are a"), "{rendered}");
    }
}
