//! TLS modes as libpq names them, mapped onto native-tls.

use native_tls::{Certificate, TlsConnector};
use postgres::Socket;
use postgres::config::SslMode;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;

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
    /// What [`ConnectionTarget::connect`](super::target::ConnectionTarget::connect) hands to
    /// the driver. `prefer` and `require` encrypt without verifying, as libpq does without a
    /// root certificate, and build their connector only once the server has agreed to TLS;
    /// `verify-ca` checks the chain and `verify-full` also the host name, their connector built
    /// up front so that a bad `sslrootcert` is reported before any connection.
    pub fn maker(&self) -> Result<LazyTls, String> {
        if matches!(self.mode, TlsMode::VerifyCa | TlsMode::VerifyFull) {
            self.native()?;
        }
        Ok(LazyTls(self.clone()))
    }

    /// The native-tls connector for these settings, built once per process: building one
    /// parses the system's certificate bundle (about 150 ms here) even when nothing is verified,
    /// and a fleet run connects to many targets.
    fn native(&self) -> Result<TlsConnector, String> {
        static BUILT: Mutex<Vec<(TlsMode, Option<PathBuf>, TlsConnector)>> = Mutex::new(Vec::new());
        let mut built = BUILT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, _, c)) = built
            .iter()
            .find(|(mode, root, _)| *mode == self.mode && *root == self.root_cert)
        {
            return Ok(c.clone());
        }
        let connector = self.build()?;
        built.push((self.mode, self.root_cert.clone(), connector.clone()));
        Ok(connector)
    }

    fn build(&self) -> Result<TlsConnector, String> {
        let mut builder = TlsConnector::builder();
        match self.mode {
            TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => {
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
        builder
            .build()
            .map_err(|e| format!("cannot set up TLS: {e}"))
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

/// TLS for one connection: the connector is made (or taken from the process's) only when the
/// server answers the TLS request with yes, so a server without TLS under `prefer` costs nothing.
#[derive(Clone)]
pub struct LazyTls(TlsSettings);

/// [`LazyTls`] for one host.
pub struct LazyConnect {
    settings: TlsSettings,
    domain: String,
}

type Connecting = Pin<
    Box<
        dyn Future<
                Output = Result<
                    postgres_native_tls::TlsStream<Socket>,
                    Box<dyn std::error::Error + Send + Sync>,
                >,
            > + Send,
    >,
>;

impl MakeTlsConnect<Socket> for LazyTls {
    type Stream = postgres_native_tls::TlsStream<Socket>;
    type TlsConnect = LazyConnect;
    type Error = std::convert::Infallible;

    fn make_tls_connect(&mut self, domain: &str) -> Result<LazyConnect, Self::Error> {
        Ok(LazyConnect {
            settings: self.0.clone(),
            domain: domain.to_string(),
        })
    }
}

impl TlsConnect<Socket> for LazyConnect {
    type Stream = postgres_native_tls::TlsStream<Socket>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Connecting;

    fn connect(self, stream: Socket) -> Connecting {
        let native = self.settings.native();
        Box::pin(async move {
            let connector = postgres_native_tls::TlsConnector::new(native?, &self.domain);
            Ok(connector.connect(stream).await?)
        })
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
