//! TLS modes as libpq names them, mapped onto native-tls.

use native_tls::{Certificate, TlsConnector};
use postgres::config::SslMode;
use postgres_native_tls::MakeTlsConnector;
use std::path::PathBuf;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    pub fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(format!(
                    "unknown sslmode `{other}`; use disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }

    pub fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        }
    }
}

/// TLS settings: the mode and the root certificate (`sslrootcert`) used by the verify modes.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub mode: TlsMode,
    /// A PEM file, or `None` for `~/.postgresql/root.crt` when it exists, else the system roots.
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// Builds the connector. `prefer` and `require` encrypt without verifying, as libpq does
    /// without a root certificate; `verify-ca` checks the chain; `verify-full` also the host name.
    pub fn connector(&self) -> Result<MakeTlsConnector, String> {
        let mut builder = TlsConnector::builder();
        match self.mode {
            TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => {
                // Nothing is verified, so skip loading the system roots (tens of ms).
                builder
                    .danger_accept_invalid_certs(true)
                    .danger_accept_invalid_hostnames(true)
                    .disable_built_in_roots(true);
            }
            TlsMode::VerifyCa => {
                builder.danger_accept_invalid_hostnames(true);
            }
            TlsMode::VerifyFull => {}
        }
        if matches!(self.mode, TlsMode::VerifyCa | TlsMode::VerifyFull)
            && let Some(path) = self.root_cert_path()
        {
            let pem = std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot read sslrootcert {}: {e}; point sslrootcert at the server's CA certificate (PEM)",
                    path.display()
                )
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                format!(
                    "sslrootcert {} is not a PEM certificate: {e}",
                    path.display()
                )
            })?;
            builder
                .add_root_certificate(cert)
                .disable_built_in_roots(true);
        }
        let connector = builder
            .build()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        Ok(MakeTlsConnector::new(connector))
    }

    fn root_cert_path(&self) -> Option<PathBuf> {
        match &self.root_cert {
            Some(p) if p.as_os_str() == "system" => None,
            Some(p) => Some(p.clone()),
            None => {
                let home = std::env::var_os("HOME")?;
                let p = PathBuf::from(home).join(".postgresql/root.crt");
                p.exists().then_some(p)
            }
        }
    }
}

/// Removes `sslmode` and `sslrootcert` from a URL query or key/value string, returning them.
pub(super) fn take_tls_params(conn: &str) -> (String, Option<String>, Option<String>) {
    let mut sslmode = None;
    let mut rootcert = None;
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            sslmode = Some(value);
            true
        }
        "sslrootcert" => {
            rootcert = Some(value);
            true
        }
        _ => false,
    };
    let rest = if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        match conn.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        !take(k, percent_decode(v))
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => conn.to_string(),
        }
    } else {
        conn.split_whitespace()
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !take(k.trim(), v.trim_matches('\'').to_string())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, sslmode, rootcert)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
