//! Request-size limits at the HTTP layer (issue 20, item 2): an oversized header block gets
//! 431, an oversized request line 414 or 431 and a chunked body over the body limit gets 413, on a raw connection
//! (no client library smoothing anything over).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::{TestServer, installed};

/// Writes `request` on a fresh connection and returns the status code of the answer.
async fn status_of(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before it has read everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer within 10 s");
    let head = String::from_utf8_lossy(&answer);
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"))
}

const BIG: usize = 70 * 1024;

#[tokio::test]
async fn an_oversized_header_block_gets_431() {
    let server = TestServer::start().await;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "a".repeat(BIG)
    );
    assert_eq!(status_of(server.addr, request.as_bytes()).await, 431);
    // Many small headers adding up to the same size: 431 too.
    let mut many = String::new();
    for i in 0..BIG / 16 {
        let _ = write!(many, "x-h{i}: aaaaaaaa\r\n");
    }
    let request = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    assert_eq!(status_of(server.addr, request.as_bytes()).await, 431);
    // The server still answers a normal request.
    let ok = b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    assert_eq!(status_of(server.addr, ok).await, 200);
}

/// A request target over 64 KiB: 414 URI Too Long (RFC 9110 §15.5.15) from hyper when the
/// target alone is too long, 431 when the head is.
#[tokio::test]
async fn an_oversized_request_line_is_refused() {
    let server = TestServer::start().await;
    let request = format!(
        "GET /healthz?{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "q".repeat(BIG)
    );
    assert_eq!(status_of(server.addr, request.as_bytes()).await, 414);
    // Under hyper's target limit but over the head limit with the headers: 431.
    let request = format!(
        "GET /healthz?{} HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "q".repeat(40 * 1024),
        "a".repeat(30 * 1024)
    );
    assert_eq!(status_of(server.addr, request.as_bytes()).await, 431);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413() {
    let (server, _jira, _id, token) = installed().await;
    let limit = server.state().body_limit;
    // Chunks of 64 KiB until past the limit, no Content-Length: the limit is counted as the
    // body streams in.
    let chunk = "a".repeat(64 * 1024);
    let mut request = format!(
        "POST /extensions/jira-server/issue-updated/{token}/ HTTP/1.1\r\nhost: x\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let mut sent = 0;
    while sent <= limit {
        let _ = write!(request, "{:x}\r\n{chunk}\r\n", chunk.len());
        sent += chunk.len();
    }
    request.push_str("0\r\n\r\n");
    assert_eq!(status_of(server.addr, request.as_bytes()).await, 413);
    assert_eq!(server.inbox_len(), 0);
}
