//! OPS-4: cross-site requests are refused; every response carries the security headers.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let body = json!({"login": jane.nic_handle.as_str(), "password": PASSWORD});
    let post = |headers: &[(&str, &str)]| {
        let mut req = client().post(app.url("/api/v1/session")).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site"), ("origin", app.base.as_str())],
        vec![("sec-fetch-site", "none"), ("origin", "https://evil.example")],
    ] {
        let got = error_code(post(&headers).await.unwrap()).await;
        assert_eq!(got, (403, "CSRF_REJECTED".into()), "{headers:?}");
    }
    // Our own origin, and non-browser clients (no Origin, no Sec-Fetch-Site), pass.
    assert_eq!(post(&[("origin", app.base.as_str())]).await.unwrap().status(), 200);
    assert_eq!(post(&[("sec-fetch-site", "same-origin")]).await.unwrap().status(), 200);
    assert_eq!(post(&[]).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_cross_site_logout_is_refused_and_the_session_survives() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    app.login(jane.nic_handle.as_str(), PASSWORD).await;
    let evil = app
        .client
        .delete(app.url("/api/v1/session"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(evil).await, (403, "CSRF_REJECTED".into()));
    assert_eq!(app.get("/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/me",
        "/healthz",
        "/metrics",
        "/api/openapi.json",
        "/no/such/page",
    ] {
        let response = app.get(path).await;
        let h = response.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{path}");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
        let permissions = h.get("permissions-policy").unwrap().to_str().unwrap();
        assert!(
            permissions.contains("camera=()") && permissions.contains("publickey-credentials-get=(self)"),
            "{path}"
        );
        assert!(h.get("strict-transport-security").is_none(), "no HSTS over plain http");
    }
    let me = app.get("/api/v1/me").await;
    assert_eq!(me.headers().get("cache-control").unwrap(), "no-store");
}

/// Every file under `dir`, with its permission bits.
fn modes(dir: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        out.push((path.display().to_string(), mode));
        if path.is_dir() {
            out.extend(modes(&path));
        }
    }
    out
}

#[tokio::test]
async fn everything_sesame_writes_is_private_to_it() {
    use std::os::unix::fs::PermissionsExt;
    let db = sesame_store::testing::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    // A data directory made by an operator with the usual 0755.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = spawn_on(db, dir, |_| {}).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    assert!(app.deliver().await.sent > 0, "mail written as files (no SMTP here)");
    let data = app.dir.path();
    let mode = std::fs::metadata(data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the data directory");
    let written = modes(data);
    assert!(written.iter().any(|(p, _)| p.ends_with(".eml")), "{written:?}");
    assert!(written.iter().any(|(p, _)| p.ends_with("secret.key")), "{written:?}");
    for (path, mode) in written {
        let expected = if std::path::Path::new(&path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(mode, expected, "{path}");
    }
}

/// Reads until the server closes the connection (or `within` passes); what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let closed = tokio::time::timeout(within, stream.read_to_end(&mut got)).await;
    closed.ok().map(|_| String::from_utf8_lossy(&got).into_owned())
}

async fn slow_app(max_connections: usize) -> TestApp {
    spawn_app_with(|c| {
        c.http.header_timeout_secs = 1;
        c.http.body_timeout_secs = 1;
        c.http.max_connections = max_connections;
    })
    .await
}

#[tokio::test]
async fn slow_and_idle_clients_are_disconnected() {
    use tokio::io::AsyncWriteExt;
    let app = slow_app(64).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // The server's own deadline closes each of these; this bound only keeps a broken test short.
    let bound = std::time::Duration::from_secs(20);

    // Half the headers, then nothing.
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(
        read_until_closed(&mut half, bound).await.is_some(),
        "closed mid-headers"
    );

    // A keep-alive connection left idle after its request.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = read_until_closed(&mut idle, bound).await.expect("closed when idle");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");

    // One byte of a promised body, then nothing.
    let mut body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    body.write_all(
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let answered = read_until_closed(&mut body, bound).await.expect("closed mid-body");
    assert!(!answered.contains(" 500 "), "a clear error, never a 500: {answered}");
}

#[tokio::test]
async fn a_crowd_of_idle_sockets_cannot_starve_the_server() {
    let app = slow_app(4).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Five times the cap, all silent: the cap holds them back, the deadline frees the slots.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let health = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(idle);
}

/// SESS-1: a cookie whose name is percent-encoded (`sesame%5Fsession`) is another cookie for every
/// reader of the session cookie (API, pages, logout): one planted by a sibling site can't stand in
/// for the session's, nor make a logout end the wrong session.
#[tokio::test]
async fn a_percent_encoded_cookie_name_is_not_the_session_cookie() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let mine = session_cookie(&app.login(jane.nic_handle.as_str(), PASSWORD).await);
    let joe = app.account("joe@example.com", "Joe", "Bloggs").await;
    let theirs = session_cookie(&app.login(joe.nic_handle.as_str(), PASSWORD).await);
    let planted = theirs.replacen("sesame_session=", "sesame%5Fsession=", 1);
    let both = format!("{mine}; {planted}");
    let raw = reqwest::Client::new();
    let get = |path: &str, cookie: &str| raw.get(app.url(path)).header("cookie", cookie.to_owned()).send();

    let (status, body) = status_json(get("/api/v1/session", &both).await.unwrap()).await;
    assert_eq!(
        (status, body["nic_handle"].as_str()),
        (200, Some(jane.nic_handle.as_str()))
    );
    let page = get("/", &both).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Jane") && !html.contains("Joe"), "the page is Jane's");

    let logout = raw
        .delete(app.url("/api/v1/session"))
        .header("cookie", both.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(
        get("/api/v1/session", &mine).await.unwrap().status(),
        401,
        "Jane's session ended"
    );
    assert_eq!(
        get("/api/v1/session", &theirs).await.unwrap().status(),
        200,
        "the planted one did not"
    );
}
