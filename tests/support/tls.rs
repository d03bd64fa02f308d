//! A test certificate authority (rcgen): leaf certificates for `localhost`
//! and 127.0.0.1, and clients that trust only this CA.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A CA whose root only the tests' clients trust.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    root: CertificateDer<'static>,
}

/// One issued leaf: PEM certificate and key, and its DER for comparison.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new() -> TestCa {
        relay::upstream::client::install_crypto_provider();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "relay test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let root = params.self_signed(&key).unwrap().der().clone();
        TestCa { issuer: Issuer::new(params, key), root }
    }

    /// A leaf for `localhost` and 127.0.0.1 with this serial number.
    pub fn leaf(&self, serial: u64) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().clone() }
    }

    /// Writes a leaf's files as `cert.pem` and `key.pem` in `dir`.
    pub fn write_leaf(&self, dir: &Path, serial: u64) -> Leaf {
        let leaf = self.leaf(serial);
        // Written beside, then renamed: a reader never sees half a file.
        for (name, text) in [("cert.pem", &leaf.cert_pem), ("key.pem", &leaf.key_pem)] {
            let part = dir.join(format!(".{name}.part"));
            std::fs::write(&part, text).unwrap();
            std::fs::rename(&part, dir.join(name)).unwrap();
        }
        leaf
    }

    /// A rustls client trusting only this CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        relay::upstream::client::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.root.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// An awc client trusting only this CA.
    pub fn awc_client(&self) -> awc::Client {
        let connector = awc::Connector::new().rustls_0_23(self.client_config());
        awc::Client::builder().connector(connector).disable_timeout().finish()
    }

    /// Opens a TLS connection to `addr` as `localhost`, sends `GET path` and
    /// returns the server's certificate and the whole answer.
    pub async fn get(&self, addr: std::net::SocketAddr, path: &str) -> (CertificateDer<'static>, String) {
        let connector = tokio_rustls::TlsConnector::from(self.client_config());
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let seen = tls.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned();
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await.unwrap();
        (seen, String::from_utf8_lossy(&answer).into_owned())
    }
}
