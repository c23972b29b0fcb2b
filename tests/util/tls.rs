//! TLS for tests: certificates made at test time with rcgen (no key is committed), and
//! a blocking rustls client over a std `TcpStream`.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::{
    self, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use super::client::{read_response, Resp};

/// rustls' ring provider, as weir's own `tls::provider` has it: rustls 0.23.48
/// deprecates ring's `default_provider` (no post-quantum key exchange) and offers no
/// other way to build one, so the warning is allowed here once. Its key exchange order
/// is a browser's (X25519 first; 0.23.48 put P-384 first), so a test client sends the
/// key share browsers send.
#[allow(deprecated)]
pub fn ring() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::{default_provider, kx_group};
    let mut provider = default_provider();
    provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    provider
}

/// A private certificate authority that signs test certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and key written to files, and the leaf's DER to compare with what a
/// client was shown.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "weir test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/ca.pem`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// A leaf for `names`, written to `dir/<file>.pem` and `dir/<file>.key`.
    pub fn leaf(&self, dir: &Path, file: &str, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        self.sign(dir, file, CertificateParams::new(names).unwrap())
    }

    /// A leaf for `names` that expired in 2020.
    pub fn expired_leaf(&self, dir: &Path, file: &str, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        self.sign(dir, file, params)
    }

    fn sign(&self, dir: &Path, file: &str, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            cert: dir.join(format!("{file}.pem")),
            key: dir.join(format!("{file}.key")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }

    /// A client config trusting this CA, offering `alpn`.
    pub fn client(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        self.client_with(alpn, &[&rustls::version::TLS13, &rustls::version::TLS12])
    }

    /// A client config trusting this CA, with the given protocol versions.
    pub fn client_with(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let provider = ring();
        self.client_on(provider, alpn, versions)
    }

    /// A client config trusting this CA, on `provider` (its key exchange groups, in its
    /// order).
    pub fn client_on(
        &self,
        provider: rustls::crypto::CryptoProvider,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let mut c = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }
}

/// A client config that accepts any certificate: to see which one a server chose for a
/// name it has no certificate for.
pub fn client_trusting_anything() -> Arc<ClientConfig> {
    let provider = Arc::new(ring());
    let c = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    Arc::new(c)
}

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub type TlsConn = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` asking for `name`, and completes the handshake.
pub fn connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsConn, std::io::Error> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(config, server_name).map_err(std::io::Error::other)?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// The leaf certificate the server showed.
pub fn shown(s: &TlsConn) -> Vec<u8> {
    s.conn.peer_certificates().unwrap()[0].to_vec()
}

/// Sends `request` and reads one response.
pub fn roundtrip(s: TlsConn, request: &[u8]) -> (Resp, TlsConn) {
    let mut r = BufReader::new(s);
    r.get_mut().write_all(request).unwrap();
    r.get_mut().flush().unwrap();
    let resp = read_response(&mut r, false).expect("a response");
    assert!(r.buffer().is_empty(), "bytes past the response");
    (resp, r.into_inner())
}

/// True if the server closes (EOF or reset) rather than sending or staying silent.
pub fn closes(mut s: impl Read) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// A TLS listener on `127.0.0.1:0`, offering h2 as a file's TLS listener does by default.
pub fn tls_listener(tls: weir::config::ServerTls) -> weir::config::Listener {
    weir::config::Listener {
        addr: "127.0.0.1:0".parse().unwrap(),
        tls: Some(tls),
        name: None,
        h2: true,
        h2c: false,
        proxy_protocol: None,
        reuse_port: false,
    }
}
