//! An RFC 3161 client over plain HTTP/1.1 (§3.4): [`TsaClient::stamp`]
//! POSTs a `TimeStampReq` (version 1, SHA-256 imprint, a random 64-bit
//! nonce, certReq TRUE) as `application/timestamp-query` and takes only a
//! `200` answer of type `application/timestamp-reply` holding a
//! `TimeStampResp` that grants a token for exactly that request: the
//! imprint asked for, our nonce, and a CMS signature that verifies with
//! the TSA certificate in the token (see [`crate::cms::check_token`]).
//!
//! Limits: `http://` URLs only (`https://` is refused as a usage error:
//! there is no TLS stack on the host; the token is signed, so its
//! integrity does not depend on the transport); one overall deadline for
//! connecting, sending and reading ([`TsaClient::timeout`], default
//! [`DEFAULT_TIMEOUT`]; a host name is resolved by the system resolver
//! before, with its own timeouts); an answer of at most [`MAX_RESPONSE`]
//! bytes of body (`Content-Length` or chunked); no redirects, no proxies,
//! no authentication. Whether the TSA is *trusted* is not decided here:
//! that is path validation at verification time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::types::{MessageImprint, TimeStampReq, TimeStampResp};
use crate::cms::TimeStampInfo;
use crate::error::{Error, Result};

/// How long a time stamp may take, all in all, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer body taken (a token with a certificate chain is a
/// few KiB).
pub const MAX_RESPONSE: usize = 1024 * 1024;
/// The largest header section taken.
const MAX_HEADERS: usize = 16 * 1024;

/// A time-stamping authority reached over HTTP (RFC 3161 §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsaClient {
    /// The TSA's URL: `http://HOST[:PORT][/PATH]` (IPv6 hosts in
    /// brackets); `https://` is refused.
    pub url: String,
    /// The one deadline for the whole exchange: connect, request, answer
    /// (a host name is resolved before, by the system resolver).
    pub timeout: Duration,
}

/// `PKIStatus` names (RFC 3161 §2.4.2).
fn status_name(status: u8) -> &'static str {
    match status {
        0 => "granted",
        1 => "grantedWithMods",
        2 => "rejection",
        3 => "waiting",
        4 => "revocationWarning",
        5 => "revocationNotification",
        _ => "unknown status",
    }
}

/// `PKIFailureInfo` bit names (RFC 3161 §2.4.2).
fn failure_name(bit: usize) -> Option<&'static str> {
    Some(match bit {
        0 => "badAlg",
        2 => "badRequest",
        5 => "badDataFormat",
        14 => "timeNotAvailable",
        15 => "unacceptedPolicy",
        16 => "unacceptedExtension",
        17 => "addInfoNotAvailable",
        25 => "systemFailure",
        _ => return None,
    })
}

/// Where to connect and what to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    /// The `Host` header.
    authority: String,
    /// The request target (path and query).
    target: String,
}

fn usage(url: &str, why: &str) -> Error {
    Error::Usage(format!("--tsa {url}: {why}"))
}

