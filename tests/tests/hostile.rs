//! Hostile input through the real binary, row by row of the security review (issue 25): a
//! registry, a manifest, a client or an operator's form that tries to make the host panic, hang,
//! leak or redirect is refused with its reason, and the host serves on.

use civic_tests::rogue::{ESCAPES, Rogue};
use civic_tests::{
    City, Civic, HELLO_CITY, PLAIN_PROXY, Workspace, civic, client, client_not_following, get, raw_http,
};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

const TOKEN: &str = "hostile-admin-token-of-32-chars!";
const LOG_WAIT: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `civic ARGS…` in `dir`: its exit code, stdout and stderr.
fn run(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let output = civic(args, dir);
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// Lecce served with the admin API, started with `extra` options, once it serves.
struct Host {
    civic: Civic,
    /// Where the admin API listens.
    admin: SocketAddr,
    /// Where `lecce.toml` is.
    ws: Workspace,
    _data: tempfile::TempDir,
}

impl Host {
    async fn start(extra: &[&str]) -> Self {
        let (ws, data) = (Workspace::new(), tempfile::tempdir().unwrap());
        let manifest = lecce(HELLO_CITY).write(&ws);
        let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data.path().as_os_str()];
        args.extend(["--admin", "127.0.0.1:0"].map(std::ffi::OsStr::new));
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.push(manifest.as_os_str());
        let civic = Civic::start("run", &args, &[("CIVIC_ADMIN_TOKEN", TOKEN.as_ref())]);
        let admin = civic.admin_addr().await;
        civic.wait_for_log(&["serving"], LOG_WAIT).await;
        Self { civic, admin, ws, _data: data }
    }

    /// `http://ADMIN`.
    fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }
}

fn lecce(source: &str) -> City {
    City::new("lecce").component("hello", source, "").route("/hello", "hello")
}

#[test]
fn references_the_oci_client_cannot_read_are_located_manifest_errors() {
    let ws = Workspace::new();
    let long = format!("oci://r.example/{}:1", "a".repeat(256));
    // The review's, beside those of the reference's unit test.
    let references = [
        "oci://[::1]:5000/x:1",
        "oci://-bad-:5000/x:1",
        "oci://r.example/a.-b:1",
        &long,
        "oci://myregistry/civic/kita:1",
    ];
    for reference in references {
        // Written by hand: `City::component` takes a file path.
        let manifest = lecce(HELLO_CITY).toml().replace(&civic_tests::toml_path(HELLO_CITY), &format!("{reference:?}"));
        let path = ws.write("lecce.toml", manifest);
        let (code, _, stderr) = run(&["check", path.to_str().unwrap()], ws.path());
        assert_eq!(code, Some(1), "{reference}: {stderr}");
        assert!(stderr.contains("lecce.toml:9:10"), "{reference}: located: {stderr}");
        assert!(stderr.contains("invalid registry reference"), "{reference}: {stderr}");
        let (code, _, stderr) = run(&["pull", reference], ws.path());
        assert_eq!(code, Some(1), "{reference}: {stderr}");
    }
    let (_, _, hub) = run(&["pull", "oci://myregistry/civic/kita:1"], ws.path());
    assert!(hub.contains("neither a dot nor a port"), "never Docker Hub by default: {hub}");
    let (_, _, ipv6) = run(&["pull", "oci://[::1]:5000/x:1"], ws.path());
    assert!(ipv6.contains("IPv6"), "{ipv6}");
}

#[test]
fn a_route_or_health_path_a_request_cannot_carry_is_a_manifest_error() {
    let ws = Workspace::new();
    for (component, route) in [("", "/kita<script>"), ("", "/kita`x`"), ("health = \"/health>\"", "/kita")] {
        let manifest = City::new("lecce").component("kita", PLAIN_PROXY, component).route(route, "kita").write(&ws);
        let (code, _, stderr) = run(&["check", manifest.to_str().unwrap()], ws.path());
        assert_eq!(code, Some(1), "{route} {component}: {stderr}");
        assert!(stderr.contains("lecce.toml:"), "{stderr}");
        assert!(stderr.contains("path"), "{stderr}");
    }
}

