//! The console's pages: one askama template each under `templates/` (checked when the host is
//! compiled), and the words and numbers they show. A page's live part is a template of its own,
//! included in the page and served alone to the script that refreshes it.

use super::catalog::{Catalog, Offer};
use super::graph::Graph;
use super::session::{Notice, Session};
use crate::admin::cluster::{Agreement, ClusterView, HistoryEntry, HostView};
use crate::admin::components::{CitySummary, CityView, ComponentView, Health, VersionView};
use crate::admin::page::Page;
use crate::runtime::Runtime;
use askama::Template;
use std::time::{Duration, SystemTime};

/// What every page has around its content: the navigation, the sign-out form and the notice of
/// the last action.
pub struct Chrome {
    /// The session's CSRF token; `None` when nobody is signed in (no navigation then).
    pub csrf: Option<String>,
    pub notice: Option<Notice>,
    pub section: Section,
    /// Which host this is: its id in the cluster, or the host alone.
    pub host: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Cities,
    Catalog,
    Cluster,
    None,
}

impl Chrome {
    pub fn new(session: &Session, notice: Option<Notice>, section: Section, runtime: &Runtime) -> Self {
        let host = runtime.cluster().map_or_else(|| "single host".to_owned(), |c| format!("host {}", c.id()));
        Self { csrf: Some(session.csrf.clone()), notice, section, host }
    }

    /// Around a page for someone not signed in.
    pub fn anonymous() -> Self {
        Self { csrf: None, notice: None, section: Section::None, host: String::new() }
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignIn<'a> {
    pub chrome: Chrome,
    pub next: &'a str,
    pub error: Option<String>,
}

impl<'a> SignIn<'a> {
    pub fn new(next: &'a str, error: Option<String>) -> Self {
        Self { chrome: Chrome::anonymous(), next, error }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub chrome: Chrome,
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "cities.html")]
pub struct CitiesPage<'a> {
    pub chrome: Chrome,
    pub cities: &'a CitiesList,
}

#[derive(Template)]
#[template(path = "cities_live.html")]
pub struct CitiesLive<'a> {
    pub cities: &'a CitiesList,
}

/// One page of the cities list, as the search and filter asked for it.
pub struct CitiesList {
    pub page: Page<CitySummary>,
    /// The search, as typed.
    pub search: String,
    pub failing_only: bool,
    /// Where this page starts: the cursor it was asked with.
    pub cursor: Option<String>,
    /// Cities with a failing component, whatever the search.
    pub failing_cities: usize,
}

impl CitiesList {
    /// The query string of this list's pages, from `cursor` on.
    fn query(&self, cursor: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.search.is_empty() {
            query.append_pair("q", &self.search);
        }
        if self.failing_only {
            query.append_pair("health", "failing");
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        query.finish()
    }

    /// The address of this page's live part.
    fn live(&self) -> String {
        match self.query(self.cursor.as_deref()) {
            query if query.is_empty() => "/?live".into(),
            query => format!("/?{query}&live"),
        }
    }

    /// The address of the next page, when there is one.
    fn next_page(&self) -> Option<String> {
        self.page.next.as_deref().map(|next| format!("/?{}", self.query(Some(next))))
    }

    /// The address of the first page, when this is not it.
    fn first_page(&self) -> Option<String> {
        self.cursor.is_some().then(|| format!("/?{}", self.query(None)))
    }

    /// `Cities 1–50 of 98,000`, or what the search found none of.
    fn summary(&self) -> String {
        let shown = self.page.items.len();
        if shown == 0 {
            return match (self.search.is_empty(), self.failing_only) {
                (true, false) => "This host serves no city.".into(),
                (true, true) => "No city has a failing component.".into(),
                (false, _) => format!("No city's id or name contains “{}”.", self.search),
            };
        }
        let (first, last) = (self.page.items.first(), self.page.items.last());
        let what =
            if self.search.is_empty() { "cities".to_owned() } else { format!("cities matching “{}”", self.search) };
        match (first, last) {
            (Some(first), Some(last)) if self.page.total > shown => {
                format!("{shown} of {} {what}: {} to {}", thousands(self.page.total), first.id, last.id)
            }
            _ => format!("{} {what}", thousands(self.page.total)),
        }
    }
}

/// `98000` as `98,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[derive(Template)]
#[template(path = "city.html")]
pub struct CityPage<'a> {
    pub chrome: Chrome,
    pub city: &'a CityView,
    pub graph: &'a Graph,
}

#[derive(Template)]
#[template(path = "city_live.html")]
pub struct CityLive<'a> {
    pub city: &'a CityView,
    pub graph: &'a Graph,
}

#[derive(Template)]
#[template(path = "component.html")]
pub struct ComponentPage<'a> {
    pub chrome: Chrome,
    pub city: &'a CityView,
    pub component: &'a ComponentView,
    /// Newest first; why it could not be read.
    pub history: Result<Vec<HistoryEntry>, String>,
    /// Catalogue versions that could stand in for it.
    pub offers: Vec<&'a Offer>,
    pub catalog_problems: &'a [String],
    pub max_upload: u64,
}

#[derive(Template)]
#[template(path = "component_live.html")]
pub struct ComponentLive<'a> {
    pub component: &'a ComponentView,
}

#[derive(Template)]
#[template(path = "catalog.html")]
pub struct CatalogPage<'a> {
    pub chrome: Chrome,
    pub catalog: &'a Catalog,
    /// The registries listed, as `--catalog` gave them.
    pub scopes: Vec<String>,
}