fn parse_url(url: &str) -> Result<Endpoint> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.starts_with("http://").then(|| url.get(7..)).flatten() else {
        let why = if lower.starts_with("https://") {
            "https is not supported: the time-stamp client speaks plain HTTP only \
             (give the TSA's http:// URL; the token is signed, so it needs no TLS)"
        } else {
            "not an http:// URL (the time-stamp client speaks plain HTTP only)"
        };
        return Err(usage(url, why));
    };
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(usage(url, "the URL holds spaces or control characters"));
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(split);
    let target = match target {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    if authority.contains('@') {
        return Err(usage(
            url,
            "user names and passwords in the URL are not supported",
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| usage(url, "an IPv6 host without its closing ]"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(usage(url, "no host"));
    }
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| usage(url, "the port is not a number from 1 to 65535"))?,
    };
    Ok(Endpoint {
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        target,
    })
}

impl TsaClient {
    /// A client for the TSA at `url` with the [`DEFAULT_TIMEOUT`];
    /// [`Error::Usage`] when the URL is not an `http://` URL this client
    /// can use (`https://` included).
    pub fn new(url: &str) -> Result<Self> {
        parse_url(url)?;
        Ok(Self {
            url: url.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same client with another overall deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Asks the TSA for a token over `imprint_sha256` (the SHA-256 of the
    /// data to time-stamp) and checks the answer: HTTP 200 of type
    /// `application/timestamp-reply`, a `TimeStampResp` granted (0) or
    /// grantedWithMods (1), a token whose `TSTInfo` has our imprint and
    /// nonce and whose signature verifies with the TSA certificate in it.
    /// Returns the token (DER `ContentInfo`).
    ///
    /// [`Error::Usage`] for a URL this client cannot use;
    /// [`Error::Timestamp`] for everything else: connection refused, no
    /// answer within [`TsaClient::timeout`], an HTTP error, an answer too
    /// large or not RFC 3161, a rejection (with the TSA's status, reason
    /// and failure bits), a token for other data or another nonce.
    pub fn stamp(&self, imprint_sha256: &[u8; 32]) -> Result<Vec<u8>> {
        self.stamp_info(imprint_sha256).map(|i| i.token)
    }

    /// [`TsaClient::stamp`], returning what the token says as well.
    pub fn stamp_info(&self, imprint_sha256: &[u8; 32]) -> Result<TimeStampInfo> {
        let endpoint = parse_url(&self.url)?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::Timestamp(format!("no random nonce: {e}")))?;
        let nonce = Int::new(&super::minimal_integer(u64::from_be_bytes(nonce).max(1)))
            .map_err(|e| Error::Timestamp(format!("cannot encode the nonce: {e}")))?;
        let request = request(imprint_sha256, &nonce)?;
        let answer = self.exchange(&endpoint, &request)?;
        let body = http_body(&answer).map_err(|e| self.failed(&e))?;
        check_response(&body, imprint_sha256, &nonce).map_err(|e| self.failed(&e))
    }

    fn failed(&self, why: &str) -> Error {
        Error::Timestamp(format!("the TSA at {}: {why}", self.url))
    }

    fn timed_out(&self) -> Error {
        self.failed(&format!(
            "no answer within {} s",
            self.timeout.as_secs_f64()
        ))
    }

    /// Sends `request`, returns the raw HTTP answer (bounded), all before
    /// the deadline.
    fn exchange(&self, endpoint: &Endpoint, request: &[u8]) -> Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
        };
        let addresses: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
            .to_socket_addrs()
            .map_err(|e| self.failed(&format!("cannot resolve {}: {e}", endpoint.host)))?
            .collect();
        let mut stream = None;
        let mut last = None;
        for address in &addresses {
            let Some(time) = left() else {
                return Err(self.timed_out());
            };
            match TcpStream::connect_timeout(address, time) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(self.failed("connection refused (is the TSA running?)"));
            }
            (None, Some(e)) if is_timeout(&e) => return Err(self.timed_out()),
            (None, Some(e)) => return Err(self.failed(&format!("cannot connect: {e}"))),
            (None, None) => {
                return Err(self.failed(&format!("{} has no address", endpoint.host)));
            }
        };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/timestamp-query\r\n\
             Accept: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            endpoint.target,
            endpoint.authority,
            request.len()
        );
        let mut message = head.into_bytes();
        message.extend_from_slice(request);
        let io = |e: std::io::Error| {
            if is_timeout(&e) {
                self.timed_out()
            } else {
                self.failed(&format!("the connection failed: {e}"))
            }
        };
        stream
            .set_write_timeout(Some(left().ok_or_else(|| self.timed_out())?))
            .map_err(io)?;
        stream.write_all(&message).map_err(io)?;
        stream.flush().map_err(io)?;
        let mut answer = Vec::new();
        let mut block = [0u8; 8192];
        loop {
            stream
                .set_read_timeout(Some(left().ok_or_else(|| self.timed_out())?))
                .map_err(io)?;
            let n = match stream.read(&mut block) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            let Some(chunk) = block.get(..n) else { break };
            if chunk.is_empty() {
                break;
            }
            answer.extend_from_slice(chunk);
            if answer.len() > MAX_HEADERS + MAX_RESPONSE + 64 * 1024 {
                return Err(self.failed(&format!(
                    "the answer is larger than {} KiB",
                    MAX_RESPONSE / 1024
                )));
            }
            if complete(&answer) {
                break;
            }
        }
        Ok(answer)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// The DER `TimeStampReq` for `imprint` with `nonce`, certReq TRUE.
fn request(imprint: &[u8; 32], nonce: &Int) -> Result<Vec<u8>> {
    let encode = |e: der::Error| Error::Timestamp(format!("cannot encode the request: {e}"));
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: der::oid::db::rfc5912::ID_SHA_256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint.to_vec()).map_err(encode)?,
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .map_err(encode)
}

/// The parsed head of an HTTP answer: status code and line, the
/// headers we use, where the body starts.
struct Head {
    code: u16,
    status: String,
    content_type: Option<String>,
    content_length: Option<usize>,
    chunked: bool,
    body_start: usize,
}

fn head(answer: &[u8]) -> std::result::Result<Option<Head>, String> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        if answer.len() > MAX_HEADERS {
            return Err("the answer's headers are too long".into());
        }
        return Ok(None);
    };
    if end > MAX_HEADERS {
        return Err("the answer's headers are too long".into());
    }
    let text = String::from_utf8_lossy(answer.get(..end).unwrap_or_default()).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let mut words = status.splitn(3, ' ');
    let (version, code) = (words.next().unwrap_or_default(), words.next());
    let code = code
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| {
            format!(
                "the answer is not HTTP/1.x: {:?}",
                status.chars().take(60).collect::<String>()
            )
        })?;
    let mut out = Head {
        code,
        status: status.clone(),
        content_type: None,
        content_length: None,
        chunked: false,
        body_start: end + 4,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => out.content_type = Some(value.to_ascii_lowercase()),
            "content-length" => {
                let length = value
                    .parse::<usize>()
                    .map_err(|_| format!("a Content-Length that is not a number: {value:?}"))?;
                if out.content_length.is_some_and(|l| l != length) {
                    return Err("two different Content-Length headers".into());
                }
                out.content_length = Some(length);
            }
            "transfer-encoding" => {
                out.chunked = value
                    .to_ascii_lowercase()
                    .split(',')
                    .any(|v| v.trim() == "chunked");
            }
            _ => {}
        }
    }
    Ok(Some(out))
}

