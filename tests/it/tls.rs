//! TLS as managed PostgreSQL services require, against a throwaway server with a certificate
//! for `localhost` signed by a test CA.

use crate::common::*;
use pgwarden::db::ConnectionTarget;
use pgwarden::ephemeral::{EphemeralOptions, EphemeralServer, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

struct Pki {
    ca_pem: String,
    server: TlsFiles,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "pgwarden test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: TlsFiles {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
    }
}

fn ssl_in_use(url: &str) -> Result<bool, String> {
    let target = ConnectionTarget::from_url(url).map_err(|e| e.to_string())?;
    let mut client = target.connect().map_err(|e| e.to_string())?;
    Ok(client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0))
}

#[test]
fn sslmodes_encrypt_and_verify_as_libpq_does() {
    let pki = pki();
    let server = EphemeralServer::start_with(&EphemeralOptions {
        tls: Some(pki.server.clone()),
        ..Default::default()
    })
    .expect("start a TLS server");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let rootcert = format!("sslrootcert={}", ca.display());

    assert_eq!(
        ssl_in_use(&server.url_with("localhost", "postgres", "sslmode=require")),
        Ok(true)
    );
    assert_eq!(
        ssl_in_use(&server.url_with("127.0.0.1", "postgres", "sslmode=disable")),
        Ok(false)
    );
    assert_eq!(
        ssl_in_use(&server.url_with(
            "localhost",
            "postgres",
            &format!("sslmode=verify-full&{rootcert}")
        )),
        Ok(true)
    );
    assert_eq!(
        ssl_in_use(&server.url_with(
            "127.0.0.1",
            "postgres",
            &format!("sslmode=verify-ca&{rootcert}")
        )),
        Ok(true),
        "verify-ca checks the chain, not the host name"
    );
    let wrong_host = ssl_in_use(&server.url_with(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&{rootcert}"),
    ));
    assert!(wrong_host.is_err(), "verify-full must check the host name");
    let no_ca = ssl_in_use(&server.url_with(
        "localhost",
        "postgres",
        "sslmode=verify-full&sslrootcert=system",
    ));
    assert!(
        no_ca.is_err(),
        "a self-signed chain fails against the system roots"
    );

    // Through the CLI: works with verify-full, and a failure names the target without the password.
    let url = server.url_with(
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&{rootcert}"),
    );
    let empty = tempfile::tempdir().unwrap();
    let ok = pgwarden()
        .args(["--database-url", &url, "--migrations"])
        .arg(empty.path())
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let bad = server.url_with(
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&{rootcert}"),
    );
    let password = bad
        .split(':')
        .nth(2)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_string();
    let out = pgwarden()
        .args(["-vv", "--database-url", &bad, "--migrations"])
        .arg(empty.path())
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect to postgres://postgres@127.0.0.1"),
        "{err}"
    );
    assert!(
        !err.contains(&password) && !stdout(&out).contains(&password),
        "password leaked: {err}"
    );
}
