//! `tls-native`: the TLS state machine behind `runtime/lib/tls.lua`, on rustls (ring provider).
//!
//! The session works on raw bytes and never touches a socket: Lua feeds it the ciphertext it
//! read and writes out the ciphertext it hands back. That works over any stream, needs no change
//! to the uv layer, and is how luvit's own tls works (OpenSSL memory BIO pairs).
//!
//! `newContext(options)` parses keys, certificates, CAs once; `context:newSession([servername])`
//! makes a session (client sessions need the name to verify). Session methods:
//! `feed(ciphertext)` -> plaintext, peerClosed | nil, message, code; `write(plaintext)`;
//! `pending()` -> ciphertext to send ("" when none); `handshaking()`; `closeNotify()`;
//! `info()` -> {version, alpnProtocol, servername, cipher, authorized, authorizationError};
//! `peerCertificate()` -> node's certificate table or nil.
//! `generateCertificate(options)` -> keyPem, certPem: a dev and test aid (rcgen) for local
//! certificates, self-signed or signed by a given CA.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use mlua::{Lua, LuaString, Table, UserData, Value};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Connection, DigitallySignedStruct,
    DistinguishedName, RootCertStore, ServerConfig, ServerConnection, SignatureScheme,
    SupportedProtocolVersion,
};
use sha1::Digest;

type Shared = Arc<Mutex<Option<String>>>;

fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn parse_certs(pem: &[u8], what: &str) -> mlua::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| rt(format!("tls: bad {what} PEM: {e:?}")))?;
    if certs.is_empty() {
        return Err(rt(format!("tls: no certificate found in {what}")));
    }
    Ok(certs)
}

fn parse_key(pem: &[u8]) -> mlua::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| rt(format!("tls: bad key PEM: {e:?}")))
}

fn certified_key(
    key: &[u8],
    cert: &[u8],
    provider: &CryptoProvider,
) -> mlua::Result<Arc<CertifiedKey>> {
    let chain = parse_certs(cert, "cert")?;
    let key = parse_key(key)?;
    let signer = provider.key_provider.load_private_key(key).map_err(|e| {
        rt(format!(
            "tls: key: {e} (RSA keys need at least 2048 bits, ECDSA P-256/P-384 or Ed25519)"
        ))
    })?;
    // The key must be the certificate's. Compared on x509-parser's reading of the certificate,
    // not webpki's: webpki refuses X.509 v1 certificates, which OpenSSL (and luvit) serve.
    if let Some(spki) = signer.public_key() {
        let (_, parsed) = x509_parser::parse_x509_certificate(chain[0].as_ref())
            .map_err(|e| rt(format!("tls: key and cert: bad certificate: {e}")))?;
        if spki.as_ref() != parsed.tbs_certificate.subject_pki.raw {
            return Err(rt(
                "tls: key and cert: the private key does not match the certificate",
            ));
        }
    }
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// Checks a handshake signature with the certificate's key as x509-parser reads it: the
/// fallback when webpki cannot take the certificate itself (X.509 v1). Whether the
/// certificate is trusted is decided separately; this only proves the peer holds its key.
fn verify_with_cert_key(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algs: &WebPkiSupportedAlgorithms,
    err: rustls::Error,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Err(err);
    };
    let key = parsed
        .tbs_certificate
        .subject_pki
        .subject_public_key
        .data
        .as_ref();
    let candidates = algs
        .mapping
        .iter()
        .filter(|(scheme, _)| *scheme == dss.scheme)
        .flat_map(|(_, list)| list.iter());
    for alg in candidates {
        if alg.verify_signature(key, message, dss.signature()).is_ok() {
            return Ok(HandshakeSignatureValid::assertion());
        }
    }
    Err(err)
}

/// Strings from a Lua value that is a string or a list of strings.
fn string_list(v: Value, what: &str) -> mlua::Result<Vec<Vec<u8>>> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.as_bytes().to_vec()]),
        Value::Table(t) => {
            let mut out = Vec::new();
            for item in t.sequence_values::<LuaString>() {
                out.push(
                    item.map_err(|_| rt(format!("tls: {what} must hold strings")))?
                        .as_bytes()
                        .to_vec(),
                );
            }
            Ok(out)
        }
        _ => Err(rt(format!(
            "tls: {what} must be a string or a list of strings"
        ))),
    }
}