#[tokio::test]
async fn reload_and_watch_survive_a_reference_the_client_cannot_read() {
    let host = Host::start(&["--watch"]).await;
    let (civic, ws, admin) = (&host.civic, &host.ws, host.admin_url());
    assert_eq!(get(&civic.url("/hello"), None).await.0, 200);
    let bad = lecce(HELLO_CITY).toml().replace(&civic_tests::toml_path(HELLO_CITY), "\"oci://a..b:5000/x:1\"");
    ws.write("lecce.toml", &bad);
    civic.wait_for_log(&["reload rejected"], LOG_WAIT).await;
    civic.wait_for_log(&["invalid registry reference `oci://a..b:5000/x:1`"], LOG_WAIT).await;
    let reload = client().post(format!("{admin}/v1/reload")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(reload.status().as_u16(), 422);
    assert_eq!(get(&civic.url("/hello"), None).await.0, 200, "the old configuration serves on");

    // The watch is still there: a valid edit is applied.
    let before = civic.log_lines();
    lecce(HELLO_CITY).route("/hello-again", "hello").write(ws);
    civic.wait_for_log_after(before, &["reloaded the manifests"], LOG_WAIT).await;
    assert_eq!(get(&civic.url("/hello-again"), None).await.0, 200);
}

#[tokio::test]
async fn a_hostile_catalogue_ends_skips_what_is_not_a_reference_and_escapes_its_text() {
    let rogue = Rogue::start();
    let ws = Workspace::new();
    let (code, stdout, stderr) = run(&["catalog", &rogue.host()], ws.path());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&format!("{}:1.0@sha256:", rogue.reference("civic/kita"))), "{stdout}");
    for output in [&stdout, &stderr] {
        assert!(!output.contains(['\u{1b}', '\r', '\u{7}']), "control characters reach the terminal: {output:?}");
    }
    assert!(stdout.contains("Kita\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\rforged"), "escaped, still readable: {stdout}");
    assert!(stderr.contains("\"a!b\", which is not a repository name"), "{stderr}");
    assert!(stderr.contains("\"bad tag\", which is not a tag"), "{stderr}");
    // The same full page again ends the paging.
    assert!(rogue.counts.catalogue_pages.load(Ordering::Relaxed) <= 2);
    let (code, json, _) = run(&["catalog", "--json", &rogue.host()], ws.path());
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["services"][0]["title"], format!("Kita{ESCAPES}"), "JSON keeps the text as it is");

    let (code, _, stderr) = run(&["catalog", "a!b"], ws.path());
    assert_eq!(code, Some(2), "a usage error, not a panic: {stderr}");
    let (code, _, stderr) = run(&["run", "--catalog", "a!b", "x.toml"], ws.path());
    assert_eq!(code, Some(2), "{stderr}");

    // The console lists what it can and says what it left out; its component pages still work.
    let host = Host::start(&["--catalog", &rogue.host()]).await;
    let admin = host.admin_url();
    let session = civic_tests::console_session(&admin, TOKEN).await;
    for page in ["/catalog", "/cities/lecce/components/hello"] {
        let answer = client().get(format!("{admin}{page}")).header("cookie", &session).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{page}");
        let html = answer.text().await.unwrap();
        assert!(html.contains("which is not a repository name"), "{page}: {html}");
    }
}

