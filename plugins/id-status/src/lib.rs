//! ID-document status, as a micro-proxy: a citizen asks whether their ID card or passport is
//! ready; the component asks the city's legacy registry over HTTP in the registry's own XML and
//! answers clean JSON. A registry that is slow answers 504, one that fails or talks nonsense
//! 502 — never a hang. The HTTP API is in README.md.

use civic_sdk::outbound::{Call, Error};
use civic_sdk::{Params, Problem, Request, Response, Router, config, log};
use serde::Serialize;
use std::time::Duration;

civic_sdk::service!(serve);

fn serve(request: Request) -> Response {
    Router::new().get("/documents/:number", status).handle(&request)
}

/// The answer: the registry's record in plain words.
#[derive(Serialize)]
struct DocumentStatus {
    number: String,
    kind: &'static str,
    status: &'static str,
    office: String,
    updated: String,
}

/// `GET /documents/:number`.
fn status(_: &Request, params: &Params) -> Result<Response, Problem> {
    let number = params.get("number").unwrap_or_default().to_ascii_uppercase();
    if number.len() != 9 || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Problem::invalid("number", "must be the 9 letters and digits printed on the document"));
    }
    let registry: String =
        config::get("registry_url").ok_or_else(|| Problem::internal("config `registry_url` is not set"))?;
    let timeout = Duration::from_millis(config::parse("timeout_ms")?.unwrap_or(2000));
    let url = format!("{}/documents/{number}", registry.trim_end_matches('/'));
    let reply = Call::get(&url).header("accept", "application/xml").timeout(timeout).send().map_err(|e| match e {
        Error::Timeout => Problem::new(504, format!("the document registry did not answer within {timeout:?}")),
        other => {
            log::warn(&format!("the document registry at {url} cannot be reached: {other}"));
            Problem::new(502, "the document registry cannot be reached")
        }
    })?;
    match reply.status {
        200 => {}
        404 => return Err(Problem::not_found(format!("the registry knows no document `{number}`"))),
        other => {
            log::warn(&format!("the document registry answered {other} for {url}"));
            return Err(Problem::new(502, format!("the document registry failed (status {other})")));
        }
    }
    let text = String::from_utf8_lossy(&reply.body);
    let answer = translate(&text).map_err(|why| {
        log::warn(&format!("the document registry's answer for {number} is unusable: {why}"));
        Problem::new(502, "the document registry answered something this service does not understand")
    })?;
    Ok(Response::json(200, &answer))
}

/// Reads the registry's record:
/// `<dokument><nummer>…</nummer><art>PERSONALAUSWEIS</art><status>ABHOLBEREIT</status>
/// <behoerde>…</behoerde><stand>2026-11-20</stand></dokument>`.
fn translate(xml: &str) -> Result<DocumentStatus, String> {
    let document = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = document.root_element();
    if root.tag_name().name() != "dokument" {
        return Err(format!("the root element is `{}`, not `dokument`", root.tag_name().name()));
    }
    let field = |name: &str| {
        root.children()
            .find(|node| node.has_tag_name(name))
            .and_then(|node| node.text())
            .map(|text| text.trim().to_owned())
            .ok_or_else(|| format!("no `{name}`"))
    };
    let kind = match field("art")?.as_str() {
        "PERSONALAUSWEIS" => "id-card",
        "REISEPASS" => "passport",
        "KINDERREISEPASS" => "child-passport",
        other => return Err(format!("unknown document kind `{other}`")),
    };
    let status = match field("status")?.as_str() {
        "BEANTRAGT" => "applied",
        "IN_PRODUKTION" => "in-production",
        "ABHOLBEREIT" => "ready-for-pickup",
        "AUSGEHAENDIGT" => "handed-out",
        "GESPERRT" => "blocked",
        other => return Err(format!("unknown status `{other}`")),
    };
    Ok(DocumentStatus { number: field("nummer")?, kind, status, office: field("behoerde")?, updated: field("stand")? })
}
