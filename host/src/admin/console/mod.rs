//! The console: the admin listener's web pages for people, at `/`. One signs in with the admin
//! token and gets a session ([`session`]); every page then reads the live host, and every change
//! is a POST carrying the session's CSRF token, answered by a redirect to a page that says what
//! happened. Pages are templates checked at compile time ([`pages`]); a little script refreshes
//! their live parts, and they read fine without it.
//!
//! | page | what it shows |
//! | --- | --- |
//! | `/` | every city and its components: version, sha256, requests, errors, latency, health |
//! | `/cities/{city}` | one city, and its mashup graph: components, links by contract, routes |
//! | `/cities/{city}/components/{name}` | one component: its versions; roll back, swap in another |
//! | `/catalog` | the services of the `--catalog` registries, and which cities use which version |
//! | `/cluster` | the hosts, when each was last seen, whether they agree on versions |

mod catalog;
mod form;
mod graph;
mod pages;
mod session;

use super::page::Query;
use super::{Admin, cluster, components, text, with_type};
use crate::http::{Host as _, Routes};
use crate::manifest::{OciReference, WasmFile};
use crate::runtime::swap::SwapError;
use crate::sandbox::Version;
use askama::Template;
use bytes::Bytes;
use form::{Form, FormError};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use pages::{Chrome, Section};
use session::{COOKIE, LIFETIME, Notice, Session, Sessions};
use std::net::IpAddr;
use std::path::PathBuf;
use subtle::ConstantTimeEq as _;

/// Rows on one page of the cities list and of the cluster's versions: a page stays small
/// (tens of kilobytes) however many cities there are.
const CITIES_PER_PAGE: usize = 50;
const CLUSTER_ROWS_PER_PAGE: usize = 100;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

type Answer = Response<Full<Bytes>>;

/// The console's own state: who is signed in.
#[derive(Default)]
pub struct Console {
    sessions: Sessions,
}

/// A signed-in request.
struct Visit {
    id: String,
    session: Session,
}

impl Console {
    pub async fn answer(&self, admin: &Admin, request: Request<Incoming>, peer: IpAddr) -> Answer {
        let path: Vec<String> = request.uri().path().split('/').skip(1).map(str::to_owned).collect();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let method = request.method().clone();
        match (&method, path.as_slice()) {
            (&Method::GET, ["assets", "console.css"]) => asset(CSS, "text/css; charset=utf-8"),
            (&Method::GET, ["assets", "console.js"]) => asset(JS, "text/javascript; charset=utf-8"),
            (&Method::GET, ["sign-in"]) => match self.visit(request.headers()) {
                Some(_) => redirect(&next_page(request.uri().query())),
                None => page(StatusCode::OK, &pages::SignIn::new(&next_page(request.uri().query()), None)),
            },
            (&Method::POST, _) if !same_origin(request.headers()) => {
                tracing::warn!(%peer, path = %request.uri().path(), "console: refused a POST from another origin");
                error_page(
                    None,
                    StatusCode::FORBIDDEN,
                    "Not from this console",
                    "This form was sent from another site, so nothing was changed.",
                )
            }
            (&Method::POST, ["sign-in"]) => self.sign_in(admin, request, peer).await,
            _ => {
                let Some(visit) = self.visit(request.headers()) else {
                    return match method {
                        Method::GET if !is_live(&request) => {
                            let here = request.uri().path_and_query().map_or("/", |p| p.as_str());
                            redirect(&format!("/sign-in?next={}", urlencoding(here)))
                        }
                        _ => text(StatusCode::UNAUTHORIZED, "sign in to the console first"),
                    };
                };
                match method {
                    Method::POST => self.act(admin, request, peer, visit, &path).await,
                    Method::GET => self.show(admin, &request, visit, &path).await,
                    _ => text(StatusCode::METHOD_NOT_ALLOWED, "the console takes GET and POST"),
                }
            }
        }
    }

    /// The session the request's cookie names, if it is live.
    fn visit(&self, headers: &HeaderMap) -> Option<Visit> {
        let id = cookie(headers, COOKIE)?;
        let session = self.sessions.get(&id)?;
        Some(Visit { id, session })
    }