fn version_of(name: &str) -> mlua::Result<&'static SupportedProtocolVersion> {
    match name {
        "TLSv1.2" => Ok(&rustls::version::TLS12),
        "TLSv1.3" => Ok(&rustls::version::TLS13),
        other => Err(rt(format!(
            "tls: unsupported protocol version '{other}' (TLSv1.2 or TLSv1.3)"
        ))),
    }
}

/// Server certificate choice by SNI: exact name, then a `*.` wildcard entry, then the default.
#[derive(Debug)]
struct SniResolver {
    default: Option<Arc<CertifiedKey>>,
    hosts: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name = name.to_ascii_lowercase();
            if let Some(k) = self.hosts.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, rest)) = name.split_once('.') {
                if let Some(k) = self.hosts.get(&format!("*.{rest}")) {
                    return Some(k.clone());
                }
            }
        }
        self.default.clone()
    }
}

/// Node's code and a readable reason for a certificate that did not verify.
fn cert_reason(e: &rustls::Error) -> (&'static str, String) {
    use CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => (
                "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
                "unable to get local issuer certificate (signed by an unknown authority)".into(),
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => (
                "ERR_TLS_CERT_ALTNAME_INVALID",
                format!("hostname does not match the certificate's names ({e})"),
            ),
            C::Expired | C::ExpiredContext { .. } => {
                ("CERT_HAS_EXPIRED", "certificate has expired".into())
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                ("CERT_NOT_YET_VALID", "certificate is not yet valid".into())
            }
            C::Revoked => ("CERT_REVOKED", "certificate revoked".into()),
            _ => ("CERT_VERIFY_FAILED", e.to_string()),
        },
        _ => ("CERT_VERIFY_FAILED", e.to_string()),
    }
}

fn reason_text(e: &rustls::Error) -> String {
    let (code, text) = cert_reason(e);
    format!("{code}: {text}")
}

/// Checks with webpki, records a failure for `authorizationError`, and either passes the
/// failure on (rejectUnauthorized) or accepts the certificate anyway.
#[derive(Debug)]
struct ServerVerify {
    inner: Arc<WebPkiServerVerifier>,
    algs: WebPkiSupportedAlgorithms,
    reject: bool,
    error: Shared,
}

