//! Routing inside a component: a method and a path pattern with `:name` parameters per handler.
//!
//! Patterns are relative to where the city mounted the component: Civic sends the matched route
//! prefix in `x-forwarded-prefix`, so `/applications/:id` matches `/kita/applications/7` in a
//! city that routes `/kita` to the component, and `/kindergarten/applications/7` in one that
//! routes `/kindergarten`.
//!
//! ```
//! use civic_sdk::{Params, Problem, Request, Response, Router};
//!
//! fn router() -> Router {
//!     Router::new().get("/applications/:id", show).delete("/applications/:id", withdraw)
//! }
//!
//! fn show(_: &Request, params: &Params) -> Result<Response, Problem> {
//!     let id: u64 = params.parse("id")?;
//!     Ok(Response::text(200, format!("application {id}")))
//! }
//!
//! fn withdraw(_: &Request, _: &Params) -> Result<Response, Problem> {
//!     Ok(Response::new(204))
//! }
//!
//! let request = Request::new(civic_sdk::Method::GET, "/kita/applications/7", "").with_header("x-forwarded-prefix", "/kita");
//! assert_eq!(router().handle(&request).body_bytes(), b"application 7");
//! let request = Request::new(civic_sdk::Method::POST, "/kita/applications/7", "").with_header("x-forwarded-prefix", "/kita");
//! assert_eq!(router().handle(&request).status(), 405);
//! ```

use crate::http::{IntoResponse, Request, Response};
use crate::problem::Problem;
use ::http::Method;
use std::str::FromStr;

/// What a route runs.
pub type Handler = fn(&Request, &Params) -> Result<Response, Problem>;

/// The routes of a component, tried in the order they were added.
#[derive(Default)]
pub struct Router {
    routes: Vec<(Method, Vec<Segment>, Handler)>,
}

enum Segment {
    Literal(String),
    Param(String),
}

impl Router {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `method pattern` → `handler`. A pattern is `/`-separated literals and `:name`
    /// parameters, each one whole segment.
    pub fn route(mut self, method: Method, pattern: &str, handler: Handler) -> Self {
        let segments = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix(':') {
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(s.to_owned()),
            })
            .collect();
        self.routes.push((method, segments, handler));
        self
    }

    /// `GET pattern`.
    pub fn get(self, pattern: &str, handler: Handler) -> Self {
        self.route(Method::GET, pattern, handler)
    }

    /// `POST pattern`.
    pub fn post(self, pattern: &str, handler: Handler) -> Self {
        self.route(Method::POST, pattern, handler)
    }

    /// `PUT pattern`.
    pub fn put(self, pattern: &str, handler: Handler) -> Self {
        self.route(Method::PUT, pattern, handler)
    }

    /// `DELETE pattern`.
    pub fn delete(self, pattern: &str, handler: Handler) -> Self {
        self.route(Method::DELETE, pattern, handler)
    }

    /// Runs the first route that matches; 404 when no pattern matches the path, 405 (with
    /// `Allow`) when one does but not for this method. Either way a problem+json body.
    pub fn handle(&self, request: &Request) -> Response {
        let path = request.route_path();
        let given: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut allowed = Vec::new();
        for (method, pattern, handler) in &self.routes {
            let Some(params) = matches(pattern, &given) else { continue };
            if method == request.method() {
                return handler(request, &params).into_response();
            }
            allowed.push(method.as_str());
        }
        if allowed.is_empty() {
            return Problem::not_found(format!("nothing at `{path}`")).into_response();
        }
        let detail = format!("`{path}` answers {}", allowed.join(", "));
        Problem::new(405, detail).into_response().header("allow", &allowed.join(", "))
    }
}

fn matches(pattern: &[Segment], given: &[&str]) -> Option<Params> {
    if pattern.len() != given.len() {
        return None;
    }
    let mut params = Vec::new();
    for (segment, value) in pattern.iter().zip(given) {
        match segment {
            Segment::Literal(literal) if literal == value => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), (*value).to_owned())),
        }
    }
    Some(Params(params))
}

/// The values of a route's `:name` parameters.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The raw value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str())
    }

    /// Parameter `name` parsed as `T`; a 400 naming it when it does not parse.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, Problem> {
        let value = self.get(name).ok_or_else(|| Problem::internal(format_args!("the route has no `:{name}`")))?;
        value.parse().map_err(|_| Problem::invalid(name, format!("`{value}` is not a valid {name}")))
    }
}
