//! A loopback RFC 3161 time-stamping authority that is not ours: a tiny
//! HTTP server (std `TcpListener`, one thread, one request at a time) that
//! answers each `application/timestamp-query` POST by running
//! `openssl ts -reply` with an openssl-made P-256 TSA.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::pki::OpensslCa;
use super::run::{arg, run};

/// The TSA certificate's subject common name.
pub const TSA_CN: &str = "pdf_tools Test TSA";

/// A running loopback TSA; stopped when dropped.
pub struct OpensslTsa {
    /// `http://127.0.0.1:PORT/tsa`, for pyHanko's `--timestamp-url`.
    pub url: String,
    /// The TSA's own root CA certificate (PEM): pass it to pyHanko with a
    /// second `--trust` to make the time stamp trusted.
    pub root_pem: PathBuf,
    /// The TSA certificate (PEM): P-256, extendedKeyUsage timeStamping
    /// (critical), keyUsage digitalSignature (critical).
    pub cert_pem: PathBuf,
    /// The `openssl ts` configuration file.
    pub config: PathBuf,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl OpensslTsa {
    /// Makes the TSA's PKI and `openssl ts` config in `dir/tsa/` and
    /// starts serving on a free loopback port.
    pub fn start(dir: &Path) -> Self {
        let dir = dir.join("tsa");
        let ca = OpensslCa::new(&dir, "/CN=pdf_tools Test TSA Root/O=pdf_tools");
        let (key, cert) = ca.issue("tsa", &format!("/CN={TSA_CN}/O=pdf_tools"), "v3_tsa");
        std::fs::write(dir.join("tsaserial"), "01\n").unwrap();
        let config = dir.join("ts.cnf");
        std::fs::write(
            &config,
            format!(
                "[ tsa ]\n\
                 default_tsa = tsa_config1\n\
                 [ tsa_config1 ]\n\
                 dir = {dir}\n\
                 serial = $dir/tsaserial\n\
                 crypto_device = builtin\n\
                 signer_cert = {cert}\n\
                 certs = {root}\n\
                 signer_key = {key}\n\
                 signer_digest = sha256\n\
                 default_policy = 1.3.6.1.4.1.55555.1.1\n\
                 other_policies = 1.3.6.1.4.1.55555.1.2\n\
                 digests = sha256, sha384, sha512\n\
                 accuracy = secs:1\n\
                 ordering = yes\n\
                 tsa_name = yes\n\
                 ess_cert_id_chain = no\n\
                 ess_cert_id_alg = sha256\n",
                dir = dir.display(),
                cert = cert.display(),
                root = ca.cert.display(),
                key = key.display(),
            ),
        )
        .unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (served, stop, config, dir) =
                (served.clone(), stop.clone(), config.clone(), dir.clone());
            std::thread::spawn(move || {
                for (n, stream) in listener.incoming().enumerate() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    serve(stream, &dir, &config, n, &served);
                }
            })
        };
        Self {
            url: format!("http://{addr}/tsa"),
            root_pem: ca.cert,
            cert_pem: cert,
            config,
            served,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// How many time stamps it has issued so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for OpensslTsa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one HTTP request (the `n`th); counts a time stamp in `served`
/// before sending it.
fn serve(mut stream: TcpStream, dir: &Path, config: &Path, n: usize, served: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = None;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse::<usize>().ok(),
                "content-type" => value.trim().clone_into(&mut content_type),
                _ => {}
            }
        }
    }
    let reply = |stream: &mut TcpStream, status: &str, ctype: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let _ = stream.flush();
        let _ = stream.shutdown(Shutdown::Both);
    };
    if !request_line.starts_with("POST ") {
        reply(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"POST only\n",
        );
        return;
    }
    if content_type != "application/timestamp-query" {
        reply(
            &mut stream,
            "415 Unsupported Media Type",
            "text/plain",
            b"application/timestamp-query only\n",
        );
        return;
    }
    let Some(length) = length.filter(|&l| l <= 1 << 16) else {
        reply(
            &mut stream,
            "411 Length Required",
            "text/plain",
            b"Content-Length needed\n",
        );
        return;
    };
    let mut query = vec![0; length];
    if reader.read_exact(&mut query).is_err() {
        return;
    }
    let tsq = dir.join(format!("request-{n}.tsq"));
    let tsr = dir.join(format!("request-{n}.tsr"));
    std::fs::write(&tsq, &query).unwrap();
    let r = run(
        "openssl",
        &[
            "ts",
            "-reply",
            "-config",
            arg(config),
            "-queryfile",
            arg(&tsq),
            "-out",
            arg(&tsr),
        ],
    );
    if r.code != Some(0) {
        reply(
            &mut stream,
            "500 Internal Server Error",
            "text/plain",
            r.to_string().as_bytes(),
        );
        return;
    }
    let body = std::fs::read(&tsr).unwrap();
    served.fetch_add(1, Ordering::SeqCst);
    reply(&mut stream, "200 OK", "application/timestamp-reply", &body);
}
