//! A hostile or broken "Jira": a raw TCP peer on 127.0.0.1 that answers every request with an
//! oversized or never-ending body, for the tests of the clients' size limit and timeout.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use jira_sim::hostile::{HostileAnswer, HostileJira};
//! let jira = HostileJira::start(HostileAnswer::Trickle).await?;
//! // point a client at jira.uri(): its call must time out, not hang.
//! # let _ = jira.uri(); Ok(()) }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How a [`HostileJira`] answers every request (any method, any path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostileAnswer {
    /// 200 with a `Content-Length` of this many bytes (spaces), then that many bytes.
    Declared(usize),
    /// 200, chunked, no length: 64 KiB chunks for ever (until the client hangs up).
    Endless,
    /// 200 with a `Content-Length` of 1 MiB, then one byte every 50 ms for ever.
    Trickle,
}

/// The peer; stops accepting when dropped.
#[derive(Debug)]
pub struct HostileJira {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HostileJira {
    /// Listens on 127.0.0.1 (a free port) and answers every connection with `answer`.
    pub async fn start(answer: HostileAnswer) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, answer));
            }
        });
        Ok(Self { addr, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HostileJira {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the request head (up to the blank line), then answers.
async fn serve(mut stream: TcpStream, answer: HostileAnswer) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let _ = write_answer(&mut stream, answer).await;
}

async fn write_answer(stream: &mut TcpStream, answer: HostileAnswer) -> std::io::Result<()> {
    const CHUNK: usize = 64 * 1024;
    match answer {
        HostileAnswer::Declared(len) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; CHUNK];
            let mut left = len;
            while left > 0 {
                let n = left.min(CHUNK);
                stream.write_all(&chunk[..n]).await?;
                left -= n;
            }
        }
        HostileAnswer::Endless => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await?;
            let mut chunk = format!("{CHUNK:x}\r\n").into_bytes();
            chunk.extend(std::iter::repeat_n(b' ', CHUNK));
            chunk.extend_from_slice(b"\r\n");
            loop {
                stream.write_all(&chunk).await?;
            }
        }
        HostileAnswer::Trickle => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1048576\r\n\r\n[")
                .await?;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                stream.write_all(b" ").await?;
            }
        }
    }
    Ok(())
}