/// Whether `answer` holds a whole HTTP message (so reading can stop
/// before the server closes the connection).
fn complete(answer: &[u8]) -> bool {
    match head(answer) {
        Ok(Some(h)) if !h.chunked => h
            .content_length
            .is_some_and(|l| answer.len() >= h.body_start.saturating_add(l)),
        Ok(Some(h)) => answer
            .get(h.body_start..)
            .is_some_and(|b| dechunk(b).is_ok()),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// The body of a chunked message (RFC 9112 §7.1), bounded; `Err` when it
/// is cut short or malformed.
fn dechunk(mut data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk is cut short")?;
        let line = String::from_utf8_lossy(data.get(..line_end).unwrap_or_default()).into_owned();
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("a chunk size that is not hex: {size:?}"))?;
        data = data.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(body);
        }
        if body.len().saturating_add(size) > MAX_RESPONSE {
            return Err(format!(
                "the answer is larger than {} KiB",
                MAX_RESPONSE / 1024
            ));
        }
        let chunk = data.get(..size).ok_or("a chunk is cut short")?;
        body.extend_from_slice(chunk);
        data = data
            .get(size..)
            .and_then(|d| d.strip_prefix(b"\r\n"))
            .ok_or("a chunk is cut short")?;
    }
}

/// The body of an HTTP answer that must be `200` with the media type
/// `application/timestamp-reply`; `Err` says what is wrong.
fn http_body(answer: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if answer.is_empty() {
        return Err("the connection was closed without an answer".into());
    }
    let h = head(answer)?.ok_or("the answer's headers are cut short")?;
    if h.code != 200 {
        return Err(format!("the answer is {} and not 200 OK", h.status.trim()));
    }
    let media = h
        .content_type
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or_default().trim().to_owned());
    if media.as_deref() != Some("application/timestamp-reply") {
        return Err(format!(
            "the answer's Content-Type is {}, not application/timestamp-reply",
            h.content_type.as_deref().unwrap_or("absent")
        ));
    }
    let rest = answer.get(h.body_start..).unwrap_or_default();
    let body = if h.chunked {
        dechunk(rest)?
    } else if let Some(length) = h.content_length {
        if length > MAX_RESPONSE {
            return Err(format!(
                "the answer is larger than {} KiB",
                MAX_RESPONSE / 1024
            ));
        }
        rest.get(..length)
            .ok_or_else(|| format!("the answer is cut short: {} of {length} bytes", rest.len()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    if body.len() > MAX_RESPONSE {
        return Err(format!(
            "the answer is larger than {} KiB",
            MAX_RESPONSE / 1024
        ));
    }
    Ok(body)
}

/// Checks a DER `TimeStampResp` for our request: granted, a token over
/// `imprint` with our `nonce` whose signature verifies; `Err` says why not.
fn check_response(
    body: &[u8],
    imprint: &[u8; 32],
    nonce: &Int,
) -> std::result::Result<TimeStampInfo, String> {
    let response = TimeStampResp::from_der(body)
        .map_err(|e| format!("the answer is not a TimeStampResp: {e}"))?;
    let status = response.status.status;
    if status > 1 {
        let mut why = format!("the request was refused: {}", status_name(status));
        if let Some(texts) = &response.status.status_string {
            let texts: Vec<String> = texts.iter().map(|t| t.as_str().to_owned()).collect();
            why.push_str(&format!(" ({})", texts.join("; ")));
        }
        if let Some(bits) = &response.status.fail_info {
            let names: Vec<String> = bits
                .bits()
                .enumerate()
                .filter(|(_, set)| *set)
                .map(|(i, _)| failure_name(i).map_or_else(|| format!("bit {i}"), str::to_owned))
                .collect();
            if !names.is_empty() {
                why.push_str(&format!(", failure: {}", names.join(", ")));
            }
        }
        return Err(why);
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| {
            format!(
                "the status is {}, but there is no token",
                status_name(status)
            )
        })?
        .to_der()
        .map_err(|e| format!("the token does not encode: {e}"))?;
    let examined = crate::cms::token::examine(&token, imprint)?;
    match &examined.tst.nonce {
        Some(n) if n == nonce => Ok(examined.info),
        Some(n) => Err(format!(
            "the token's nonce {} is not the request's {}: an answer to another request",
            hex::encode(n.as_bytes()),
            hex::encode(nonce.as_bytes())
        )),
        None => Err(format!(
            "the token has no nonce, but the request had one ({})",
            hex::encode(nonce.as_bytes())
        )),
    }
}

#[cfg(test)]
mod tests;