impl ServerCertVerifier for ServerVerify {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            Err(e) => {
                if let Ok(mut slot) = self.error.lock() {
                    *slot = Some(reason_text(&e));
                }
                if self.reject {
                    Err(e)
                } else {
                    Ok(ServerCertVerified::assertion())
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls12_signature(message, cert, dss)
            .or_else(|e| verify_with_cert_key(message, cert, dss, &self.algs, e))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls13_signature(message, cert, dss)
            .or_else(|e| verify_with_cert_key(message, cert, dss, &self.algs, e))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client-certificate counterpart of `ServerVerify`.
#[derive(Debug)]
struct ClientVerify {
    inner: Arc<dyn ClientCertVerifier>,
    algs: WebPkiSupportedAlgorithms,
    reject: bool,
    error: Shared,
}

impl ClientCertVerifier for ClientVerify {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.reject
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(v) => Ok(v),
            Err(e) => {
                if let Ok(mut slot) = self.error.lock() {
                    *slot = Some(reason_text(&e));
                }
                if self.reject {
                    Err(e)
                } else {
                    Ok(ClientCertVerified::assertion())
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls12_signature(message, cert, dss)
            .or_else(|e| verify_with_cert_key(message, cert, dss, &self.algs, e))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner
            .verify_tls13_signature(message, cert, dss)
            .or_else(|e| verify_with_cert_key(message, cert, dss, &self.algs, e))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Parsed options, shared by the sessions made from them (each session builds its own small
/// config so that its verifier can record that session's authorization error).
struct Context {
    server: bool,
    provider: Arc<CryptoProvider>,
    versions: Vec<&'static SupportedProtocolVersion>,
    alpn: Vec<Vec<u8>>,
    roots: Option<Arc<RootCertStore>>,
    reject: bool,
    request_cert: bool,
    /// Client: our own certificate for client authentication.
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// Server: certificates by SNI name and the default.
    resolver: Option<Arc<SniResolver>>,
}

fn new_context(opts: Table) -> mlua::Result<Context> {
    let server = opts.get::<Option<bool>>("isServer")?.unwrap_or(false);
    let provider = provider();
    let reject = opts
        .get::<Option<bool>>("rejectUnauthorized")?
        .unwrap_or(true);
    let request_cert = opts.get::<Option<bool>>("requestCert")?.unwrap_or(false);
    let key = opts.get::<Option<LuaString>>("key")?;
    let cert = opts.get::<Option<LuaString>>("cert")?;

    let mut versions: Vec<&'static SupportedProtocolVersion> =
        vec![&rustls::version::TLS13, &rustls::version::TLS12];
    let min = opts.get::<Option<String>>("minVersion")?;
    let max = opts.get::<Option<String>>("maxVersion")?;
    if let Some(m) = min.as_deref() {
        if version_of(m)? == &rustls::version::TLS13 {
            versions.retain(|v| *v == &rustls::version::TLS13);
        }
    }
    if let Some(m) = max.as_deref() {
        if version_of(m)? == &rustls::version::TLS12 {
            versions.retain(|v| *v == &rustls::version::TLS12);
        }
    }
    if versions.is_empty() {
        return Err(rt("tls: minVersion is above maxVersion"));
    }

    let alpn = string_list(opts.get::<Value>("ALPNProtocols")?, "ALPNProtocols")?;
    let cas = string_list(opts.get::<Value>("ca")?, "ca")?;
    let roots = if !cas.is_empty() {
        let mut store = RootCertStore::empty();
        for pem in &cas {
            for c in parse_certs(pem, "ca")? {
                store
                    .add(c)
                    .map_err(|e| rt(format!("tls: bad ca certificate: {e}")))?;
            }
        }
        Some(Arc::new(store))
    } else if !server {
        let mut store = RootCertStore::empty();
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Some(Arc::new(store))
    } else {
        None
    };

    let mut ctx = Context {
        server,
        provider: provider.clone(),
        versions,
        alpn,
        roots,
        reject,
        request_cert,
        client_auth: None,
        resolver: None,
    };
    if server {
        if request_cert && ctx.roots.is_none() {
            return Err(rt(
                "tls: requestCert needs a ca to check client certificates",
            ));
        }
        let default = match (&key, &cert) {
            (Some(k), Some(c)) => Some(certified_key(&k.as_bytes(), &c.as_bytes(), &provider)?),
            _ => None,
        };
        let mut hosts = HashMap::new();
        if let Some(t) = opts.get::<Option<Table>>("hosts")? {
            for pair in t.pairs::<String, Table>() {
                let (name, entry) =
                    pair.map_err(|_| rt("tls: hosts maps names to {key=, cert=}"))?;
                let k: LuaString = entry
                    .get::<Option<LuaString>>("key")?
                    .ok_or_else(|| rt(format!("tls: hosts['{name}'] has no key")))?;
                let c: LuaString = entry
                    .get::<Option<LuaString>>("cert")?
                    .ok_or_else(|| rt(format!("tls: hosts['{name}'] has no cert")))?;
                hosts.insert(
                    name.to_ascii_lowercase(),
                    certified_key(&k.as_bytes(), &c.as_bytes(), &provider)?,
                );
            }
        }
        if default.is_none() && hosts.is_empty() {
            return Err(rt("tls: a server needs key and cert (or hosts)"));
        }
        ctx.resolver = Some(Arc::new(SniResolver { default, hosts }));
    } else if let (Some(k), Some(c)) = (&key, &cert) {
        ctx.client_auth = Some((
            parse_certs(&c.as_bytes(), "cert")?,
            parse_key(&k.as_bytes())?,
        ));
    }
    Ok(ctx)
}

impl Context {
    fn session(&self, servername: Option<String>) -> mlua::Result<Session> {
        let error: Shared = Arc::new(Mutex::new(None));
        let cfg_err = |e: rustls::Error| rt(format!("tls: {e}"));
        let conn: Connection = if self.server {
            let builder = ServerConfig::builder_with_provider(self.provider.clone())
                .with_protocol_versions(&self.versions)
                .map_err(cfg_err)?;
            let builder = match (&self.roots, self.request_cert) {
                (Some(roots), true) => {
                    let inner = WebPkiClientVerifier::builder_with_provider(
                        roots.clone(),
                        self.provider.clone(),
                    )
                    .build()
                    .map_err(|e| rt(format!("tls: client verifier: {e}")))?;
                    builder.with_client_cert_verifier(Arc::new(ClientVerify {
                        inner,
                        algs: self.provider.signature_verification_algorithms,
                        reject: self.reject,
                        error: error.clone(),
                    }))
                }
                _ => builder.with_no_client_auth(),
            };
            let resolver = self
                .resolver
                .clone()
                .ok_or_else(|| rt("tls: server context without certificates"))?;
            let mut cfg = builder.with_cert_resolver(resolver);
            cfg.alpn_protocols = self.alpn.clone();
            Connection::Server(ServerConnection::new(Arc::new(cfg)).map_err(cfg_err)?)
        } else {
            let name = servername.ok_or_else(|| rt("tls: a client session needs a server name"))?;
            let server_name = ServerName::try_from(name.clone())
                .map_err(|_| rt(format!("tls: invalid server name '{name}'")))?;
            let roots = self
                .roots
                .clone()
                .ok_or_else(|| rt("tls: no trusted roots"))?;
            let inner = WebPkiServerVerifier::builder_with_provider(roots, self.provider.clone())
                .build()
                .map_err(|e| rt(format!("tls: server verifier: {e}")))?;
            let builder = ClientConfig::builder_with_provider(self.provider.clone())
                .with_protocol_versions(&self.versions)
                .map_err(cfg_err)?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ServerVerify {
                    inner,
                    algs: self.provider.signature_verification_algorithms,
                    reject: self.reject,
                    error: error.clone(),
                }));
            let mut cfg = match &self.client_auth {
                Some((chain, key)) => builder
                    .with_client_auth_cert(chain.clone(), key.clone_key())
                    .map_err(cfg_err)?,
                None => builder.with_no_client_auth(),
            };
            cfg.alpn_protocols = self.alpn.clone();
            Connection::Client(ClientConnection::new(Arc::new(cfg), server_name).map_err(cfg_err)?)
        };
        let mut conn = conn;
        // Lua applies backpressure on the socket; rustls buffers whatever it is given.
        conn.set_buffer_limit(None);
        Ok(Session {
            conn,
            error,
            request_cert: self.server && self.request_cert,
            failed: None,
        })
    }
}

impl UserData for Context {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_method("newSession", |_, ctx, name: Option<String>| {
            ctx.session(name)
        });
    }
}

struct Session {
    conn: Connection,
    error: Shared,
    request_cert: bool,
    failed: Option<String>,
}

/// A code and message for a failed session.
fn session_error(e: &rustls::Error) -> (String, String) {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_) => {
            let (code, text) = cert_reason(e);
            (code.to_string(), format!("{code}: {text}"))
        }
        E::AlertReceived(a) => (
            "ERR_SSL_ALERT".into(),
            format!("ERR_SSL_ALERT: peer sent alert {a:?}"),
        ),
        E::NoCertificatesPresented => (
            "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE".into(),
            "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: peer did not return a certificate".into(),
        ),
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => (
            "ERR_SSL_PROTOCOL".into(),
            format!("ERR_SSL_PROTOCOL: not a TLS peer or corrupt record ({e})"),
        ),
        E::NoApplicationProtocol => (
            "ERR_SSL_NO_APPLICATION_PROTOCOL".into(),
            "ERR_SSL_NO_APPLICATION_PROTOCOL: no ALPN protocol in common".into(),
        ),
        _ => ("ERR_SSL".into(), format!("ERR_SSL: {e}")),
    }
}

fn fail(lua: &Lua, s: &mut Session, e: &rustls::Error) -> mlua::Result<mlua::MultiValue> {
    let (code, msg) = session_error(e);
    s.failed = Some(msg.clone());
    (Value::Nil, msg, code).into_lua_multi(lua)
}

use mlua::IntoLuaMulti;

impl Session {
    fn drain_plaintext(&mut self, out: &mut Vec<u8>, eof: &mut bool) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => {
                    *eof = true;
                    break;
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
}

fn version_name(v: Option<rustls::ProtocolVersion>) -> Option<&'static str> {
    match v? {
        rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
        rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
        _ => Some("unknown"),
    }
}

impl UserData for Session {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut("feed", |lua, s, data: LuaString| {
            if let Some(msg) = &s.failed {
                return (Value::Nil, msg.clone(), "ERR_SSL").into_lua_multi(lua);
            }
            let bytes = data.as_bytes();
            let mut input: &[u8] = &bytes;
            let mut out = Vec::new();
            let mut eof = false;
            loop {
                if !input.is_empty() {
                    match s.conn.read_tls(&mut input) {
                        Ok(0) => {}
                        Ok(_) => {}
                        Err(e) => {
                            let msg = format!("ERR_SSL: {e}");
                            s.failed = Some(msg.clone());
                            return (Value::Nil, msg, "ERR_SSL").into_lua_multi(lua);
                        }
                    }
                }
                if let Err(e) = s.conn.process_new_packets() {
                    return fail(lua, s, &e);
                }
                s.drain_plaintext(&mut out, &mut eof);
                if input.is_empty() || eof {
                    break;
                }
            }
            (lua.create_string(&out)?, eof).into_lua_multi(lua)
        });
        m.add_method_mut("write", |_, s, data: LuaString| {
            s.conn
                .writer()
                .write_all(&data.as_bytes())
                .map_err(|e| rt(format!("tls: write: {e}")))
        });
        m.add_method_mut("pending", |lua, s, ()| {
            let mut out = Vec::new();
            while s.conn.wants_write() {
                match s.conn.write_tls(&mut out) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            lua.create_string(&out)
        });
        m.add_method("handshaking", |_, s, ()| Ok(s.conn.is_handshaking()));
        m.add_method_mut("closeNotify", |_, s, ()| {
            s.conn.send_close_notify();
            Ok(())
        });
        m.add_method("info", |lua, s, ()| {
            let t = lua.create_table()?;
            t.set("version", version_name(s.conn.protocol_version()))?;
            if let Some(p) = s.conn.alpn_protocol() {
                t.set("alpnProtocol", lua.create_string(p)?)?;
            }
            if let Some(cs) = s.conn.negotiated_cipher_suite() {
                t.set("cipher", format!("{:?}", cs.suite()))?;
            }
            if let Connection::Server(c) = &s.conn {
                t.set("servername", c.server_name())?;
            }
            let err = s.error.lock().ok().and_then(|g| g.clone());
            let has_peer = s.conn.peer_certificates().is_some_and(|c| !c.is_empty());
            let authorized = match &s.conn {
                Connection::Client(_) => err.is_none(),
                Connection::Server(_) => s.request_cert && has_peer && err.is_none(),
            };
            t.set("authorized", authorized)?;
            match err {
                Some(e) => t.set("authorizationError", e)?,
                None if !authorized && s.request_cert => {
                    t.set("authorizationError", "peer did not present a certificate")?
                }
                None => {}
            }
            Ok(t)
        });
        m.add_method("peerCertificate", |lua, s, ()| {
            match s.conn.peer_certificates().and_then(|c| c.first()) {
                Some(der) => Ok(Value::Table(cert_table(lua, der.as_ref())?)),
                None => Ok(Value::Nil),
            }
        });
    }
}

fn hex(bytes: &[u8], sep: &str) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    parts.join(sep)
}

/// `Mar  5 10:00:00 2026 GMT`, as node prints certificate dates.
fn node_date(unix: i64) -> String {
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let name = NAMES[((month - 1).clamp(0, 11)) as usize];
    format!(
        "{name} {day:>2} {:02}:{:02}:{:02} {year} GMT",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn name_table(lua: &Lua, name: &x509_parser::x509::X509Name) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for rdn in name.iter_rdn() {
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let key = match oid.as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.7" => "L".to_string(),
                "1.2.840.113549.1.9.1" => "emailAddress".to_string(),
                _ => oid,
            };
            let value = match attr.as_str() {
                Ok(s) => s.to_string(),
                Err(_) => String::from_utf8_lossy(attr.attr_value().data).into_owned(),
            };
            t.set(key, value)?;
        }
    }
    Ok(t)
}

