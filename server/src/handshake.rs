//! The checks an upgrade request must pass, each refusal with the HTTP
//! status that fits (the seed's `Upgrade` and `CheckOrigin`).

use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};

use crate::config::Config;
use crate::mode::{BadParam, ConnectionParams};

/// Why an upgrade request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not GET: 405.
    MethodNotAllowed,
    /// No `Connection: upgrade` and `Upgrade: websocket`: 426.
    NotAnUpgrade,
    /// `Sec-WebSocket-Version` other than 13: 400, naming the version we speak.
    BadVersion,
    /// `Sec-WebSocket-Key` missing or not 16 bytes of base64: 400.
    BadKey,
    /// More than one `Sec-WebSocket-Key`: 400 (RFC 6455 §11.3.1 allows one).
    DuplicatedKey,
    /// An HTTP version before 1.1: 400 (RFC 6455 §4.2.1, item 1).
    OldHttp,
    /// `Host` missing or given more than once: 400 (§4.2.1 item 2; RFC 9112
    /// §3.2 refuses both with 400). Says which.
    Host(&'static str),
    /// A GET carrying a body (`Content-Length` above 0 or any
    /// `Transfer-Encoding`): 400. An upgrade request has no body, and bytes
    /// after the head would otherwise be taken for WebSocket frames.
    Body,
    /// `Origin` not allowed: 403, with the reason.
    Origin(String),
    /// Bearer token missing or wrong: 401.
    Unauthorized,
    /// A bad `mode` or `chunk`: 400, naming the parameter.
    BadParam(BadParam),
    /// Too many open connections: 503.
    Overloaded,
}

impl Refusal {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::NotAnUpgrade => StatusCode::UPGRADE_REQUIRED,
            Refusal::BadVersion
            | Refusal::BadKey
            | Refusal::DuplicatedKey
            | Refusal::OldHttp
            | Refusal::Host(_)
            | Refusal::Body
            | Refusal::BadParam(_) => StatusCode::BAD_REQUEST,
            Refusal::Origin(_) => StatusCode::FORBIDDEN,
            Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
            Refusal::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::MethodNotAllowed => "the WebSocket endpoint takes GET only".into(),
            Refusal::NotAnUpgrade => {
                "this endpoint needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)".into()
            }
            Refusal::BadVersion => "unsupported Sec-WebSocket-Version: this server speaks 13".into(),
            Refusal::BadKey => "Sec-WebSocket-Key must be 16 bytes in base64".into(),
            Refusal::DuplicatedKey => "Sec-WebSocket-Key is given more than once; send exactly one".into(),
            Refusal::OldHttp => "a WebSocket upgrade needs HTTP/1.1 or later".into(),
            Refusal::Host(why) => format!("the Host header is {why}; send exactly one"),
            Refusal::Body => "an upgrade request has no body (no Content-Length above 0, no Transfer-Encoding)".into(),
            Refusal::Origin(why) => why.clone(),
            Refusal::Unauthorized => "missing or wrong bearer token in Authorization".into(),
            Refusal::BadParam(bad) => bad.to_string(),
            Refusal::Overloaded => "too many open connections; try again later".into(),
        }
    }

    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = text_response(self.status(), self.message());
        let headers = response.headers_mut();
        match self {
            Refusal::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            Refusal::NotAnUpgrade => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            }
            Refusal::BadVersion => {
                headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            Refusal::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // The connection is not reused: a body left unread would be taken
            // for the next request, and a refused client past the connection
            // limit must give its descriptor back.
            Refusal::Body | Refusal::Overloaded | Refusal::OldHttp => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// A plain-text response, the body ending in a newline.
pub(crate) fn text_response(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut body = body.into();
    body.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Checks an upgrade request to the WebSocket path, in the order a client
/// can act on: the request itself, then who may upgrade, then what it asks.
pub(crate) fn check_upgrade<B>(req: &Request<B>, config: &Config) -> Result<ConnectionParams, Refusal> {
    if req.method() != Method::GET {
        return Err(Refusal::MethodNotAllowed);
    }
    if !fastwebsockets::upgrade::is_upgrade_request(req) {
        return Err(Refusal::NotAnUpgrade);
    }
    if req.version() < Version::HTTP_11 {
        return Err(Refusal::OldHttp);
    }
    let headers = req.headers();
    match headers.get_all(header::HOST).iter().count() {
        0 => return Err(Refusal::Host("missing")),
        1 => {}
        _ => return Err(Refusal::Host("given more than once")),
    }
    if has_body(headers) {
        return Err(Refusal::Body);
    }
    // One version, 13 (RFC 6455 11.3.5: the header appears once).
    let mut versions = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter();
    if versions.next().map(HeaderValue::as_bytes) != Some(b"13") || versions.next().is_some() {
        return Err(Refusal::BadVersion);
    }
    if headers.get_all(header::SEC_WEBSOCKET_KEY).iter().count() > 1 {
        return Err(Refusal::DuplicatedKey);
    }
    if !valid_key(headers.get(header::SEC_WEBSOCKET_KEY)) {
        return Err(Refusal::BadKey);
    }
    check_origin(headers, config).map_err(Refusal::Origin)?;
    if let Some(token) = &config.auth_token {
        if !bearer_matches(headers, token) {
            return Err(Refusal::Unauthorized);
        }
    }
    ConnectionParams::from_query(req.uri().query(), config.default_mode).map_err(Refusal::BadParam)
}

/// Whether the request announces a body: any `Transfer-Encoding`, or a
/// `Content-Length` other than a single 0.
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers.get_all(header::CONTENT_LENGTH).iter().any(|len| len.as_bytes().trim_ascii() != b"0")
}

fn valid_key(key: Option<&HeaderValue>) -> bool {
    let Some(key) = key else { return false };
    let mut decoded = [0u8; 18];
    matches!(base64::engine::general_purpose::STANDARD.decode_slice(key.as_bytes(), &mut decoded), Ok(16))
}

/// The seed's `CheckOrigin`, made a policy: no `Origin` (a non-browser
/// client) passes; otherwise it must name the request's own host or an
/// allowed origin, unless any origin is allowed.
pub(crate) fn check_origin(headers: &HeaderMap, config: &Config) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    if config.allow_any_origin {
        return Ok(());
    }
    let origin = origin.to_str().map_err(|_| "the Origin header is not ASCII".to_string())?;
    if config.allowed_origins.iter().any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(format!(
            "origin {origin:?} is not allowed: it is not this host ({}) and not in --allow-origin",
            host.unwrap_or("no Host header")
        )),
    }
}