    async fn sign_in(&self, admin: &Admin, request: Request<Incoming>, peer: IpAddr) -> Answer {
        let secure = over_tls(request.headers());
        let refuse = |status, next: &str, error: String| page(status, &pages::SignIn::new(next, Some(error)));
        let form = match form::read(request, 0).await {
            Ok(form) => form,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, "/", e.to_string()),
        };
        let next = local_path(form.field("next"));
        // The right token is never refused, whatever others sent from this address (behind a
        // shared proxy, say): the token is long enough that guessing it is hopeless, which
        // `civic run` makes sure of. Wrong ones are counted in one step with the decision, so
        // concurrent tries cannot slip past the limit.
        if !bool::from(form.field("token").as_bytes().ct_eq(admin.token.as_bytes())) {
            return match self.sessions.failed(peer) {
                Ok(attempts) => {
                    tracing::warn!(%peer, attempts, "console: sign-in refused, wrong token");
                    refuse(StatusCode::UNAUTHORIZED, &next, "That is not this host's admin token.".into())
                }
                Err(wait) => {
                    tracing::warn!(%peer, "console: sign-in refused, too many wrong tokens");
                    let error =
                        format!("Too many wrong tokens from your address. Try again in {} s.", wait.as_secs() + 1);
                    refuse(StatusCode::TOO_MANY_REQUESTS, &next, error)
                }
            };
        }
        self.sessions.succeeded(peer);
        let id = self.sessions.open();
        tracing::info!(%peer, "console: signed in");
        let mut response = redirect(&next);
        let cookie = format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            LIFETIME.as_secs(),
            if secure { "; Secure" } else { "" }
        );
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::try_from(cookie).expect("the cookie is the URL-safe session id and fixed attributes"),
        );
        response
    }

    async fn show(&self, admin: &Admin, request: &Request<Incoming>, visit: Visit, path: &[&str]) -> Answer {
        let runtime = &admin.runtime;
        let live = is_live(request);
        let chrome = |section| Chrome::new(&visit.session, self.sessions.take_notice(&visit.id), section, runtime);
        match path {
            [""] => {
                let cities = match cities_list(&runtime.routes(), request.uri().query()) {
                    Ok(cities) => cities,
                    Err(e) => return bad_request(chrome(Section::Cities), &e),
                };
                match live {
                    true => page(StatusCode::OK, &pages::CitiesLive { cities: &cities }),
                    false => {
                        page(StatusCode::OK, &pages::CitiesPage { chrome: chrome(Section::Cities), cities: &cities })
                    }
                }
            }
            ["cities", city] => {
                let routes = runtime.routes();
                let Some(city) = routes.city_by_id(city) else {
                    return not_found(
                        chrome(Section::Cities),
                        "No such city",
                        &format!("This host serves no city `{city}`."),
                    );
                };
                let city = components::city_view(city);
                let graph = graph::layout(&city);
                match live {
                    true => page(StatusCode::OK, &pages::CityLive { city: &city, graph: &graph }),
                    false => page(
                        StatusCode::OK,
                        &pages::CityPage { chrome: chrome(Section::Cities), city: &city, graph: &graph },
                    ),
                }
            }
            ["cities", city, "components", name] => {
                let routes = runtime.routes();
                let found = routes.city_by_id(city).map(|c| components::city_view(c));
                let Some((city, component)) = found.and_then(|mut city| {
                    let at = city.components.iter().position(|c| c.name == *name)?;
                    let component = city.components.swap_remove(at);
                    Some((city, component))
                }) else {
                    let message = format!("This host serves no component `{name}` in a city `{city}`.");
                    return not_found(chrome(Section::Cities), "No such component", &message);
                };
                if live {
                    return page(StatusCode::OK, &pages::ComponentLive { component: &component });
                }
                let history = cluster::versions(runtime, &city.id, name).await;
                let history = history.map_err(|e| e.to_string()).map(|h| h.map(|h| h.versions).unwrap_or_default());
                let catalog = catalog::load(&admin.registry, &admin.catalog, &routes).await;
                let offers = catalog::fitting(&catalog, &component.exports);
                let page_ = pages::ComponentPage {
                    chrome: chrome(Section::Cities),
                    city: &city,
                    component: &component,
                    history,
                    offers,
                    catalog_problems: &catalog.problems,
                    max_upload: admin.max_upload,
                };
                page(StatusCode::OK, &page_)
            }
            ["catalog"] => {
                let catalog = catalog::load(&admin.registry, &admin.catalog, &runtime.routes()).await;
                let scopes: Vec<String> = admin.catalog.iter().map(ToString::to_string).collect();
                page(
                    StatusCode::OK,
                    &pages::CatalogPage { chrome: chrome(Section::Catalog), catalog: &catalog, scopes },
                )
            }
            ["cluster"] => {
                let query = Query::parse(request.uri().query(), &["agree"]);
                let query = match query {
                    Ok(query) => Query { limit: query.limit.min(CLUSTER_ROWS_PER_PAGE), ..query },
                    Err(e) => return bad_request(chrome(Section::Cluster), &e),
                };
                let view = cluster::view(runtime, &query).await.map_err(|e| e.to_string());
                let paging = &pages::ClusterPaging { disagreeing_only: query.troubled, cursor: query.cursor.clone() };
                match live {
                    true => page(StatusCode::OK, &pages::ClusterLive { cluster: &view, paging }),
                    false => page(
                        StatusCode::OK,
                        &pages::ClusterPage { chrome: chrome(Section::Cluster), cluster: &view, paging },
                    ),
                }
            }
            _ => not_found(chrome(Section::Cities), "No such page", "The console has no page at this address."),
        }
    }

    /// A state-changing form, once its CSRF token is the session's.
    async fn act(
        &self,
        admin: &Admin,
        request: Request<Incoming>,
        peer: IpAddr,
        visit: Visit,
        path: &[&str],
    ) -> Answer {
        let runtime = &admin.runtime;
        let form = match form::read(request, admin.max_upload).await {
            Ok(form) => form,
            Err(e @ FormError::TooLarge(_)) => {
                let chrome = Chrome::new(&visit.session, None, Section::Cities, runtime);
                let message = format!("Nothing was changed: {e}.");
                return error_page(Some(chrome), StatusCode::PAYLOAD_TOO_LARGE, "Upload refused", &message);
            }
            Err(e) => return self.back(&visit, "/", Notice { ok: false, text: e.to_string() }),
        };
        if !visit.session.csrf_matches(form.field("csrf")) {
            tracing::warn!(%peer, path = %path.join("/"), "console: refused a form without this session's CSRF token");
            let chrome = Chrome::new(&visit.session, None, Section::Cities, runtime);
            let message = "This form did not carry your session's CSRF token, so nothing was changed. Reload the page and try again.";
            return error_page(Some(chrome), StatusCode::FORBIDDEN, "Form refused", message);
        }
        match path {
            ["sign-out"] => {
                self.sessions.close(&visit.id);
                tracing::info!(%peer, "console: signed out");
                let mut response = redirect("/sign-in");
                let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
                response.headers_mut().insert(
                    header::SET_COOKIE,
                    HeaderValue::try_from(expired).expect("the expired cookie is a fixed ASCII text"),
                );
                response
            }
            ["cities", city, "components", name, "rollback"] => {
                let here = format!("/cities/{city}/components/{name}");
                let notice = match runtime.roll_back(city, name).await {
                    Ok(version) => {
                        Notice { ok: true, text: format!("Rolled back: {} is live again.", describe(&version)) }
                    }
                    Err(e) => refusal("The rollback", &e),
                };
                self.back(&visit, &here, notice)
            }
            ["cities", city, "components", name, "swap"] => {
                let here = format!("/cities/{city}/components/{name}");
                let notice = match self.candidate(admin, form).await {
                    Ok(wasm) => match runtime.swap(city, name, wasm).await {
                        Ok(version) => Notice { ok: true, text: format!("Swapped: {} is live.", describe(&version)) },
                        Err(e) => refusal("The swap", &e),
                    },
                    Err(text) => Notice { ok: false, text },
                };
                self.back(&visit, &here, notice)
            }
            _ => text(StatusCode::NOT_FOUND, "the console has no such action"),
        }
    }

    /// The component a swap form names: an uploaded file, or a registry reference.
    async fn candidate(&self, admin: &Admin, form: Form) -> Result<WasmFile, String> {
        if let Some(upload) = form.file {
            return Ok(WasmFile::from_bytes(PathBuf::from(format!("upload ({})", upload.name)), upload.bytes));
        }
        // A reference typed in wins over the catalogue's choice beside it.
        let reference = match form.field("reference") {
            "" => form.field("offer"),
            typed => typed,
        };
        if reference.is_empty() {
            return Err("Nothing was swapped: choose a .wasm file or give a registry reference.".into());
        }
        let reference = OciReference::try_from(reference).map_err(|e| format!("Nothing was swapped: {e}"))?;
        admin.registry.fetch(&reference).await.map_err(|e| format!("Nothing was swapped: {e}"))
    }

    /// Back to `page`, which tells `notice`.
    fn back(&self, visit: &Visit, page: &str, notice: Notice) -> Answer {
        self.sessions.tell(&visit.id, notice);
        redirect(page)
    }
}