fn cert_table(lua: &Lua, der: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("raw", lua.create_string(der)?)?;
    t.set("fingerprint", hex(&sha1::Sha1::digest(der), ":"))?;
    t.set("fingerprint256", hex(&sha2::Sha256::digest(der), ":"))?;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Ok(t);
    };
    t.set("subject", name_table(lua, cert.subject())?)?;
    t.set("issuer", name_table(lua, cert.issuer())?)?;
    t.set(
        "valid_from",
        node_date(cert.validity().not_before.timestamp()),
    )?;
    t.set("valid_to", node_date(cert.validity().not_after.timestamp()))?;
    t.set("serialNumber", hex(cert.raw_serial(), ""))?;
    t.set("ca", cert.is_ca())?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        let mut parts = Vec::new();
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => parts.push(format!("DNS:{d}")),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    let text = match ip.len() {
                        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                        16 => {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(ip);
                            std::net::Ipv6Addr::from(a).to_string()
                        }
                        _ => hex(ip, ":"),
                    };
                    parts.push(format!("IP Address:{text}"));
                }
                x509_parser::extensions::GeneralName::RFC822Name(e) => {
                    parts.push(format!("email:{e}"))
                }
                _ => {}
            }
        }
        t.set("subjectaltname", parts.join(", "))?;
    }
    Ok(t)
}

