//! Whom a host is to a registry: credentials from the Docker config file, as oras, wkg and Spin
//! read them (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, its `auths`), or from
//! `CIVIC_REGISTRY_USERNAME` and `CIVIC_REGISTRY_PASSWORD` for the registry they belong to
//! (`CIVIC_REGISTRY_HOST`, or the one registry a command such as `civic push` works with);
//! anonymous otherwise. Credentials go only to the registry they are for: the registry's
//! bearer-token challenge is answered with them, by the OCI client.

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// What the host knows of credentials, per registry.
#[derive(Default)]
pub struct Credentials {
    /// From the Docker config file, by `HOST[:PORT]`.
    config: HashMap<String, (String, String)>,
    /// From the environment, for the registry they belong to.
    env: Option<(String, (String, String))>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    /// `base64(user:password)`.
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    /// The Docker config file's, and the environment's for `CIVIC_REGISTRY_HOST`, else for
    /// `command_registry` (the one registry a command works with, when it works with one).
    pub fn load(command_registry: Option<&str>) -> Self {
        let config = docker_config_path()
            .and_then(|path| std::fs::read(&path).ok())
            .and_then(|json| serde_json::from_slice::<DockerConfig>(&json).ok())
            .map(|config| {
                config.auths.into_iter().filter_map(|(host, auth)| Some((registry_name(&host), auth.pair()?))).collect()
            })
            .unwrap_or_default();
        let from_env = std::env::var("CIVIC_REGISTRY_USERNAME").ok().zip(std::env::var("CIVIC_REGISTRY_PASSWORD").ok());
        let env_registry = std::env::var("CIVIC_REGISTRY_HOST").ok().or(command_registry.map(str::to_owned));
        if from_env.is_some() && env_registry.is_none() {
            tracing::warn!(
                "CIVIC_REGISTRY_USERNAME and CIVIC_REGISTRY_PASSWORD are not used: set CIVIC_REGISTRY_HOST to the \
                 registry they belong to"
            );
        }
        let env = env_registry.map(|host| registry_name(&host)).zip(from_env);
        Self { config, env }
    }

    /// How to authenticate to `registry` (`HOST[:PORT]`).
    pub fn for_registry(&self, registry: &str) -> RegistryAuth {
        let from_env = self.env.as_ref().filter(|(host, _)| host == registry).map(|(_, pair)| pair);
        match from_env.or_else(|| self.config.get(registry)) {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

impl DockerAuth {
    fn pair(self) -> Option<(String, String)> {
        if let (Some(user), Some(password)) = (self.username, self.password) {
            return Some((user, password));
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(self.auth?).ok()?;
        let (user, password) =
            String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
        Some((user, password))
    }
}

fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => Some(PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json")),
    }
}

/// `https://registry.example.org/v1/` and `registry.example.org` are one registry.
fn registry_name(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_keys_name_a_registry_and_credentials_go_to_theirs_only() {
        assert_eq!(registry_name("https://Registry.Example.org/v1/"), "registry.example.org");
        assert_eq!(registry_name("127.0.0.1:5000"), "127.0.0.1:5000");
        let auth = DockerAuth { auth: Some("YWxpY2U6czNjcmV0".into()), username: None, password: None };
        assert_eq!(auth.pair(), Some(("alice".into(), "s3cret".into())));
        let credentials = Credentials {
            config: HashMap::from([("a.example".to_owned(), ("alice".to_owned(), "s3cret".to_owned()))]),
            env: Some(("b.example".into(), ("bob".into(), "hunter2".into()))),
        };
        assert!(matches!(credentials.for_registry("a.example"), RegistryAuth::Basic(u, _) if u == "alice"));
        assert!(matches!(credentials.for_registry("b.example"), RegistryAuth::Basic(u, _) if u == "bob"));
        assert!(matches!(credentials.for_registry("c.example"), RegistryAuth::Anonymous));
    }
}