/// `Authorization: Bearer <token>`, the token compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return false };
    let value = value.as_bytes();
    let Some((scheme, given)) = value.split_at_checked(7) else { return false };
    scheme.eq_ignore_ascii_case(b"bearer ") && constant_time_eq(given, token.as_bytes())
}

/// Equality whose time depends on the lengths only, not on where the
/// bytes first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::get("/upgradews?mode=echo")
            .header("host", "localhost:8081")
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn origin_policy() {
        let config = Config { allowed_origins: vec!["https://app.example/".into()], ..Config::default() };
        let ok = |origin: &str| check_upgrade(&request(&[("origin", origin)]), &config);
        assert!(ok("http://localhost:8081").is_ok(), "same host");
        assert!(ok("http://LOCALHOST:8081").is_ok(), "host is case-insensitive");
        assert!(ok("https://app.example").is_ok(), "allowed origin");
        assert!(matches!(ok("http://evil.example"), Err(Refusal::Origin(_))));
        assert!(matches!(ok("null"), Err(Refusal::Origin(_))));
        let any = Config { allow_any_origin: true, ..Config::default() };
        assert!(check_upgrade(&request(&[("origin", "http://evil.example")]), &any).is_ok());
    }

    #[test]
    fn token_policy() {
        let config = Config { auth_token: Some("s3cret".into()), ..Config::default() };
        assert_eq!(check_upgrade(&request(&[]), &config), Err(Refusal::Unauthorized));
        let wrong = request(&[("authorization", "Bearer s3creT")]);
        assert_eq!(check_upgrade(&wrong, &config), Err(Refusal::Unauthorized));
        let right = request(&[("authorization", "bearer s3cret")]);
        assert!(check_upgrade(&right, &config).is_ok());
    }

    #[test]
    fn keys_must_be_16_bytes() {
        assert!(valid_key(Some(&HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="))));
        for bad in ["", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZXg="] {
            assert!(!valid_key(Some(&HeaderValue::from_static(bad))), "{bad}");
        }
    }

    #[test]
    fn rfc_6455_refusals() {
        let config = Config::default();
        let mut dup_key = request(&[]);
        dup_key.headers_mut().append(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAA=="));
        assert_eq!(check_upgrade(&dup_key, &config), Err(Refusal::DuplicatedKey));
        let mut old = request(&[]);
        *old.version_mut() = Version::HTTP_10;
        assert_eq!(check_upgrade(&old, &config), Err(Refusal::OldHttp));
        let mut no_host = request(&[]);
        no_host.headers_mut().remove(header::HOST);
        assert_eq!(check_upgrade(&no_host, &config), Err(Refusal::Host("missing")));
        let two_hosts = request(&[("host", "other")]);
        assert_eq!(check_upgrade(&two_hosts, &config), Err(Refusal::Host("given more than once")));
        for body in [("content-length", "5"), ("transfer-encoding", "chunked"), ("content-length", "x")] {
            assert_eq!(check_upgrade(&request(&[body]), &config), Err(Refusal::Body), "{body:?}");
        }
        assert!(check_upgrade(&request(&[("content-length", "0")]), &config).is_ok());
    }
}
