//! Development mode, with no SMTP server or no SMS gateway: `/dev/mail` (MAIL-1) and `/dev/sms`
//! (MFA-4) list the mail and texts Sesame wrote to files instead of sending them, newest first.
//! Both answer 404 unless the server enabled them (`dev_mode` and nothing to send through).

use super::context::PageContext;
use crate::AppState;
use crate::error::ErrorCode;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;

/// How many captured files a page shows.
const SHOWN: usize = 50;

pub(super) async fn mail(State(state): State<AppState>, ctx: PageContext) -> Response {
    let Some(dir) = state.settings().dev_mail_dir.clone() else {
        return ctx.error(ErrorCode::NotFound);
    };
    let mails: Vec<_> = captured(&dir)
        .into_iter()
        .map(|(stem, text)| {
            let html = dir
                .join(format!("{stem}.html"))
                .exists()
                .then(|| format!("/dev/mail/{stem}"));
            context! { text, html }
        })
        .collect();
    let extra = context! { mails, folder => dir.display().to_string() };
    ctx.render("dev_mail.html", "dev", StatusCode::OK, extra)
}

/// The HTML part of one captured mail, for the sandboxed frame of `/dev/mail`: no script, no
/// form, no request anywhere but inline styles and data images, framed only by our own page.
pub(super) async fn mail_html(State(state): State<AppState>, Path(stem): Path<String>, ctx: PageContext) -> Response {
    let Some(dir) = state.settings().dev_mail_dir.clone() else {
        return ctx.error(ErrorCode::NotFound);
    };
    let safe = !stem.is_empty() && stem.len() <= 64 && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let Some(html) = safe
        .then(|| std::fs::read_to_string(dir.join(format!("{stem}.html"))).ok())
        .flatten()
    else {
        return ctx.error(ErrorCode::NotFound);
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
            ),
            (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
        ],
        html,
    )
        .into_response()
}

pub(super) async fn sms(State(state): State<AppState>, ctx: PageContext) -> Response {
    let Some(dir) = state.settings().dev_sms_dir.clone() else {
        return ctx.error(ErrorCode::NotFound);
    };
    let texts: Vec<_> = captured(&dir).into_iter().map(|(_, text)| text).collect();
    let extra = context! { texts, folder => dir.display().to_string() };
    ctx.render("dev_sms.html", "dev", StatusCode::OK, extra)
}

/// The readable `.txt` files of a folder with their stems, newest first (by modification time,
/// then name).
fn captured(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).ok(), p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .rev()
        .take(SHOWN)
        .filter_map(|(_, p)| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            Some((stem, std::fs::read_to_string(p).ok()?))
        })
        .collect()
}