/// `version 3 (sha256 1a2b3c4d…, from upload)`.
fn describe(version: &Version) -> String {
    let view = components::version_view(version);
    format!("version {} (sha256 {}, from {})", view.version, &view.sha256[..12], view.source)
}

/// A refused swap or rollback in words: which check failed, and the host's reason.
fn refusal(action: &str, error: &SwapError) -> Notice {
    let check = error.kind().sentence();
    Notice { ok: false, text: format!("{action} was refused, because {check}: {error}. Nothing changed.") }
}

fn page(status: StatusCode, template: &impl Template) -> Answer {
    match template.render() {
        Ok(html) => {
            let mut response = with_type(status, html, "text/html; charset=utf-8");
            let headers = response.headers_mut();
            // Only this console's own scripts, styles and forms; never inside another site's frame.
            let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                          connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!("console: a page failed to render: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render")
        }
    }
}

fn error_page(chrome: Option<Chrome>, status: StatusCode, title: &str, message: &str) -> Answer {
    page(status, &pages::ErrorPage { chrome: chrome.unwrap_or_else(Chrome::anonymous), title, message })
}

fn not_found(chrome: Chrome, title: &str, message: &str) -> Answer {
    error_page(Some(chrome), StatusCode::NOT_FOUND, title, message)
}