#[test]
fn a_registry_cannot_make_a_pull_hold_more_than_its_bounds_or_last_past_its_deadline() {
    let rogue = Rogue::start();
    let ws = Workspace::new();
    let pull = |path: &str, extra: &[&str]| {
        let reference = rogue.reference(path);
        let mut args = vec!["pull", reference.as_str()];
        args.extend(extra);
        run(&args, ws.path())
    };
    let endless = || rogue.counts.endless_bytes.load(Ordering::Relaxed);

    let (code, _, stderr) = pull("huge/layer:1", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("its component is larger than 256.0 MiB, the limit of --max-component-size"), "{stderr}");
    assert_eq!(endless(), 0, "a layer declared too large is never asked for");

    let (code, _, stderr) = pull("lying/layer:1", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("its component is larger than 1.0 KiB"), "{stderr}");
    assert!(endless() < 16 << 20, "read on past what the layer declared: {} bytes", endless());

    let sent = endless();
    let (code, _, stderr) = pull("huge/manifest:1", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("its manifest is larger than 4.0 MiB"), "{stderr}");
    assert!(endless() - sent < 32 << 20, "read on past 4 MiB: {} bytes", endless() - sent);

    // A byte every 10 s never trips a read timeout; the pull's deadline ends it.
    let (code, _, stderr) = pull("slow/manifest:1", &["--registry-timeout", "2s"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the registry did not finish within 2 s (--registry-timeout)"), "{stderr}");
}

#[tokio::test]
async fn sign_in_redirects_only_within_the_console_and_the_right_token_is_never_locked_out() {
    let host = Host::start(&[]).await;
    let admin = host.admin_url();
    let http = client_not_following();
    let sign_in = |token: &'static str, next: &'static str| {
        http.post(format!("{admin}/sign-in")).form(&[("token", token), ("next", next)]).send()
    };

    let phish = sign_in(TOKEN, "/\t/127.0.0.2:5091/phish").await.unwrap();
    assert_eq!((phish.status().as_u16(), phish.headers()["location"].to_str().unwrap()), (303, "/"));
    assert_eq!(sign_in(TOKEN, "/catalog").await.unwrap().headers()["location"], "/catalog");

    // Forty wrong tokens at once: counted before they are judged, so exactly five are told so.
    let tries: Vec<_> = (0..40).map(|_| sign_in("guess", "/")).collect();
    let mut statuses: Vec<u16> = Vec::new();
    for answer in futures_util::future::join_all(tries).await {
        statuses.push(answer.unwrap().status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 35, "{statuses:?}");
    assert_eq!(sign_in(TOKEN, "/").await.unwrap().status().as_u16(), 303, "the right token still signs in");
}

#[tokio::test]
async fn the_admin_listener_closes_slow_and_idle_connections() {
    let host = Host::start(&["--header-timeout", "1s"]).await;
    let admin = host.admin;
    let connections: Vec<TcpStream> = (0..40)
        .map(|n| {
            let mut stream = TcpStream::connect(admin).unwrap();
            if n % 2 == 0 {
                stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").unwrap();
            }
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            stream
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        for mut stream in connections {
            let mut rest = Vec::new();
            // The host closes it: the read ends (0 bytes, or a reset) well before the 20 s bound.
            let ended = stream.read_to_end(&mut rest);
            assert!(!matches!(&ended, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "still open");
            assert!(!matches!(&ended, Err(e) if e.kind() == std::io::ErrorKind::TimedOut), "still open");
        }
    })
    .await
    .unwrap();
    let healthy = client().get(format!("http://{admin}/healthz")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(healthy.status().as_u16(), 200);
}

/// The file descriptors `pid` holds.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[tokio::test]
async fn a_public_connection_holds_one_descriptor() {
    let host = Host::start(&[]).await;
    let civic = &host.civic;
    let before = descriptors(civic.pid());
    let mut open = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(civic.addr()).unwrap();
        stream.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut answer = [0; 12];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        open.push(stream);
    }
    let held = descriptors(civic.pid()) - before;
    assert!((50..60).contains(&held), "50 connections hold {held} descriptors");
}

#[tokio::test]
async fn running_out_of_descriptors_is_waited_out_with_a_growing_pause() {
    let host = Host::start(&[]).await;
    let pid = host.civic.pid().to_string();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let [soft, hard] = [3, 4].map(|n| open_files.split_whitespace().nth(n).unwrap().to_owned());
    // Only the soft limit: a process may not raise its hard limit again.
    let limit = |soft: &str| {
        let set =
            std::process::Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={soft}:{hard}")]).status();
        assert!(set.unwrap().success(), "prlimit");
    };
    // As many as it holds now: the next accept finds none left.
    limit(&descriptors(host.civic.pid()).to_string());
    let waiting: Vec<_> = (0..5).map(|_| TcpStream::connect(host.admin).unwrap()).collect();
    host.civic.wait_for_log(&["cannot accept a connection", "trying again in 1s"], LOG_WAIT).await;
    limit(&soft);
    drop(waiting);
    let healthy = client().get(format!("{}/healthz", host.admin_url())).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(healthy.status().as_u16(), 200, "accepting again");
}

#[tokio::test]
async fn a_request_head_is_bounded_as_documented_and_names_exactly_one_host() {
    let ws = Workspace::new();
    let city = |id: &str, greeting: &str| {
        let config = format!(r#"config = {{ city_name = "{id}", greeting = "{greeting}" }}"#);
        City::new(id)
            .hosts(&[&format!("{id}.localhost")])
            .component("hello", HELLO_CITY, &config)
            .route("/hello", "hello")
    };
    let (a, b) = (city("aachen", "Hallo").write(&ws), city("bari", "Ciao").write(&ws));
    let civic = Civic::run(&[&a, &b]);
    let status = |request: &[u8]| raw_http(civic.addr(), request).split(' ').nth(1).unwrap_or_default().to_owned();

    let big = format!(
        "GET /hello HTTP/1.1\r\nhost: aachen.localhost\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        "x".repeat(100 << 10)
    );
    assert_eq!(status(big.as_bytes()), "431");
    let fits = format!(
        "GET /hello HTTP/1.1\r\nhost: aachen.localhost\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        "x".repeat(60 << 10)
    );
    assert_eq!(status(fits.as_bytes()), "200");
    let two = b"GET /hello HTTP/1.1\r\nhost: aachen.localhost\r\nhost: bari.localhost\r\nconnection: close\r\n\r\n";
    assert_eq!(status(two), "400");
    assert_eq!(status(b"GET /hello HTTP/1.1\r\nconnection: close\r\n\r\n"), "400");
    assert_eq!(status(b"GET /hello HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n"), "400");
    // The absolute form routes by its own authority; the Host header is ignored.
    let absolute = raw_http(
        civic.addr(),
        b"GET http://bari.localhost/hello HTTP/1.1\r\nhost: aachen.localhost\r\nconnection: close\r\n\r\n",
    );
    assert!(absolute.contains("Ciao from bari!"), "{absolute}");
}

/// The status a server at `addr` answers to `head` followed by `body`, which is written on
/// another thread for as long as the server reads it: a server that refuses early may close
/// before the body is sent.
fn status_of_upload(addr: SocketAddr, head: String, body: Vec<u8>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body));
    });
    let mut answer = [0; 12];
    stream.read_exact(&mut answer).unwrap();
    text(&answer[9..])
}

/// `bytes` in the chunked transfer coding, 64 KiB a chunk.
fn chunked(bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in bytes.chunks(64 << 10) {
        body.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend(chunk);
        body.extend(b"\r\n");
    }
    body.extend(b"0\r\n\r\n");
    body
}

#[tokio::test]
async fn uploads_are_capped_by_max_upload_and_answered_413() {
    let host = Host::start(&["--max-upload", "1MiB"]).await;
    let (addr, admin) = (host.admin, host.admin_url());
    let large = vec![0u8; 2 << 20];
    let put = |framing: &str| {
        format!(
            "PUT /v1/cities/lecce/components/hello HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n{framing}\r\n\r\n"
        )
    };
    let declared = put(&format!("content-length: {}", large.len()));
    assert_eq!(status_of_upload(addr, declared, large.clone()), "413");
    // Without a length, the bytes themselves say so.
    assert_eq!(status_of_upload(addr, put("transfer-encoding: chunked"), chunked(&large)), "413");
    // A component within the limit still swaps.
    let url = format!("{admin}/v1/cities/lecce/components/hello");
    let small = client().put(&url).bearer_auth(TOKEN).body(std::fs::read(PLAIN_PROXY).unwrap()).send().await.unwrap();
    assert_eq!(small.status().as_u16(), 200, "{}", small.text().await.unwrap());

    // The console's upload form too.
    let session = civic_tests::console_session(&admin, TOKEN).await;
    let page = client().get(format!("{admin}/cities/lecce/components/hello")).header("cookie", &session).send();
    let page = page.await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let boundary = "civic-test-boundary";
    let mut form = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\n\
         content-disposition: form-data; name=\"file\"; filename=\"big.wasm\"\r\n\r\n"
    )
    .into_bytes();
    form.extend(&large);
    form.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    for framing in [format!("content-length: {}", form.len()), "transfer-encoding: chunked".to_owned()] {
        let head = format!(
            "POST /cities/lecce/components/hello/swap HTTP/1.1\r\nhost: {addr}\r\norigin: {admin}\r\ncookie: {session}\r\n\
             content-type: multipart/form-data; boundary={boundary}\r\n{framing}\r\n\r\n"
        );
        let body = if framing.starts_with("transfer") { chunked(&form) } else { form.clone() };
        assert_eq!(status_of_upload(addr, head, body), "413", "{framing}");
    }
}

#[test]
fn a_short_admin_token_stops_the_start() {
    let ws = Workspace::new();
    let manifest = lecce(HELLO_CITY).write(&ws);
    let output = std::process::Command::new(civic_tests::civic_bin())
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir", "data", "--admin", "127.0.0.1:0"])
        .arg(&manifest)
        .env("CIVIC_ADMIN_TOKEN", "t0ken")
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the admin token has 5 characters; it needs at least 32"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}