/// `generateCertificate{commonName=, altNames=, organization=, isCa=, ca={key=, cert=}}`.
fn generate_certificate(opts: Option<Table>) -> mlua::Result<(String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let gen = |e: rcgen::Error| rt(format!("generateCertificate: {e}"));
    let (cn, alt, org, is_ca, ca) = match &opts {
        Some(t) => (
            t.get::<Option<String>>("commonName")?,
            t.get::<Option<Vec<String>>>("altNames")?,
            t.get::<Option<String>>("organization")?,
            t.get::<Option<bool>>("isCa")?.unwrap_or(false),
            t.get::<Option<Table>>("ca")?,
        ),
        None => (None, None, None, false, None),
    };
    let cn = cn.unwrap_or_else(|| "localhost".to_string());
    let alt = alt.unwrap_or_else(|| if is_ca { Vec::new() } else { vec![cn.clone()] });
    let mut params = CertificateParams::new(alt).map_err(gen)?;
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(o) = org {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    if is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| rt(format!("generateCertificate: {e}")))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let key = KeyPair::generate().map_err(gen)?;
    let cert = match ca {
        Some(ca) => {
            let ca_key: String = ca.get("key")?;
            let ca_cert: String = ca.get("cert")?;
            let ca_key = KeyPair::from_pem(&ca_key).map_err(gen)?;
            let issuer = CertificateParams::from_ca_cert_pem(&ca_cert)
                .map_err(gen)?
                .self_signed(&ca_key)
                .map_err(gen)?;
            params.signed_by(&key, &issuer, &ca_key).map_err(gen)?
        }
        None => params.self_signed(&key).map_err(gen)?,
    };
    Ok((key.serialize_pem(), cert.pem()))
}

pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "newContext",
        lua.create_function(|_, opts: Table| new_context(opts))?,
    )?;
    t.set(
        "generateCertificate",
        lua.create_function(|_, opts: Option<Table>| generate_certificate(opts))?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_dates() {
        assert_eq!(node_date(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(node_date(1_772_705_045), "Mar  5 10:04:05 2026 GMT");
    }
}