fn bad_request(chrome: Chrome, message: &str) -> Answer {
    error_page(Some(chrome), StatusCode::BAD_REQUEST, "Not a page the console has", message)
}

/// The page of the cities list that `query` (the address's query string) asks for.
fn cities_list(routes: &Routes, query: Option<&str>) -> Result<pages::CitiesList, String> {
    let asked = Query::parse(query, &["q", "health"])?;
    let search = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "q")
        .map(|(_, q)| q.trim().to_owned())
        .unwrap_or_default();
    let (failing_only, cursor) = (asked.troubled, asked.cursor.clone());
    let page = components::list_cities(routes, &Query { limit: CITIES_PER_PAGE, ..asked })?;
    let failing = Query { troubled: true, limit: 1, ..Query::default() };
    let failing_cities = components::list_cities(routes, &failing)?.total;
    Ok(pages::CitiesList { page, search, failing_only, cursor, failing_cities })
}

fn asset(body: &'static str, content_type: &'static str) -> Answer {
    let mut response = with_type(StatusCode::OK, body, content_type);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn redirect(location: &str) -> Answer {
    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let location = HeaderValue::try_from(location).unwrap_or(HeaderValue::from_static("/"));
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// A live part of a page, which its script asks for again and again.
fn is_live<B>(request: &Request<B>) -> bool {
    request.uri().query().is_some_and(|query| query.split('&').any(|pair| pair == "live"))
}

/// Where to go after signing in: the `next` of `query`, when it is a path of this console.
fn next_page(query: Option<&str>) -> String {
    let next = query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
        .find(|(key, _)| key == "next")
        .map(|(_, value)| value.into_owned());
    local_path(&next.unwrap_or_default())
}

/// `path` when it stays on this console, else `/`: never an open redirect to another site.
fn local_path(path: &str) -> String {
    // Browsers drop tabs and line breaks from a `Location` and read `\\` as `/`: with them a
    // path could still name another host.
    let plain = !path.chars().any(|c| c.is_control() || c == '\\');
    let local = plain && path.starts_with('/') && !path.starts_with("//") && path.parse::<PathAndQuery>().is_ok();
    if local { path.to_owned() } else { "/".to_owned() }
}

fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Whether a POST comes from a page of this console: a browser names the page's origin, which
/// must be the host the request is for (a proxy's forwarded host counts).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let origin = origin.split_once("://").map_or(origin, |(_, authority)| authority);
    let host = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    [host(header::HOST), host(http::HeaderName::from_static("x-forwarded-host"))]
        .into_iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(origin))
}

/// Whether the browser reached the console over TLS: directly, or through a proxy that says so.
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_path_of_this_console_only() {
        for local in ["/", "/cities/bremen", "/components?city=a%20b"] {
            assert_eq!(local_path(local), local);
        }
        for elsewhere in
            ["//evil.example", "/\t/127.0.0.2:5091/phish", "/\\evil", "https://evil.example/", "/a\rb", "/a\u{7f}", ""]
        {
            assert_eq!(local_path(elsewhere), "/", "{elsewhere:?}");
        }
    }

    #[test]
    fn after_sign_in_only_the_consoles_own_pages() {
        assert_eq!(next_page(Some("next=%2Fcatalog")), "/catalog");
        assert_eq!(next_page(Some("next=%2Fcities%2Fbremerhaven")), "/cities/bremerhaven");
        assert_eq!(next_page(Some("next=https%3A%2F%2Fevil.example%2F")), "/");
        assert_eq!(next_page(Some("next=%2F%2Fevil.example")), "/");
        assert_eq!(next_page(Some("next=%2F%5Cevil.example")), "/");
        assert_eq!(next_page(None), "/");
    }

    #[test]
    fn a_post_from_another_origin_is_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        assert!(same_origin(&headers(&[("host", "127.0.0.1:9000"), ("origin", "http://127.0.0.1:9000")])));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:9000"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:9000"), ("origin", "null")])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:9000")])), "no Origin: not a cross-site browser form");
    }
}
