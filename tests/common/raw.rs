//! HTTP/1.1 over a bare `TcpStream`: the test writes the request bytes
//! itself, so it can send what no well-behaved client would (bad UTF-8,
//! broken framing, huge headers), and reads whatever comes back without a
//! client library smoothing it over.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest a test waits for one answer: the server answers every
/// request in milliseconds, so this is only reached when it hangs.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// One parsed response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What became of one exchange.
#[derive(Debug)]
pub enum Exchange {
    /// A complete response.
    Answered(RawResponse),
    /// The connection closed (or was reset) before a complete response,
    /// after `got` bytes.
    Dropped { got: Vec<u8>, error: Option<String> },
}

/// Writes `request` (which should say `connection: close`) on a new
/// connection and reads until the server closes. With `hang_up` the
/// client then closes its sending side, as one that gave up half-way
/// does (the only way a truncated request ends). A reset while writing is
/// tolerated (a server may answer and close before it has read a body it
/// refuses); the answer read is what counts.
pub async fn exchange(
    addr: SocketAddr,
    request: &[u8],
    hang_up: bool,
) -> std::io::Result<Exchange> {
    let mut stream = TcpStream::connect(addr).await?;
    let write = async {
        stream.write_all(request).await?;
        if hang_up {
            stream.shutdown().await?;
        }
        Ok::<_, std::io::Error>(())
    }
    .await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut got))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {ANSWER_TIMEOUT:?}"),
            )
        })?;
    let error = match (write, read) {
        (_, Err(e)) => Some(format!("read: {e}")),
        (Err(e), Ok(_)) => Some(format!("write: {e}")),
        _ => None,
    };
    let head = request.starts_with(b"HEAD ");
    Ok(match parse(&got, head) {
        Some(response) => Exchange::Answered(response),
        None => Exchange::Dropped { got, error },
    })
}

/// Parses one complete response (`Content-Length`, chunked, or until the
/// close; no body after `HEAD`); `None` when it is incomplete or not HTTP.
pub fn parse(bytes: &[u8], after_head: bool) -> Option<RawResponse> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let rest = &bytes[end + 4..];
    if head.starts_with("HTTP/1.1 100 ") {
        // `100 Continue`, then the real answer.
        return parse(rest, after_head);
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let body = if after_head || status == 304 || status == 204 {
        Vec::new()
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().ok()?;
        rest.get(..len)?.to_vec()
    } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// A request with `connection: close` and, when `body` is not empty, a
/// correct `content-length`.
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
