//! Request-size limits at the HTTP layer (issue 20, item 2): an oversized header block gets
//! 431, an oversized request line 414 or 431 and a chunked body over the body limit gets 413, on a raw connection
//! (no client library smoothing anything over).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::{TestServer, fixture, installed};

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
    assert_eq!(server.inbox_len().await, 0);
}

/// Open descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// The soft and hard "Max open files" of a process.
fn nofile_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut fields = line.split_whitespace().skip(3);
    (
        fields.next().expect("soft").to_owned(),
        fields.next().expect("hard").to_owned(),
    )
}

/// The server binary under a soft open-file limit of 1024, with `timeouts` (header and write
/// seconds), logs discarded; returns it with its address once it accepts connections.
async fn spawn_under_1024(
    dir: &std::path::Path,
    (header, write): (u64, u64),
) -> (tokio::process::Child, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", crate::common::free_port())
        .parse()
        .expect("addr");
    let child = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -Sn 1024 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_reference-server"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir)
        .env_remove("REFERENCE_SERVER_STORE")
        .args(["--admin-token", "flood-admin-token"])
        .args(["--header-timeout-secs", &header.to_string()])
        .args(["--write-timeout-secs", &write.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the server");
    let start = std::time::Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, addr)
}

/// A client that pipelines requests and never reads the answers: it writes until a write
/// fails (the server closed the connection), holding the connection meanwhile.
fn pipeliner(mut s: TcpStream) -> tokio::task::JoinHandle<TcpStream> {
    tokio::spawn(async move {
        let requests = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".repeat(1000);
        while s.write_all(&requests).await.is_ok() {}
        s
    })
}

/// Waits until the server's descriptors are back to at most `target`.
async fn fds_return_to(pid: u32, target: usize, within: Duration) {
    let started = std::time::Instant::now();
    while open_fds(pid) > target {
        assert!(
            started.elapsed() < within,
            "descriptors did not return within {within:?}: {} now, {target} expected",
            open_fds(pid)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Issue 20, item 1: the binary started under a soft open-file limit of 1024 takes 3 000 idle
/// connections, 50 clients stuck in their headers and 5 clients that pipeline requests and
/// never read the answers, and still answers a well-behaved client's `/healthz` and webhook
/// within 1 s each; the timeouts then close every one of those connections, so the server's
/// descriptors return to near the start count while the clients still hold theirs.
#[tokio::test]
async fn a_connection_flood_does_not_stop_the_server() {
    if !std::path::Path::new("/proc/self/fd").exists() {
        println!("skipped: a_connection_flood_does_not_stop_the_server: needs /proc (Linux)");
        return;
    }
    let jira = jira_sim::SimulatedJira::start(jira_sim::Config::demo())
        .await
        .expect("simulated Jira");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = spawn_under_1024(dir.path(), (20, 3)).await;
    let pid = child.id().expect("pid");
    let (soft, hard) = nofile_limits(pid);
    assert_eq!(
        soft, hard,
        "the soft open-file limit is raised to the hard one"
    );

    // An integration, installed with the simulated Jira's personal access token.
    let auth = "Bearer flood-admin-token";
    let install = serde_json::json!({"url": jira.base_url(), "token": jira_sim::Config::DEMO_PAT});
    let (status, body) = crate::common::http(
        addr,
        http::Method::POST,
        "/api/v1/integrations/jira-server/install-pat",
        &[
            ("authorization", auth),
            ("content-type", "application/json"),
        ],
        install.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, http::StatusCode::CREATED, "{body:?}");
    let hook = jira.webhooks().pop().expect("a registered webhook").url;
    let webhook_path = hook
        .find("/extensions/")
        .map(|i| hook[i..].to_owned())
        .expect("webhook path");
    let fds_at_start = open_fds(pid);

    // The flood.
    let mut idle = Vec::with_capacity(3000);
    for _ in 0..3000 {
        idle.push(TcpStream::connect(addr).await.expect("idle connection"));
    }
    let mut slow = Vec::with_capacity(50);
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr).await.expect("slow connection");
        s.write_all(format!("POST {webhook_path} HTTP/1.1\r\nhost: x\r\nx-slow: ").as_bytes())
            .await
            .expect("partial head");
        slow.push(s);
    }
    let mut pipeliners = Vec::with_capacity(5);
    for _ in 0..5 {
        let s = TcpStream::connect(addr)
            .await
            .expect("pipelining connection");
        pipeliners.push(pipeliner(s));
    }
    // The server has accepted the whole flood (connections wait in the listen queue until it
    // does, which takes a while for a debug build on a busy machine; the header timeout, 20 s
    // here, must not start closing them before).
    let flooding = std::time::Instant::now();
    while open_fds(pid) < fds_at_start + 3000 {
        assert!(
            flooding.elapsed() < Duration::from_secs(15),
            "the server does not take the flood: {} descriptors",
            open_fds(pid)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A well-behaved client is answered within 1 s.
    let healthz = tokio::time::timeout(
        Duration::from_secs(1),
        crate::common::http(addr, http::Method::GET, "/healthz", &[], Vec::new()),
    )
    .await
    .expect("/healthz within 1 s during the flood");
    assert_eq!(healthz.0, http::StatusCode::OK);
    let webhook = tokio::time::timeout(
        Duration::from_secs(1),
        crate::common::http(
            addr,
            http::Method::POST,
            &webhook_path,
            &[("content-type", "application/json")],
            fixture("test_drop_request_without_changelog.json"),
        ),
    )
    .await
    .expect("a webhook within 1 s during the flood");
    assert_eq!(webhook.0, http::StatusCode::OK);

    // The timeouts close every flooding connection while the clients still hold them.
    fds_return_to(pid, fds_at_start + 10, Duration::from_mins(1)).await;
    drop((idle, slow));
    for p in pipeliners {
        p.abort();
    }
    let _ = child.kill().await;
}

/// A client that pipelines requests and never reads the answers is cut off by the write
/// timeout, long before the header timeout (60 s here) would.
#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_by_the_write_timeout() {
    if !std::path::Path::new("/proc/self/fd").exists() {
        println!(
            "skipped: a_client_that_never_reads_is_cut_off_by_the_write_timeout: needs /proc (Linux)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = spawn_under_1024(dir.path(), (60, 2)).await;
    let started = std::time::Instant::now();
    // The pipeliner's writes block once the server stops reading; they fail (the task ends)
    // only when the server closes the connection.
    let client = pipeliner(TcpStream::connect(addr).await.expect("connect"));
    tokio::time::timeout(Duration::from_secs(15), client)
        .await
        .expect("the server closes the connection within 15 s (header timeout: 60 s)")
        .expect("pipeliner task");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "closed after the write timeout, not before: {:?}",
        started.elapsed()
    );
    let _ = child.kill().await;
}
