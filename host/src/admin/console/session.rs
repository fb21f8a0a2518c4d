//! Who is signed in to the console. A session lives in this host's memory under a random id that
//! only the browser's cookie carries (HttpOnly, SameSite=Strict), with a CSRF token of its own
//! for every form, and ends after a working day, at sign-out or when the host restarts. Failed
//! sign-ins are counted per address: after a few, that address waits.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq as _;

/// The session cookie's name.
pub const COOKIE: &str = "civic_session";
/// How long a sign-in lasts.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most; beyond, the oldest ends.
const MAX_SESSIONS: usize = 1024;
/// Failed sign-ins one address may make in a [`WINDOW`] before it has to wait for its end.
pub const ATTEMPTS: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);

/// A signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// What every form of this session carries back.
    pub csrf: String,
    started: Instant,
    /// What the last action did, shown once on the next page.
    pub notice: Option<Notice>,
}

impl Session {
    /// Whether `given` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// The outcome of an action, for the page after it.
#[derive(Clone)]
pub struct Notice {
    pub ok: bool,
    pub text: String,
}

#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

struct Failures {
    count: u32,
    since: Instant,
}

impl Sessions {
    /// A new session; its id, for the cookie.
    pub fn open(&self) -> String {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, session| session.started.elapsed() < LIFETIME);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.started).map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        let id = random_token();
        sessions.insert(id.clone(), Session { csrf: random_token(), started: Instant::now(), notice: None });
        id
    }

    /// The live session `id` names.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = lock(&self.sessions);
        match sessions.get(id) {
            Some(session) if session.started.elapsed() < LIFETIME => Some(session.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Keeps `notice` for the session's next page.
    pub fn tell(&self, id: &str, notice: Notice) {
        if let Some(session) = lock(&self.sessions).get_mut(id) {
            session.notice = Some(notice);
        }
    }

    /// The notice waiting for the session's next page, once.
    pub fn take_notice(&self, id: &str) -> Option<Notice> {
        lock(&self.sessions).get_mut(id).and_then(|session| session.notice.take())
    }

    pub fn close(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// Counts a wrong token from `address`: how many it has sent in this window, or, past
    /// the limit, how long until it may be told again that a token is wrong.
    pub fn failed(&self, address: IpAddr) -> Result<u32, Duration> {
        let mut failures = lock(&self.failures);
        failures.retain(|_, f| f.since.elapsed() < WINDOW);
        let entry = failures.entry(address).or_insert(Failures { count: 0, since: Instant::now() });
        entry.count = entry.count.saturating_add(1);
        if entry.count > ATTEMPTS { Err(WINDOW.saturating_sub(entry.since.elapsed())) } else { Ok(entry.count) }
    }

    pub fn succeeded(&self, address: IpAddr) {
        lock(&self.failures).remove(&address);
    }
}

/// 256 random bits from the operating system, URL-safe.
fn random_token() -> String {
    let mut bytes = [0; 32];
    getrandom::fill(&mut bytes)
        .expect("the operating system gives random bytes (getrandom fails only without a kernel source)");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_has_its_own_random_csrf_token() {
        let sessions = Sessions::default();
        let (a, b) = (sessions.open(), sessions.open());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let (a, b) = (sessions.get(&a).unwrap(), sessions.get(&b).unwrap());
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf_matches(&a.csrf.clone()) && !a.csrf_matches(&b.csrf) && !a.csrf_matches(""));
        assert!(sessions.get("forged").is_none());
    }

    #[test]
    fn an_address_that_keeps_failing_waits() {
        let sessions = Sessions::default();
        let (one, other): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        for n in 1..=ATTEMPTS {
            assert_eq!(sessions.failed(one), Ok(n));
        }
        assert!(sessions.failed(one).unwrap_err() <= WINDOW);
        assert_eq!(sessions.failed(other), Ok(1));
        sessions.succeeded(one);
        assert_eq!(sessions.failed(one), Ok(1));
    }
}
