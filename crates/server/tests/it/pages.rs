//! The HTML pages (LOGIN-1, LOGIN-5, LOGIN-6, PANEL-1, OPS-4): form tokens and Origin checks,
//! redirects, error pages, languages, email-only subsidiaries and themes. Browser behaviour is
//! covered by `e2e/`; these tests pin the HTTP contract.

use crate::helpers::*;
use reqwest::redirect::Policy;
use reqwest::{Client, Response};

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn csrf_in(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[start..start + 64].to_owned()
}

struct Visitor {
    client: Client,
    base: String,
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Self {
            client: browser(),
            base: app.base.clone(),
        }
    }

    async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    /// Loads the login page and returns its form token.
    async fn token(&self, path: &str) -> String {
        csrf_in(&self.get(path).await.text().await.unwrap())
    }

    /// Posts the login form.
    async fn login_form(&self, login: &str, password: &str, token: &str) -> Response {
        self.post_form("/login", &[("login", login), ("password", password), ("csrf", token)])
            .await
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_login_form_logs_in_and_redirects_home() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let v = Visitor::new(&app);
    let page = v.get("/login").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");
    assert!(
        page.headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let token = csrf_in(&page.text().await.unwrap());
    let done = v
        .post_form(
            "/login",
            &[
                ("login", jane.nic_handle.as_str()),
                ("password", PASSWORD),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/");
    let home = v.get("/").await;
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("id=\"account-name\""), "the name menu");
    assert!(html.contains(jane.nic_handle.as_str()));
    assert!(html.contains("Jane.Doe@Example.com"));
    // The JSON API sees the same session.
    let me = v.get("/api/v1/me").await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn forms_without_a_valid_token_or_from_elsewhere_are_refused() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let v = Visitor::new(&app);
    let token = v.token("/login").await;
    let nic = jane.nic_handle.as_str();
    for fields in [
        vec![("login", nic), ("password", PASSWORD)],
        vec![
            ("login", nic),
            ("password", PASSWORD),
            ("csrf", "0".repeat(64).as_str()),
        ],
    ] {
        let refused = v.post_form("/login", &fields).await;
        assert_eq!(refused.status(), 403);
        assert!(refused.text().await.unwrap().contains("CSRF_REJECTED"));
    }
    // A valid token does not help a request from another site.
    let cross = v
        .client
        .post(format!("{}/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[("login", nic), ("password", PASSWORD), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(cross.text().await.unwrap().contains("CSRF_REJECTED"));
    // A token from another browser (another cookie) is no good either.
    let other = Visitor::new(&app);
    other.token("/login").await;
    let stolen = other.login_form(nic, PASSWORD, &token).await;
    assert_eq!(stolen.status(), 403);
    assert_eq!(v.get("/api/v1/me").await.status(), 401, "no session was opened");
}

#[tokio::test]
async fn after_a_promotion_a_login_asks_for_a_backup_email_first_wherever_it_was_going() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let backup = "jane@backup.example";
    sesame_store::testing::store_verified_backup_email(&app.app.store, jane.id.0, backup).await;
    app.promote_backup(&jane, "T-8").await.unwrap();
    // RECOVER-6: from the login form, to the page it was going to or the control panel.
    for (going, asked) in [
        ("/profile", "/security/backup-email?return_to=%2Fprofile"),
        ("", "/security/backup-email?return_to=%2F"),
    ] {
        let v = Visitor::new(&app);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", going)
            .finish();
        let token = v.token(&format!("/login?{query}")).await;
        let fields = [
            ("login", backup),
            ("password", PASSWORD),
            ("csrf", &token),
            ("return_to", going),
        ];
        let done = v.post_form("/login", &fields).await;
        assert_eq!((done.status().as_u16(), location(&done)), (303, asked.to_owned()));
        let page = v.get(asked).await.text().await.unwrap();
        assert!(page.contains("id=\"backup-required\""));
        let escaped = if going.is_empty() { "/" } else { going }.replace('/', "&#x2f;");
        let kept = format!("name=\"return_to\" value=\"{escaped}\"");
        assert!(page.contains(&kept), "the forms carry it on");
        if going.is_empty() {
            continue;
        }
        // A login grown stale on the way asks for the password again, and comes back here.
        app.advance(11);
        let token = csrf_in(&page);
        let fields = [
            ("csrf", token.as_str()),
            ("email", "jane.new@backup.example"),
            ("return_to", going),
        ];
        let stale = v.post_form("/security/backup-email", &fields).await;
        let back = "/reauth?return_to=%2Fsecurity%2Fbackup-email%3Freturn_to%3D%252Fprofile";
        assert_eq!((stale.status().as_u16(), location(&stale)), (303, back.to_owned()));
    }
}

#[tokio::test]
async fn logout_needs_the_form_token() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let v = Visitor::new(&app);
    let token = v.token("/login").await;
    v.post_form(
        "/login",
        &[
            ("login", jane.nic_handle.as_str()),
            ("password", PASSWORD),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(v.post_form("/logout", &[]).await.status(), 403);
    assert_eq!(v.get("/api/v1/me").await.status(), 200, "still logged in");
    let token = v.token("/").await;
    let out = v.post_form("/logout", &[("csrf", &token)]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/login?logged_out=1");
    assert_eq!(v.get("/api/v1/me").await.status(), 401);
}

#[tokio::test]
async fn return_to_is_honoured_only_for_allowed_places() {
    let app = spawn_app_with(|c| c.login.return_to_origins = vec!["https://panel.example.com".into()]).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    for (asked, landed) in [
        ("https://evil.example/x", "/"),
        ("//evil.example/x", "/"),
        ("/security", "/security"),
        ("https://panel.example.com/bills", "https://panel.example.com/bills"),
    ] {
        let v = Visitor::new(&app);
        let query = format!(
            "/login?return_to={}",
            url::form_urlencoded::byte_serialize(asked.as_bytes()).collect::<String>()
        );
        let html = v.get(&query).await.text().await.unwrap();
        let token = csrf_in(&html);
        let done = v
            .post_form(
                "/login",
                &[
                    ("login", nic),
                    ("password", PASSWORD),
                    ("csrf", &token),
                    ("return_to", asked),
                ],
            )
            .await;
        assert_eq!(location(&done), landed, "{asked}");
        // Chrome and Safari hold a form's redirect to the CSP's form-action: the panel's origin
        // must be there, or the browser stays on the login page.
        let csp = done.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("form-action 'self' https://panel.example.com;"), "{csp}");
    }
    // A logged-out visit to a panel page comes back to it after login.
    let v = Visitor::new(&app);
    let bounce = v.get("/security").await;
    assert_eq!(bounce.status(), 303);
    assert_eq!(location(&bounce), "/login?return_to=%2Fsecurity");
}

#[tokio::test]
async fn failures_render_the_generic_error_with_its_status() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let v = Visitor::new(&app);
    let token = v.token("/login").await;
    let wrong = v
        .post_form(
            "/login",
            &[
                ("login", jane.nic_handle.as_str()),
                ("password", "not the password"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    let unknown = v.login_form("zz12345-ovh", "not the password", &token).await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    assert!(wrong.contains("LOGIN_INVALID_CREDENTIALS"));
    assert_eq!(
        wrong.replace(jane.nic_handle.as_str(), "X"),
        unknown.replace("zz12345-ovh", "X")
    );
    assert!(!wrong.contains("not the password"), "the password is never echoed");

    let held = app.app.services.hasher().occupy_all_slots().await.unwrap();
    let busy = v
        .post_form(
            "/login",
            &[
                ("login", jane.nic_handle.as_str()),
                ("password", PASSWORD),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers().get("retry-after").unwrap(), "1");
    assert!(busy.text().await.unwrap().contains("SERVICE_BUSY"));
    drop(held);
}

#[tokio::test]
async fn malformed_forms_and_unknown_pages_get_error_pages_in_the_visitors_language() {
    let app = spawn_app().await;
    let v = Visitor::new(&app);
    let token = v.token("/login").await;
    let json = v
        .client
        .post(format!("{}/login", app.base))
        .json(&serde_json::json!({"csrf": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 415);
    assert!(json.text().await.unwrap().contains("UNSUPPORTED_CONTENT_TYPE"));
    let huge = "x".repeat(70 * 1024);
    let big = v
        .post_form("/login", &[("login", huge.as_str()), ("csrf", &token)])
        .await;
    assert_eq!(big.status(), 413);
    let bad_utf8 = v
        .client
        .post(format!("{}/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"login=%FF%FE&password=x&csrf=y".to_vec())
        .send()
        .await
        .unwrap();
    assert!(bad_utf8.status().is_client_error(), "{}", bad_utf8.status());

    let missing = v
        .client
        .get(format!("{}/nope", app.base))
        .header("accept-language", "fr-FR")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers().get("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let html = missing.text().await.unwrap();
    assert!(
        html.contains("<html lang=\"fr\">") && html.contains("NOT_FOUND"),
        "{html}"
    );
    let api = v.get("/api/v1/nope").await;
    assert_eq!(
        error_code(api).await,
        (404, "NOT_FOUND".into()),
        "the API keeps JSON errors"
    );
}

#[tokio::test]
async fn languages_follow_the_switcher_the_customer_an_explicit_subsidiary_then_the_browser() {
    let app = spawn_app().await;
    let page = |accept: &'static str, path: &'static str| {
        let client = browser();
        let url = app.url(path);
        async move {
            client
                .get(url)
                .header("accept-language", accept)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(page("fr-CA,fr;q=0.9", "/login").await.contains("<html lang=\"fr\">"));
    // #15 item 6: a subsidiary named explicitly speaks its language, whatever the browser's.
    assert!(
        page("en-US", "/login?subsidiary=FR")
            .await
            .contains("<html lang=\"fr\">")
    );
    // The switcher beats it, and offers the other language on the same address.
    let switched = page("en-US", "/login?subsidiary=FR&lang=en").await;
    assert!(switched.contains("<html lang=\"en\">"));
    assert!(
        switched.contains("login?subsidiary=FR&amp;lang=fr\" lang=\"fr\""),
        "the switcher keeps the page's query"
    );
    let remembered = browser();
    let first = remembered
        .get(app.url("/login?lang=fr"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert!(first.text().await.unwrap().contains("<html lang=\"fr\">"));
    let again = remembered
        .get(app.url("/recover"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert!(
        again.text().await.unwrap().contains("<html lang=\"fr\">"),
        "the choice is remembered"
    );
    assert!(
        page("de-DE", "/login?subsidiary=FR")
            .await
            .contains("<html lang=\"fr\">")
    );
    assert!(page("de-DE", "/login?ovhSubsidiary=asia").await.contains("Asia"));
    assert!(
        page("de-DE", "/login").await.contains("<html lang=\"en\">"),
        "the default subsidiary speaks English"
    );
}

#[tokio::test]
async fn email_only_subsidiaries_take_no_customer_id() {
    let app = spawn_app_with(|c| c.login.email_only_subsidiaries = vec!["GB".into()]).await;
    let jane = app.jane().await;
    let v = Visitor::new(&app);
    let html = v.get("/login?subsidiary=GB").await.text().await.unwrap();
    assert!(html.contains("type=\"email\""));
    let token = csrf_in(&html);
    let nic = v
        .post_form(
            "/login",
            &[
                ("login", jane.nic_handle.as_str()),
                ("password", PASSWORD),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(nic.status(), 401);
    let email = v.login_form("jane.doe@example.com", PASSWORD, &token).await;
    assert_eq!(email.status(), 303);

    // The JSON login honours `?subsidiary=` like the page.
    let json_login = |path: &'static str, login: String| {
        let body = serde_json::json!({"login": login, "password": PASSWORD});
        let url = app.url(path);
        async move { client().post(url).json(&body).send().await.unwrap().status() }
    };
    let nic = jane.nic_handle.as_str().to_owned();
    assert_eq!(json_login("/api/v1/session?subsidiary=GB", nic.clone()).await, 401);
    assert_eq!(json_login("/api/v1/session?ovhSubsidiary=GB", nic.clone()).await, 401);
    assert_eq!(
        json_login("/api/v1/session?subsidiary=GB", "jane.doe@example.com".into()).await,
        200
    );
    assert_eq!(json_login("/api/v1/session", nic).await, 200, "Jane is in France");
    // A customer of an email-only subsidiary logs in by email only, whatever the page.
    let tom = app.account_in("tom@example.co.uk", "Tom", "Hill", "GB").await;
    let tom_nic = tom.nic_handle.as_str().to_owned();
    assert_eq!(json_login("/api/v1/session", tom_nic.clone()).await, 401);
    assert_eq!(json_login("/api/v1/session?subsidiary=FR", tom_nic).await, 401);
    assert_eq!(json_login("/api/v1/session", "tom@example.co.uk".into()).await, 200);
}

#[tokio::test]
async fn a_theme_folder_overrides_templates_and_static_files() {
    let theme = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(theme.path().join("templates")).unwrap();
    std::fs::create_dir_all(theme.path().join("static")).unwrap();
    std::fs::write(
        theme.path().join("templates/recover.html"),
        "<p>Call ACME on {{ subsidiary.phone }}</p>",
    )
    .unwrap();
    std::fs::write(theme.path().join("static/sesame.css"), "body { color: purple }").unwrap();
    let dir = theme.path().to_str().unwrap().to_owned();
    let app = spawn_app_with(|c| {
        c.theme_dir = dir;
        c.support_phones.insert("FR".into(), "+33 1 23 45 67 89".into());
    })
    .await;
    let v = Visitor::new(&app);
    assert_eq!(
        v.get("/recover?subsidiary=FR").await.text().await.unwrap(),
        "<p>Call ACME on +33 1 23 45 67 89</p>"
    );
    let css = v.get("/static/sesame.css").await;
    assert_eq!(css.headers().get("content-type").unwrap(), "text/css; charset=utf-8");
    assert_eq!(css.text().await.unwrap(), "body { color: purple }");
    assert_eq!(
        v.get("/static/logo.svg").await.status(),
        200,
        "the rest of the default theme stays"
    );
    assert_eq!(v.get("/static/..%2Fsecret.key").await.status(), 404);
    let login = v.get("/login").await.text().await.unwrap();
    assert!(
        login.contains("id=\"login\""),
        "templates the theme lacks come from the default theme"
    );
}

#[tokio::test]
async fn a_blocked_customer_is_told_on_the_page_after_the_right_password() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    block(&app, jane.id, true).await;
    let v = Visitor::new(&app);
    let token = v.token("/login").await;
    let page = v
        .post_form(
            "/login",
            &[
                ("login", jane.nic_handle.as_str()),
                ("password", PASSWORD),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("ACCOUNT_BLOCKED"));
}

#[tokio::test]
async fn adding_an_app_in_the_browser_needs_a_fresh_login_and_shows_the_secret_again_after_a_wrong_code() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let v = Visitor::new(&app);
    let token = v.token("/login").await;
    v.login_form(jane.nic_handle.as_str(), PASSWORD, &token).await;
    app.advance(11);
    let token = v.token("/security").await;
    let stale = v.post_form("/security/totp", &[("csrf", &token)]).await;
    assert_eq!(stale.status(), 303);
    assert_eq!(location(&stale), "/reauth?return_to=%2Fsecurity");
    // Every security setting asks the same, login notifications included.
    let silence = v
        .post_form("/security/notifications", &[("csrf", &token), ("enabled", "off")])
        .await;
    assert_eq!(location(&silence), "/reauth?return_to=%2Fsecurity");
    let token = v.token("/reauth?return_to=%2Fsecurity").await;
    let wrong = v
        .post_form(
            "/reauth",
            &[
                ("csrf", &token),
                ("password", "not my password"),
                ("return_to", "/security"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let again = v
        .post_form(
            "/reauth",
            &[("csrf", &token), ("password", PASSWORD), ("return_to", "/security")],
        )
        .await;
    assert_eq!(
        (again.status().as_u16(), location(&again)),
        (303, "/security".to_owned())
    );
    let token = v.token("/security").await;
    let enrol = v
        .post_form("/security/totp", &[("csrf", &token)])
        .await
        .text()
        .await
        .unwrap();
    let secret_at = enrol.find("id=\"totp-secret\">").expect("the secret") + 17;
    let secret = enrol[secret_at..secret_at + 39].to_owned();
    assert_eq!(
        secret.split(' ').count(),
        8,
        "the secret shows in groups of four: {secret}"
    );
    let action_at = enrol.find("action=\"/security/devices/").unwrap() + 8;
    let action = enrol[action_at..].split('"').next().unwrap().to_owned();
    let retry = v.post_form(&action, &[("csrf", &token), ("code", "000000")]).await;
    assert_eq!(retry.status(), 400);
    let html = retry.text().await.unwrap();
    assert!(
        html.contains(&secret) && html.contains("<svg"),
        "the same secret and QR code again"
    );
    assert!(html.contains("SECOND_FACTOR_INVALID"));
}

/// PANEL-3: the profile page shows the profile, saves a change, and keeps what was typed beside
/// the field it refuses.
#[tokio::test]
async fn the_profile_page_saves_a_change_and_shows_a_refusal_beside_its_field() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let v = Visitor::new(&app);
    let anonymous = v.get("/profile").await;
    assert_eq!(
        (anonymous.status().as_u16(), location(&anonymous).as_str()),
        (303, "/login?return_to=%2Fprofile")
    );
    let token = v.token("/login").await;
    v.login_form(jane.nic_handle.as_str(), PASSWORD, &token).await;
    let page = v.get("/profile").await.text().await.unwrap();
    assert!(page.contains("value=\"Jane\"") && page.contains(jane.nic_handle.as_str()));
    let token = csrf_in(&page);
    let form = |first: &'static str, phone: &'static str| {
        vec![
            ("first_name", first),
            ("last_name", "Doe"),
            ("account_type", "individual"),
            ("company_name", ""),
            ("phone", phone),
            ("language", "fr"),
        ]
    };
    let mut refused = form("Janet", "06 12");
    refused.push(("csrf", &token));
    let shown = v.post_form("/profile", &refused).await;
    assert_eq!(shown.status(), 422);
    let shown = shown.text().await.unwrap();
    assert!(
        shown.contains("id=\"phone-error\"") && shown.contains("value=\"06 12\""),
        "{shown}"
    );
    assert!(shown.contains("value=\"Janet\""), "what was typed is kept");
    // An account type the form never offers is refused, not read as an individual.
    let mut crafted = form("Janet", "");
    crafted[2] = ("account_type", "boss");
    crafted.push(("csrf", &token));
    let shown = v.post_form("/profile", &crafted).await;
    assert_eq!(shown.status(), 422);
    let (_, me) = status_json(v.get("/api/v1/me").await).await;
    assert_eq!(me["first_name"], "Jane", "nothing saved");

    let mut good = form("Janet", "+33612345678");
    good.push(("csrf", &token));
    let saved = v.post_form("/profile", &good).await;
    assert_eq!(
        (saved.status().as_u16(), location(&saved).as_str()),
        (303, "/profile?saved=1")
    );
    let page = v.get("/profile?saved=1").await.text().await.unwrap();
    assert!(
        page.contains("id=\"profile-saved\"") && page.contains("Janet Doe"),
        "the header too"
    );
    let forged = v.post_form("/profile", &form("Mallory", "")).await;
    assert_eq!(forged.status(), 403, "no form token, no change");
}
