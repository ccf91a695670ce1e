//! Development mode, with no SMTP server or no SMS gateway: `/dev/mail` (MAIL-1) and `/dev/sms`
//! (MFA-4) list the mail and texts Sesame wrote to files instead of sending them, newest first.
//! Both answer 404 unless the server enabled them (`dev_mode` and nothing to send through).

use super::context::PageContext;
use crate::AppState;
use crate::error::ErrorCode;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use std::path::Path;

/// How many captured files a page shows.
const SHOWN: usize = 50;

pub(super) async fn mail(State(state): State<AppState>, ctx: PageContext) -> Response {
    let Some(dir) = state.settings().dev_mail_dir.clone() else {
        return ctx.error(ErrorCode::NotFound);
    };
    let extra = context! { mails => captured(&dir), folder => dir.display().to_string() };
    ctx.render("dev_mail.html", "dev", StatusCode::OK, extra)
}

pub(super) async fn sms(State(state): State<AppState>, ctx: PageContext) -> Response {
    let Some(dir) = state.settings().dev_sms_dir.clone() else {
        return ctx.error(ErrorCode::NotFound);
    };
    let extra = context! { texts => captured(&dir), folder => dir.display().to_string() };
    ctx.render("dev_sms.html", "dev", StatusCode::OK, extra)
}

/// The readable `.txt` files of a folder, newest first (by modification time, then name).
fn captured(dir: &Path) -> Vec<String> {
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
        .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
        .collect()
}