#[derive(Template)]
#[template(path = "cluster.html")]
pub struct ClusterPage<'a> {
    pub chrome: Chrome,
    pub cluster: &'a Result<ClusterView, String>,
    pub paging: &'a ClusterPaging,
}

#[derive(Template)]
#[template(path = "cluster_live.html")]
pub struct ClusterLive<'a> {
    pub cluster: &'a Result<ClusterView, String>,
    pub paging: &'a ClusterPaging,
}

/// Which page of the cluster's versions is shown.
pub struct ClusterPaging {
    pub disagreeing_only: bool,
    pub cursor: Option<String>,
}

impl ClusterPaging {
    /// The address of the page from `cursor` on.
    fn href(&self, cursor: Option<&String>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if self.disagreeing_only {
            query.append_pair("agree", "false");
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
        format!("/cluster?{}", query.finish())
    }

    /// The address of this page's live part.
    fn live(&self) -> String {
        format!("{}&live", self.href(self.cursor.as_ref()))
    }
}

impl ComponentPage<'_> {
    /// The version a rollback brings back, when this host knows it.
    fn rollback_target(&self) -> Option<u64> {
        let serving = self.component.current.version;
        let earlier = self.history.as_ref().ok().and_then(|h| h.iter().map(|v| v.version).find(|v| *v < serving));
        earlier.or(self.component.previous.as_ref().map(|p| p.version))
    }

    fn max_upload_text(&self) -> String {
        bytesize::ByteSize(self.max_upload).to_string()
    }
}

impl ComponentView {
    fn p50(&self) -> String {
        latency(self.p50_seconds)
    }

    fn p99(&self) -> String {
        latency(self.p99_seconds)
    }

    fn health_text(&self) -> String {
        match self.health {
            Health::Idle => "idle".into(),
            Health::Ok => "ok".into(),
            Health::Failing if self.failing_in_a_row == 1 => "failing: its latest answer failed".into(),
            Health::Failing => format!("failing: its latest {} answers failed", self.failing_in_a_row),
        }
    }
}

impl VersionView {
    fn short(&self) -> &str {
        short(&self.sha256)
    }

    fn ago(&self) -> String {
        ago(self.since)
    }

    /// The source, shortened to what tells it apart: a file's name, a reference without scheme.
    fn source_label(&self) -> &str {
        source_label(&self.source)
    }
}

impl HistoryEntry {
    fn short(&self) -> &str {
        short(&self.sha256)
    }

    fn origin_label(&self) -> &str {
        source_label(&self.origin)
    }
}

impl ClusterView {
    fn is_this(&self, host: &HostView) -> bool {
        self.host.as_deref() == Some(host.id.as_str())
    }
}

impl HostView {
    /// When it was last seen, as `12 s ago`.
    fn seen(&self) -> String {
        ago(SystemTime::now() - Duration::from_secs_f64(self.seen_seconds_ago.max(0.0)))
    }
}

impl Agreement {
    fn short(&self) -> &str {
        short(&self.sha256)
    }
}

impl Offer {
    fn short(&self) -> &str {
        short(&self.sha256)
    }

    /// `1.2.0 (tag stable)` or just the tag.
    fn label(&self) -> String {
        match &self.version {
            Some(version) if *version != self.tag => format!("{version} (tag {})", self.tag),
            _ => self.tag.clone(),
        }
    }
}

/// The first 12 hex digits of a sha256, as `git` and `civic status` shorten them.
fn short(sha256: &str) -> &str {
    let sha256 = sha256.strip_prefix("sha256:").unwrap_or(sha256);
    sha256.get(..12).unwrap_or(sha256)
}

fn source_label(source: &str) -> &str {
    match source.strip_prefix("oci://") {
        Some(reference) => reference.split('@').next().unwrap_or(reference),
        None if source.contains('/') => source.rsplit('/').next().unwrap_or(source),
        None => source,
    }
}

/// `0.42 ms`, `12.3 ms`, `1.20 s`; `–` before the first request.
fn latency(seconds: Option<f64>) -> String {
    match seconds {
        None => "–".into(),
        Some(s) if s < 0.001 => format!("{:.2} ms", s * 1e3),
        Some(s) if s < 0.1 => format!("{:.1} ms", s * 1e3),
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
    }
}

/// How long ago `since` was, in the largest whole unit.
fn ago(since: SystemTime) -> String {
    let elapsed = SystemTime::now().duration_since(since).unwrap_or(Duration::ZERO).as_secs();
    match elapsed {
        0..=4 => "just now".into(),
        5..=119 => format!("{elapsed} s ago"),
        120..=7199 => format!("{} min ago", elapsed / 60),
        7200..=172_799 => format!("{} h ago", elapsed / 3600),
        _ => format!("{} days ago", elapsed / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(latency(None), "–");
        assert_eq!(latency(Some(0.00042)), "0.42 ms");
        assert_eq!(latency(Some(0.0123)), "12.3 ms");
        assert_eq!(latency(Some(0.25)), "250 ms");
        assert_eq!(latency(Some(1.2)), "1.20 s");
        assert_eq!(ago(SystemTime::now() - Duration::from_secs(300)), "5 min ago");
        assert_eq!(short(&format!("sha256:{}", "ab".repeat(32))), "abababababab");
        assert_eq!(source_label("oci://r.example/civic/tax:1.0@sha256:00"), "r.example/civic/tax:1.0");
        assert_eq!(source_label("/srv/plugins/local_tax.wasm"), "local_tax.wasm");
        assert_eq!(source_label("upload"), "upload");
    }
}
