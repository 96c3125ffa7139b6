//! The HTTP server as a client sees it: real server, real database file.

mod common;

use bytes::Bytes;
use common::{TestServer, config_for, open_db, request};
use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn healthz_reports_status_version_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, headers, body) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["database"], "ok");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    server.stop().await;
}

fn assert_security_headers(what: &str, headers: &http::HeaderMap) {
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(
        content_type == "application/json" || content_type.contains("charset=utf-8"),
        "{what}: {content_type}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let big = Bytes::from(vec![b'x'; 70 * 1024]);
    let cases = [
        ("200", Method::GET, "/healthz", Bytes::new()),
        ("404", Method::GET, "/nothing/here", Bytes::new()),
        ("405", Method::DELETE, "/healthz", Bytes::new()),
        ("413", Method::POST, "/healthz", big),
    ];
    for (what, method, path, body) in cases {
        let (status, headers, _) = request(server.addr, method, path, &[], body).await;
        assert_eq!(status.as_str(), what);
        assert_security_headers(what, &headers);
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_get_404_and_wrong_methods_405_with_allow() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, _, body) = server.get("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("check the link"), "{body}");

    let (status, headers, body) =
        request(server.addr, Method::POST, "/healthz", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
    assert!(body.contains("use GET, HEAD"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_declared_or_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    // Declared too large in Content-Length.
    let body = Bytes::from(vec![b'a'; 64 * 1024 + 1]);
    let (status, _, text) = request(server.addr, Method::POST, "/healthz", &[], body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text.contains("65536 bytes"), "{text}");

    // Chunked, with no length announced: cut off once it passes the limit.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b'b'; 16 * 1024];
    for _ in 0..5 {
        let head = format!("{:x}\r\n", chunk.len());
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break; // the server may close early; the answer is already there
        }
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Exactly at the limit is fine (and reaches the router: 405 here).
    let body = Bytes::from(vec![b'a'; 64 * 1024]);
    let (status, _, _) = request(server.addr, Method::POST, "/healthz", &[], body).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn huge_headers_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let junk = "x".repeat(100 * 1024);
    let _ = stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-junk: {junk}\r\n\r\n").as_bytes())
        .await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let (status, _, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_restart_reuses_the_secret_and_does_not_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.stop().await;

    let secret_path = dir.path().join("jitsi-app-secret");
    let secret = std::fs::read(&secret_path).unwrap();
    let (version, created): (i64, String) = {
        let db = open_db(dir.path());
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('test-marker', 'kept')",
            [],
        )
        .unwrap();
        (
            db.query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap(),
            db.query_row("SELECT value FROM meta WHERE key = 'created_at'", [], |r| {
                r.get(0)
            })
            .unwrap(),
        )
    };
    assert!(version >= 1);

    let server = TestServer::start(dir.path()).await;
    server.stop().await;
    assert_eq!(
        std::fs::read(&secret_path).unwrap(),
        secret,
        "secret regenerated"
    );
    let db = open_db(dir.path());
    let version_after: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let created_after: String = db
        .query_row("SELECT value FROM meta WHERE key = 'created_at'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let marker: String = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'test-marker'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        (version_after, created_after, marker),
        (version, created, "kept".into())
    );
}

#[tokio::test]
async fn a_database_from_a_newer_bedside_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.stop().await;
    open_db(dir.path())
        .pragma_update(None, "user_version", 999)
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = bedside::run(
        config_for(dir.path(), &[]),
        listener,
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    let message = result.unwrap_err().to_string();
    assert!(message.contains("schema version 999"), "{message}");
    assert!(message.contains("newer bedside"), "{message}");
    let version: i64 = open_db(dir.path())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 999);
}

#[tokio::test]
async fn a_short_configured_secret_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "too-short\n").unwrap();
    let secret = secret.display().to_string();
    let config = config_for(dir.path(), &[("BEDSIDE_JITSI_APP_SECRET_FILE", &secret)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = bedside::run(config, listener, tokio_util::sync::CancellationToken::new()).await;
    let message = result.unwrap_err().to_string();
    assert!(message.starts_with("jitsi.app_secret_file"), "{message}");
    assert!(message.contains("at least 32"), "{message}");
    assert!(
        !dir.path().join("bedside.db").exists()
            || open_db(dir.path())
                .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
                .unwrap()
                == 0
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_database_are_private_to_bedside() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start(&data).await;
    server.stop().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("bedside.db")), 0o600);
    assert_eq!(mode(&data.join("jitsi-app-secret")), 0o600);
}
