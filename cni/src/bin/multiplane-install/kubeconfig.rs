//! The kubeconfig multus uses on the host, made from the installer pod's service account: the
//! API server from `KUBERNETES_SERVICE_HOST`/`_PORT`, the mounted CA and token. Written as JSON,
//! which every kubeconfig reader accepts as YAML.

use std::path::Path;

use base64::Engine;
use serde_json::json;

/// The service account's token file in its directory.
const TOKEN_FILE: &str = "token";
/// The cluster CA file in the service account directory.
const CA_FILE: &str = "ca.crt";

/// Whether `dir` holds a service account token (the installer runs in a pod).
pub fn has_service_account(dir: &Path) -> bool {
    dir.join(TOKEN_FILE).is_file()
}

/// The kubeconfig for the service account in `dir`; `env` looks up the process environment.
pub fn from_service_account(
    dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let var = |name: &str| {
        env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            format!(
                "{name} is not set (the service account token is in {})",
                dir.display()
            )
        })
    };
    let host = var("KUBERNETES_SERVICE_HOST")?;
    let port = var("KUBERNETES_SERVICE_PORT")?;
    let scheme = env("KUBERNETES_SERVICE_PROTOCOL").unwrap_or_else(|| "https".into());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let token = String::from_utf8(read(TOKEN_FILE)?)
        .map_err(|_| format!("{}: the token is not UTF-8", dir.join(TOKEN_FILE).display()))?;
    let ca = base64::engine::general_purpose::STANDARD.encode(read(CA_FILE)?);
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {
            "server": format!("{scheme}://{host}:{port}"),
            "certificate-authority-data": ca}}],
        "users": [{"name": "multus", "user": {"token": token.trim()}}],
        "contexts": [{"name": "multus-context", "context": {"cluster": "local", "user": "multus"}}],
        "current-context": "multus-context",
    });
    Ok(format!("{kubeconfig:#}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_environment_is_named() {
        let dir = std::env::temp_dir();
        let e = from_service_account(&dir, |_| None).unwrap_err();
        assert!(e.starts_with("KUBERNETES_SERVICE_HOST is not set"), "{e}");
        let e = from_service_account(&dir, |n| {
            (n == "KUBERNETES_SERVICE_HOST").then(|| "10.96.0.1".into())
        })
        .unwrap_err();
        assert!(e.starts_with("KUBERNETES_SERVICE_PORT is not set"), "{e}");
    }

    #[test]
    fn ipv6_servers_are_bracketed_and_the_token_trimmed() {
        let dir = std::env::temp_dir().join(format!("mpi-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "abc.def\n").unwrap();
        std::fs::write(dir.join("ca.crt"), "CA").unwrap();
        let env = |n: &str| match n {
            "KUBERNETES_SERVICE_HOST" => Some("fd00::1".to_string()),
            "KUBERNETES_SERVICE_PORT" => Some("443".to_string()),
            _ => None,
        };
        let config: serde_json::Value =
            serde_json::from_str(&from_service_account(&dir, env).unwrap()).unwrap();
        assert_eq!(
            config["clusters"][0]["cluster"]["server"],
            "https://[fd00::1]:443"
        );
        assert_eq!(
            config["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(config["users"][0]["user"]["token"], "abc.def");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
