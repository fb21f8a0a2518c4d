//! Greets citizens with their city's greeting and name, both from the city's config, so the same
//! component answers "Moin from Bremerhaven!" in one city and "¡Hola from Santander!" in another.

use civic_sdk::{Method, Request, Response, config};

civic_sdk::service!(greet);

fn greet(request: Request) -> Response {
    if request.method() != Method::GET {
        return Response::text(405, "only GET is served here\n").header("allow", "GET");
    }
    let city = config::get("city_name").unwrap_or_else(|| "this city".to_owned());
    let greeting = config::get("greeting").unwrap_or_else(|| "Hello".to_owned());
    let text = match request.query_param("name") {
        Some(name) if !name.trim().is_empty() => format!("{greeting} {}, welcome to {city}!\n", name.trim()),
        _ => format!("{greeting} from {city}!\n"),
    };
    Response::text(200, text)
}
