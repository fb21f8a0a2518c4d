//! Every list of the admin API is paged and filtered alike, so that it answers in bounded time
//! and memory among 100,000 cities: `?limit=` rows (default [`DEFAULT_LIMIT`], at most
//! [`MAX_LIMIT`]) from `?cursor=` (the `next` of the page before), narrowed by `?city=` and
//! `?component=` (exact ids) and by the list's own filters; the answer is
//! `{"items": [...], "next": CURSOR-or-null, "total": N}`, `total` counting every row that
//! matches. Rows come in key order, so a page follows on from the one before even when rows
//! were added or removed in between.

use crate::manifest::{CityId, ComponentName};
use serde::Serialize;

pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 10_000;

/// The longest cursor accepted: a `CITY/COMPONENT` key with room to spare.
const MAX_CURSOR: usize = 200;

/// What a list request asks for, checked.
#[derive(Debug, Default)]
pub struct Query {
    pub city: Option<CityId>,
    pub component: Option<ComponentName>,
    /// Text that a row's ids or names contain (case-insensitive), where the list offers search.
    pub search: Option<String>,
    /// `health=failing`, or a cluster list's `agree=false`: only the rows in trouble.
    pub troubled: bool,
    pub limit: usize,
    /// The key of the last row of the page before.
    pub cursor: Option<String>,
}

impl Query {
    /// Parses a request's query string; `filters` names the list's own filters beside `city`,
    /// `component`, `limit` and `cursor` (`q`, `health`, `agree`), and anything else is refused.
    pub fn parse(query: Option<&str>, filters: &[&str]) -> Result<Self, String> {
        let mut parsed = Self { limit: DEFAULT_LIMIT, ..Self::default() };
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = value.into_owned();
            match &*name {
                "city" => parsed.city = Some(CityId::try_from(value).map_err(|e| format!("`city`: {e}"))?),
                "component" => {
                    parsed.component = Some(ComponentName::try_from(value).map_err(|e| format!("`component`: {e}"))?)
                }
                "limit" => {
                    parsed.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("`limit` is a number from 1 to {MAX_LIMIT}, not `{value}`"))?
                }
                "cursor" if value.len() <= MAX_CURSOR => parsed.cursor = Some(value),
                "cursor" => return Err("`cursor` is not one this host gave".into()),
                "q" if filters.contains(&"q") && value.chars().count() <= MAX_CURSOR => {
                    parsed.search = Some(value.to_lowercase()).filter(|q| !q.trim().is_empty())
                }
                "health" if filters.contains(&"health") => match &*value {
                    "failing" => parsed.troubled = true,
                    "" => {}
                    other => return Err(format!("`health` filters on `failing`, not `{other}`")),
                },
                "agree" if filters.contains(&"agree") => match &*value {
                    "false" => parsed.troubled = true,
                    "" => {}
                    other => return Err(format!("`agree` filters on `false`, not `{other}`")),
                },
                // The console's own refresh marker.
                "live" => {}
                other => {
                    let known = ["city", "component", "limit", "cursor"].iter().chain(filters);
                    let known: Vec<_> = known.map(|name| format!("`{name}`")).collect();
                    return Err(format!("unknown parameter `{other}`: this list takes {}", known.join(", ")));
                }
            }
        }
        Ok(parsed)
    }

    /// Whether `text` (an id or a name) is what the search asks for, or there is no search.
    pub fn finds(&self, texts: &[&str]) -> bool {
        self.search.as_ref().is_none_or(|q| texts.iter().any(|text| text.to_lowercase().contains(q.as_str())))
    }
}

/// One page of a list.
#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last.
    pub next: Option<String>,
    /// Rows that match, on every page.
    pub total: usize,
}

impl<T> Page<T> {
    /// The page of `limit` rows from `rows` (in key order, after the cursor already), each row
    /// built only if it is on the page; `key` gives the cursor of a row. `total` is counted by
    /// the caller, over every page.
    pub fn of<R>(
        rows: impl Iterator<Item = R>,
        limit: usize,
        total: usize,
        key: impl Fn(&R) -> String,
        build: impl Fn(R) -> T,
    ) -> Self {
        let mut items = Vec::with_capacity(limit.min(total));
        let mut rows = rows.peekable();
        let mut last = None;
        while items.len() < limit {
            let Some(row) = rows.next() else { break };
            last = Some(key(&row));
            items.push(build(row));
        }
        let next = if rows.peek().is_some() { last } else { None };
        Self { items, next, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_parameters_and_bad_limits_are_refused_with_what_is_known() {
        let error = Query::parse(Some("citty=a"), &["q"]).unwrap_err();
        assert!(error.contains("`citty`") && error.contains("`q`"), "{error}");
        assert!(Query::parse(Some("limit=0"), &[]).is_err());
        assert!(Query::parse(Some("limit=10001"), &[]).is_err());
        assert!(Query::parse(Some("city=Not%20An%20Id"), &[]).is_err());
        assert!(Query::parse(Some("q=x"), &[]).is_err(), "a list without search refuses `q`");
        let query = Query::parse(Some("city=bremen&limit=5&q=Brem"), &["q"]).expect("every parameter is valid");
        let city = query.city.as_ref().map(|c| c.as_str());
        assert_eq!((city, query.limit, query.search.as_deref()), (Some("bremen"), 5, Some("brem")));
    }

    #[test]
    fn pages_cover_every_row_once() {
        let rows: Vec<u32> = (0..25).collect();
        let mut seen: Vec<u32> = Vec::new();
        let mut cursor: Option<u32> = None;
        for _ in 0..10 {
            let after = rows.iter().copied().filter(|r| cursor.is_none_or(|c| *r > c));
            let page = Page::of(after, 10, rows.len(), |r| r.to_string(), |r| r);
            assert_eq!(page.total, 25);
            seen.extend(&page.items);
            match page.next {
                Some(next) => cursor = Some(next.parse().expect("the cursor is the key a page gave")),
                None => break,
            }
        }
        assert_eq!(seen, rows);
    }
}
