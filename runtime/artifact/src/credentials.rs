//! Registry credentials from a Docker config file: the format of
//! `~/.docker/config.json` and of a Kubernetes `kubernetes.io/dockerconfigjson`
//! Secret's `.dockerconfigjson` key, so one Secret serves the TaskManagers
//! and the kubelet alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::ArtifactError;

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
    #[serde(default, rename = "registrytoken")]
    registry_token: Option<String>,
}

/// Why a Docker config file's credentials cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{0}")]
    NotJson(#[from] serde_json::Error),
    /// One registry's entry; `registry` is its key as the file spells it.
    #[error("auths.\"{registry}\": {why}")]
    Entry {
        registry: String,
        #[source]
        why: AuthEntryError,
    },
}

/// Why one registry's entry of a Docker config gives no credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthEntryError {
    #[error("'auth' is not base64: {0}")]
    NotBase64(#[source] base64::DecodeError),
    #[error("'auth' is not UTF-8")]
    NotUtf8,
    #[error("'auth' does not decode to USER:PASSWORD")]
    NoUserPassword,
    #[error(
        "identity tokens need a credential helper, which Weir does not run; \
         give a username and password or an 'auth'"
    )]
    IdentityToken,
}

/// Credentials by registry host (`host[:port]`).
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    by_registry: BTreeMap<String, RegistryAuth>,
}

/// The Docker config file to read when none is named: `$DOCKER_CONFIG/config.json`
/// or `~/.docker/config.json`, if it exists.
pub fn default_docker_config() -> Option<PathBuf> {
    let path = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json"),
    };
    path.is_file().then_some(path)
}

impl Credentials {
    pub fn read(path: &Path) -> Result<Self, ArtifactError> {
        let error = |message: String| ArtifactError::Credentials {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        Self::parse(&text).map_err(|e| error(e.to_string()))
    }

    pub fn parse(text: &str) -> Result<Self, CredentialsError> {
        let config: DockerConfig = serde_json::from_str(text)?;
        let mut by_registry = BTreeMap::new();
        for (key, entry) in config.auths {
            let auth = entry.to_auth().map_err(|why| CredentialsError::Entry {
                registry: key.clone(),
                why,
            })?;
            by_registry.insert(registry_of(&key), auth);
        }
        Ok(Credentials { by_registry })
    }

    /// What to present to `registry` (`host[:port]`): anonymous when the
    /// file has nothing for it.
    pub fn for_registry(&self, registry: &str) -> RegistryAuth {
        let key = registry_of(registry);
        self.by_registry
            .get(&key)
            .cloned()
            .unwrap_or(RegistryAuth::Anonymous)
    }
}

impl AuthEntry {
    fn to_auth(&self) -> Result<RegistryAuth, AuthEntryError> {
        if let Some(token) = self.registry_token.as_ref().filter(|t| !t.is_empty()) {
            return Ok(RegistryAuth::Bearer(token.clone()));
        }
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
        }
        if let Some(encoded) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(AuthEntryError::NotBase64)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AuthEntryError::NotUtf8)?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or(AuthEntryError::NoUserPassword)?;
            return Ok(RegistryAuth::Basic(user.to_string(), password.to_string()));
        }
        if self.identity_token.is_some() {
            return Err(AuthEntryError::IdentityToken);
        }
        Ok(RegistryAuth::Anonymous)
    }
}

/// Docker config keys come as `host`, `https://host/`, or Docker Hub's
/// `https://index.docker.io/v1/`; references name `host[:port]`.
fn registry_of(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_form_of_docker_config() {
        let text = r#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "registry.example.com:5000": {"username": "u", "password": "p"},
            "https://ghcr.io": {"registrytoken": "tok"}
        }}"#;
        let credentials = Credentials::parse(text).unwrap();
        assert_eq!(
            credentials.for_registry("docker.io"),
            RegistryAuth::Basic("hub".into(), "secret".into())
        );
        assert_eq!(
            credentials.for_registry("registry.example.com:5000"),
            RegistryAuth::Basic("u".into(), "p".into())
        );
        assert_eq!(
            credentials.for_registry("ghcr.io"),
            RegistryAuth::Bearer("tok".into())
        );
        assert_eq!(
            credentials.for_registry("other.example"),
            RegistryAuth::Anonymous
        );
    }

    #[test]
    fn a_bad_entry_is_named() {
        let error = Credentials::parse(r#"{"auths": {"r.example": {"auth": "bm9jb2xvbg=="}}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("auths.\"r.example\""), "{error}");
        assert!(error.contains("USER:PASSWORD"), "{error}");
    }
}
