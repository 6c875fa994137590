//! RFC 3161 over HTTP (§3.4): `POST` of an `application/timestamp-query`
//! body, answered `200` with an `application/timestamp-reply` body. A small
//! HTTP/1.1 server on `std::net`: one connection at a time, each with a
//! deadline, bounded headers and body; anything else gets a 4xx answer and
//! the connection is closed. For the development TSA only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime};

use super::Tsa;
use crate::error::{Error, Result};

/// The largest request body taken (a `TimeStampReq` is ~100 bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// The largest header section taken.
const MAX_HEADERS: usize = 16 * 1024;
/// How long one connection may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Serves `tsa` on `listener` until `stop` says so (checked between
/// connections); `log` gets one line per request.
pub fn serve(
    tsa: &Tsa,
    listener: &TcpListener,
    stop: &dyn Fn() -> bool,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    for stream in listener.incoming() {
        if stop() {
            break;
        }
        let Ok(stream) = stream else { continue };
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        match answer(tsa, stream) {
            Ok(line) => log(&format!("{peer}: {line}")),
            Err(e) => log(&format!("{peer}: {e}")),
        }
    }
    Ok(())
}

fn http_error(e: std::io::Error) -> Error {
    Error::Transport(format!("HTTP: {e}"))
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) -> Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(http_error)?;
    stream.write_all(body).map_err(http_error)?;
    stream.flush().map_err(http_error)
}

/// Answers one connection; returns what to log.
fn answer(tsa: &Tsa, stream: TcpStream) -> Result<String> {
    stream
        .set_read_timeout(Some(DEADLINE))
        .map_err(http_error)?;
    stream
        .set_write_timeout(Some(DEADLINE))
        .map_err(http_error)?;
    let mut out = stream.try_clone().map_err(http_error)?;
    let mut reader = BufReader::new(stream.take((MAX_HEADERS + MAX_BODY) as u64));
    let mut request_line = String::new();
    reader.read_line(&mut request_line).map_err(http_error)?;
    let mut content_length = None;
    let mut content_type = String::new();
    let mut header_bytes = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).map_err(http_error)?;
        header_bytes += n;
        if n == 0 || header_bytes > MAX_HEADERS {
            respond(
                &mut out,
                "400 Bad Request",
                "text/plain",
                b"headers too long or cut\n",
            )?;
            return Ok("400: headers".into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.trim().parse::<usize>().ok(),
                "content-type" => content_type = value.trim().to_ascii_lowercase(),
                _ => {}
            }
        }
    }
    if !request_line.starts_with("POST ") {
        respond(
            &mut out,
            "405 Method Not Allowed",
            "text/plain",
            b"POST a timestamp-query\n",
        )?;
        return Ok(format!("405: {}", request_line.trim_end()));
    }
    if content_type != "application/timestamp-query" {
        respond(
            &mut out,
            "415 Unsupported Media Type",
            "text/plain",
            b"Content-Type must be application/timestamp-query\n",
        )?;
        return Ok(format!("415: {content_type}"));
    }
    let Some(length) = content_length.filter(|l| *l <= MAX_BODY) else {
        respond(
            &mut out,
            "413 Content Too Large",
            "text/plain",
            b"a request of at most 64 KiB with Content-Length\n",
        )?;
        return Ok("413".into());
    };
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(http_error)?;
    let stamped = tsa.stamp(&body, SystemTime::now())?;
    respond(
        &mut out,
        "200 OK",
        "application/timestamp-reply",
        &stamped.response,
    )?;
    Ok(match (stamped.granted, stamped.reason) {
        (Some((serial, _)), _) => format!("granted, serial {serial}"),
        (None, reason) => format!("rejected: {}", reason.unwrap_or_default()),
    })
}
