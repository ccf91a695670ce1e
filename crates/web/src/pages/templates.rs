//! Templates and messages. The default theme (templates, static files) is embedded in the binary;
//! a theme folder (`theme_dir`) overrides any template (`templates/NAME`) or static file
//! (`static/NAME`), as Keycloak themes do. Messages come from one catalog per language
//! (`locales/*.toml`); templates call `t("key", name=value)`. A missing key fails the render, so
//! the template test catches it instead of a customer.

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every template of the default theme.
pub const TEMPLATES: [(&str, &str); 42] = [
    ("unlock.html", include_str!("../../templates/unlock.html")),
    ("totp_enrol.html", include_str!("../../templates/totp_enrol.html")),
    ("backup_codes.html", include_str!("../../templates/backup_codes.html")),
    ("reauth.html", include_str!("../../templates/reauth.html")),
    ("second_factor.html", include_str!("../../templates/second_factor.html")),
    ("lost_2fa.html", include_str!("../../templates/lost_2fa.html")),
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("recover.html", include_str!("../../templates/recover.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("profile.html", include_str!("../../templates/profile.html")),
    (
        "profile_fields.html",
        include_str!("../../templates/profile_fields.html"),
    ),
    ("security.html", include_str!("../../templates/security.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("form_error.html", include_str!("../../templates/form_error.html")),
    ("field_error.html", include_str!("../../templates/field_error.html")),
    ("signup_start.html", include_str!("../../templates/signup_start.html")),
    (
        "signup_account.html",
        include_str!("../../templates/signup_account.html"),
    ),
    ("signup_verify.html", include_str!("../../templates/signup_verify.html")),
    (
        "signup_profile.html",
        include_str!("../../templates/signup_profile.html"),
    ),
    (
        "signup_password.html",
        include_str!("../../templates/signup_password.html"),
    ),
    ("dev_mail.html", include_str!("../../templates/dev_mail.html")),
    ("dev_sms.html", include_str!("../../templates/dev_sms.html")),
    ("sms_enrol.html", include_str!("../../templates/sms_enrol.html")),
    ("email_code.html", include_str!("../../templates/email_code.html")),
    ("not_me.html", include_str!("../../templates/not_me.html")),
    (
        "password_fields.html",
        include_str!("../../templates/password_fields.html"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/password_reset.html"),
    ),
    (
        "password_change.html",
        include_str!("../../templates/password_change.html"),
    ),
    ("backup_email.html", include_str!("../../templates/backup_email.html")),
    ("email_change.html", include_str!("../../templates/email_change.html")),
    ("link_action.html", include_str!("../../templates/link_action.html")),
    (
        "recovery_request.html",
        include_str!("../../templates/recovery_request.html"),
    ),
    ("logged_in.html", include_str!("../../templates/logged_in.html")),
    ("support_login.html", include_str!("../../templates/support_login.html")),
    ("support_key.html", include_str!("../../templates/support_key.html")),
    (
        "support_invite.html",
        include_str!("../../templates/support_invite.html"),
    ),
    ("support_nav.html", include_str!("../../templates/support_nav.html")),
    ("support_home.html", include_str!("../../templates/support_home.html")),
    (
        "support_reason.html",
        include_str!("../../templates/support_reason.html"),
    ),
    (
        "support_account.html",
        include_str!("../../templates/support_account.html"),
    ),
    (
        "support_request.html",
        include_str!("../../templates/support_request.html"),
    ),
];

const STATIC: [(&str, &[u8]); 9] = [
    ("tz.js", include_bytes!("../../static/tz.js")),
    ("codes.js", include_bytes!("../../static/codes.js")),
    ("menu.js", include_bytes!("../../static/menu.js")),
    ("strength.js", include_bytes!("../../static/strength.js")),
    ("support.js", include_bytes!("../../static/support.js")),
    ("reveal.js", include_bytes!("../../static/reveal.js")),
    ("webauthn.js", include_bytes!("../../static/webauthn.js")),
    ("sesame.css", include_bytes!("../../static/sesame.css")),
    ("logo.svg", include_bytes!("../../static/logo.svg")),
];

/// The languages Sesame speaks, first the default.
pub const LANGUAGES: [(&str, &str); 2] = [
    ("en", include_str!("../../locales/en.toml")),
    ("fr", include_str!("../../locales/fr.toml")),
];

type Catalogs = HashMap<&'static str, HashMap<String, String>>;

/// The settings the texts quote (`{sms_code_valid}` in a message becomes "5 minutes" by default),
/// so that a page says what the server does.
#[derive(Debug, Clone, Copy)]
pub struct Quoted {
    /// MFA-4.
    pub sms_code: time::Duration,
    /// RECOVER-1.
    pub reset_link: time::Duration,
    /// SIGNUP-1.
    pub signup_code: time::Duration,
    /// RECOVER-4.
    pub change_delay: time::Duration,
    /// RECOVER-5, in MB.
    pub document_mb: usize,
    /// PWD-2, in characters.
    pub password_min: usize,
    pub password_max: usize,
}

impl Default for Quoted {
    fn default() -> Self {
        let limits = sesame_core::limits::Limits::default();
        Self {
            sms_code: limits.sms_code_ttl,
            reset_link: limits.reset_link_ttl,
            signup_code: sesame_core::service::SignupSettings::default().code_ttl,
            change_delay: limits.unreachable_delay,
            document_mb: limits.document_max_bytes / (1024 * 1024),
            password_min: sesame_core::types::PasswordPolicy::default().min_chars,
            password_max: sesame_core::types::PasswordPolicy::default().max_chars,
        }
    }
}

impl Quoted {
    /// Fills the settings a message quotes, in its language.
    fn fill(&self, lang: &str, message: &str) -> String {
        let span = |d| sesame_core::mail::span(lang, d);
        let mut out = message.to_owned();
        for (name, value) in [
            ("{sms_code_valid}", span(self.sms_code)),
            ("{reset_link_valid}", span(self.reset_link)),
            ("{signup_code_valid}", span(self.signup_code)),
            ("{change_delay}", span(self.change_delay)),
            ("{document_mb}", self.document_mb.to_string()),
            ("{password_min}", self.password_min.to_string()),
            ("{password_max}", self.password_max.to_string()),
        ] {
            if out.contains(name) {
                out = out.replace(name, &value);
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("message catalog {0}: {1}")]
    Catalog(&'static str, String),
}

/// The template environment and static files, built once at start-up.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    theme_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("theme_dir", &self.theme_dir)
            .finish_non_exhaustive()
    }
}

/// A file name a theme may override: plain names only, nothing that could leave the folder.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn from_theme(theme_dir: Option<&Path>, sub: &str, name: &str) -> Option<Vec<u8>> {
    let path = theme_dir?.join(sub).join(name);
    safe_name(name).then(|| std::fs::read(path).ok()).flatten()
}

impl Templates {
    pub fn new(theme_dir: Option<PathBuf>, quoted: Quoted) -> Result<Self, ThemeError> {
        let catalogs = Arc::new(load_catalogs()?);
        let mut env = Environment::new();
        let dir = theme_dir.clone();
        env.set_loader(move |name| {
            if let Some(bytes) = from_theme(dir.as_deref(), "templates", name) {
                return String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("{name}: {e}")));
            }
            Ok(TEMPLATES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, src)| (*src).to_owned()))
        });
        // For the new-password fields: the strength meter's rule.
        env.add_global("password_min", quoted.password_min);
        env.add_function("t", move |state: &State, key: &str, kwargs: Kwargs| {
            translate(&catalogs, &quoted, state, key, &kwargs)
        });
        Ok(Self {
            env: Arc::new(env),
            theme_dir,
        })
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, Error> {
        self.env.get_template(name)?.render(ctx)
    }

    /// A static file of the theme, or of the default theme.
    pub fn static_file(&self, name: &str) -> Option<Vec<u8>> {
        from_theme(self.theme_dir.as_deref(), "static", name)
            .or_else(|| STATIC.iter().find(|(n, _)| *n == name).map(|(_, b)| b.to_vec()))
    }
}

fn load_catalogs() -> Result<Catalogs, ThemeError> {
    LANGUAGES
        .iter()
        .map(|(lang, text)| {
            let map: HashMap<String, String> =
                toml::from_str(text).map_err(|e| ThemeError::Catalog(lang, e.to_string()))?;
            Ok((*lang, map))
        })
        .collect()
}

fn translate(catalogs: &Catalogs, quoted: &Quoted, state: &State, key: &str, kwargs: &Kwargs) -> Result<String, Error> {
    let lang = state
        .lookup("lang")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let message = catalogs.get(lang.as_str()).and_then(|c| c.get(key)).ok_or_else(|| {
        Error::new(
            ErrorKind::UndefinedError,
            format!("no message {key:?} in language {lang:?}"),
        )
    })?;
    let mut out = quoted.fill(&lang, message);
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn sample(lang: &str, page: &str) -> Value {
        context! {
            lang => lang,
            brand => "Sesame",
            page => page,
            csrf => "token",
            subsidiary => context! { code => "FR", name => "France", phone => "+33 9 72 10 10 10" },
            account => context! {
                first_name => "Élodie", last_name => "Ørsted", email => "e@example.com",
                nic_handle => "eo12345-ovh", customer_code => "1234-567-89",
            },
            login => "eo12345-ovh",
            return_to => "/security",
            email_only => false,
            error => "invalid",
            error_code => "NOT_FOUND",
            session_started => "2026-11-25 09:00",
            login_notifications => true,
            saved => true,
            countries => vec![context! { code => "FR", name => "France" }],
            languages => vec![context! { code => "fr", name => "Français" }],
            currencies => vec!["EUR"],
            country => "FR", language => "fr", currency => "EUR",
            email => "e@example.com", flow => "0190a0a0-0000-7000-8000-000000000000",
            error_field => "email", notice => "signup.resent",
            first_name => "Élodie", last_name => "Ørsted", account_type => "company",
            company_name => "Ørsted SA", phone => "+33612345678",
            folder => "/tmp/mail", mails => vec![context! { text => "To: e@example.com", html => "/dev/mail/1-x" }],
            title_key => "login.title", message_key => "login.logged_in", texts => vec!["To: +33612345678"],
            twofa_enabled => true, backup_codes_left => 3, backup_codes_low => true,
            apps => vec![context! { id => "x", description => "Phone", created => "2026-11-25", last_used => "2026-11-26" }],
            id => "0190a0a0-0000-7000-8000-000000000000", secret => "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            qr_svg => "<svg></svg>", codes => vec!["abcde-12345"], filename => "backup-codes-jd12345-ovh.txt", date => "25 November 2026",
            done => false, token => "abc", kind => "confirm", nic => "jd12345-ovh", valid => true, sent => true,
            pending => context! { id => "x", email => "jane@new.example", reachable => true },
            backup => "j•••@example.org", status_name => "draft", documents => 1, max => 3, flow => "x",
            fixed => context! { country => "France", currency => "EUR", region => "France" },
            state => "active",
            method => "totp", others => vec![context! { method => "backup_code", href => "/login/x?method=backup_code" }],
        }
    }

    #[test]
    fn every_template_renders_in_every_language() {
        let templates = Templates::new(None, Quoted::default()).unwrap();
        for (lang, _) in LANGUAGES {
            let partial = |n: &str| {
                matches!(
                    n,
                    "form_error.html"
                        | "field_error.html"
                        | "password_fields.html"
                        | "profile_fields.html"
                        | "support_nav.html"
                        | "support_reason.html"
                )
            };
            for (name, _) in TEMPLATES.iter().filter(|(n, _)| !partial(n)) {
                let html = templates
                    .render(name, sample(lang, name))
                    .unwrap_or_else(|e| panic!("{name} in {lang}: {e:#}"));
                assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{name} in {lang}");
                let inline = html
                    .match_indices("<script")
                    .any(|(i, _)| !html[i..].starts_with("<script src=\"/static/"));
                assert!(!inline, "{name}: scripts only from /static/, never inline");
                assert!(!html.contains("style="), "{name}: no inline style");
            }
        }
    }

    #[test]
    fn every_language_has_every_message() {
        let catalogs = load_catalogs().unwrap();
        let en = &catalogs["en"];
        for (lang, catalog) in &catalogs {
            for key in en.keys() {
                assert!(catalog.contains_key(key), "{lang} lacks {key}");
            }
            assert_eq!(catalog.len(), en.len(), "{lang} has keys English lacks");
        }
    }

    #[test]
    fn pages_quote_the_settings_not_the_defaults() {
        let quoted = Quoted {
            sms_code: time::Duration::minutes(7),
            document_mb: 4,
            password_min: 16,
            password_max: 200,
            ..Quoted::default()
        };
        let templates = Templates::new(None, quoted).unwrap();
        let sms = templates.render("sms_enrol.html", sample("en", "security")).unwrap();
        assert!(sms.contains("It is valid for 7 minutes."), "{sms}");
        let request = templates
            .render("recovery_request.html", sample("fr", "recover"))
            .unwrap();
        assert!(request.contains("4 Mo au plus"), "{request}");
        let too_long = templates
            .env
            .render_str(r#"{{ t("error.PASSWORD_TOO_LONG") }}"#, context! { lang => "en" })
            .unwrap();
        assert!(too_long.contains("at most 200 characters"), "{too_long}");
        let hint = templates
            .env
            .render_str(r#"{{ t("signup.password_hint") }}"#, context! { lang => "fr" })
            .unwrap();
        assert!(hint.starts_with("Au moins 16 caractères"), "{hint}");
        let field = templates
            .render("password_change.html", sample("en", "security"))
            .unwrap();
        assert!(field.contains(r#"data-min="16""#), "{field}");
        let defaults = Templates::new(None, Quoted::default()).unwrap();
        let intro = defaults
            .env
            .render_str(r#"{{ t("recover.intro") }}"#, context! { lang => "fr" })
            .unwrap();
        assert!(intro.contains("pendant 1 heure,"), "{intro}");
    }

    #[test]
    fn every_error_code_has_a_message_in_every_language() {
        let templates = Templates::new(None, Quoted::default()).unwrap();
        for (lang, _) in LANGUAGES {
            for code in crate::error::ErrorCode::ALL {
                let ctx = context! { error_code => code.as_str(), ..sample(lang, "error") };
                templates
                    .render("error.html", ctx)
                    .unwrap_or_else(|e| panic!("{} in {lang}: {e:#}", code.as_str()));
            }
        }
    }

    #[test]
    fn every_security_event_has_a_name_in_every_language() {
        let templates = Templates::new(None, Quoted::default()).unwrap();
        let events: Vec<_> = sesame_core::audit::AuditKind::ALL
            .iter()
            .map(|k| context! { at => "2026-11-25 10:00", kind => k.as_str(), success => true, ip => "192.0.2.1", device => "x" })
            .collect();
        for (lang, _) in LANGUAGES {
            let ctx = context! { events => &events, ..sample(lang, "security") };
            templates
                .render("security.html", ctx)
                .unwrap_or_else(|e| panic!("security.html in {lang}: {e:#}"));
        }
    }

    #[test]
    fn values_are_escaped_and_placeholders_filled() {
        let templates = Templates::new(None, Quoted::default()).unwrap();
        // Earlier values win when contexts merge.
        let ctx = context! { login => "<script>alert(1)</script>", ..sample("en", "login") };
        let html = templates.render("login.html", ctx).unwrap();
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("&lt;script&gt;"));
        let home = templates.render("home.html", sample("fr", "home")).unwrap();
        assert!(home.contains("Bienvenue, Élodie"), "{home}");
    }

    #[test]
    fn a_theme_folder_overrides_templates_and_static_files_but_not_outside_paths() {
        let dir = std::env::temp_dir().join(format!("sesame-theme-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::create_dir_all(dir.join("static")).unwrap();
        std::fs::write(dir.join("templates/recover.html"), "custom {{ t('recover.title') }}").unwrap();
        std::fs::write(dir.join("static/sesame.css"), "body{}").unwrap();
        let templates = Templates::new(Some(dir.clone()), Quoted::default()).unwrap();
        let html = templates.render("recover.html", sample("fr", "recover")).unwrap();
        assert_eq!(html, "custom Identifiant client ou mot de passe oublié ?");
        assert_eq!(templates.static_file("sesame.css").unwrap(), b"body{}");
        assert!(templates.static_file("logo.svg").is_some());
        assert!(templates.static_file("../templates/recover.html").is_none());
        assert!(templates.static_file(".hidden").is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
