//! OPS-2, OPS-3: health, readiness, metrics and the OpenAPI document.

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.app.store.close().await;
    let response = app.get("/readyz").await;
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(error_code(response).await, (503, "SERVICE_UNAVAILABLE".into()));
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness does not depend on the database"
    );
}

#[tokio::test]
async fn metrics_count_logins_by_outcome_and_time_requests() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    app.login(jane.nic_handle.as_str(), PASSWORD).await;
    app.login(jane.nic_handle.as_str(), "wrong password here").await;
    app.login("nobody@example.com", "wrong password here").await;
    let response = app.metrics().await;
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("sesame_logins_total{outcome=\"success\"} 1"), "{text}");
    assert!(
        text.contains("sesame_logins_total{outcome=\"invalid_credentials\"} 2"),
        "{text}"
    );
    assert!(
        text.contains(
            "sesame_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/session\",status=\"401\"} 2"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = spawn_app().await;
    let (status, doc) = status_json(app.get("/api/openapi.json").await).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/session"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/session"]["delete"].is_object());
    assert!(doc["paths"]["/api/v1/me"]["get"].is_object());
    // MFA-1..6: every two-factor route, with its status codes.
    for (path, method) in [
        ("/api/v1/session/second-factor", "post"),
        ("/api/v1/session/second-factor/challenge", "post"),
        ("/api/v1/me/2fa", "get"),
        ("/api/v1/me/2fa/security-keys", "post"),
        ("/api/v1/me/2fa/sms", "post"),
        ("/api/v1/me/2fa/devices/{id}/enable", "post"),
        ("/api/v1/me/2fa/devices/{id}/challenge", "post"),
        ("/api/v1/me/2fa/devices/{id}", "delete"),
        ("/api/v1/me/2fa/devices/{id}", "patch"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
    }
    assert!(doc["components"]["schemas"]["LoginRequest"]["properties"]["password"].is_object());
}

#[tokio::test]
async fn metrics_are_not_public_and_their_labels_stay_bounded() {
    // Without a token, the customers' listener has no /metrics at all.
    let closed = spawn_app_with(|c| c.metrics_token = String::new()).await;
    assert_eq!(closed.get("/metrics").await.status(), 404);

    let app = spawn_app().await;
    assert_eq!(app.get("/metrics").await.status(), 401, "no token");
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Made-up methods and long ones add no series and don't grow the page.
    let before = app.metrics().await.text().await.unwrap().len();
    for n in 0..50 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{n}{}", "X".repeat(2000)).as_bytes()).unwrap();
        app.client.request(method, app.url("/api/v1/me")).send().await.unwrap();
    }
    let page = app.metrics().await.text().await.unwrap();
    assert!(!page.contains("MADEUP"), "raw methods are never labels");
    assert!(page.contains("method=\"other\""), "{page}");
    assert!(page.len() < before + 5_000, "{} then {}", before, page.len());

    // Prometheus scrapes its own listener (loopback by default), which serves nothing else.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scrape = format!("http://{}", listener.local_addr().unwrap());
    let serving = app.app.clone();
    tokio::spawn(async move { serving.serve_metrics(listener, std::future::pending()).await });
    let metrics = client().get(format!("{scrape}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("sesame_logins_total"));
    let other = client().get(format!("{scrape}/api/v1/me")).send().await.unwrap();
    assert_eq!(other.status(), 404);
}
