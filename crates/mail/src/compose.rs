//! Rendering mails from the embedded templates (`templates/KIND.LANG.txt` and `.html`). The first
//! line of the text template is `Subject: …`. Header values are checked here (no CR, LF or NUL;
//! the recipient must parse as an address) and the headers themselves are built by lettre.

use lettre::Address;
use minijinja::{Environment, Value, context};
use sesame_core::factor::Method;
use sesame_core::mail::{
    CodePurpose, ComposeError, ComposedMail, LinkPurpose, MailComposer, MailKind, MailRequest, Notice, SupportAction,
};
use sesame_core::types::when;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use url::Url;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every mail template.
pub const TEMPLATES: [(&str, &str); 29] = templates![
    "contact_code.en.txt",
    "contact_code.en.html",
    "contact_code.fr.txt",
    "contact_code.fr.html",
    "login_code.en.txt",
    "login_code.en.html",
    "login_code.fr.txt",
    "login_code.fr.html",
    "security_notice.en.txt",
    "security_notice.en.html",
    "security_notice.fr.txt",
    "security_notice.fr.html",
    "layout.html",
    "signup_code.en.txt",
    "signup_code.en.html",
    "signup_code.fr.txt",
    "signup_code.fr.html",
    "signup_exists.en.txt",
    "signup_exists.en.html",
    "signup_exists.fr.txt",
    "signup_exists.fr.html",
    "welcome.en.txt",
    "welcome.en.html",
    "welcome.fr.txt",
    "welcome.fr.html",
    "login_notification.en.txt",
    "login_notification.en.html",
    "login_notification.fr.txt",
    "login_notification.fr.html",
];

/// Languages with mail templates; others get English.
const LANGUAGES: [&str; 2] = ["en", "fr"];

#[derive(Debug, Clone)]
pub struct ComposerSettings {
    pub brand: String,
    /// Links are built from this alone, never from request headers (MAIL-1).
    pub public_url: Url,
    pub support_phones: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Composer {
    env: Environment<'static>,
    settings: ComposerSettings,
}

impl Composer {
    pub fn new(settings: ComposerSettings) -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // Embedded templates are checked by the test that renders them all; a broken one
            // shows up as a compose error, never a panic.
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(name, %err, "mail template does not parse");
            }
        }
        Self { env, settings }
    }

    fn link(&self, path: &str) -> String {
        self.settings
            .public_url
            .join(path)
            .map(|u| u.to_string())
            .unwrap_or_default()
    }
}

/// Title and body of each security notice (MFA-2, MFA-5, MFA-6, MFA-7).
fn notice_text(notice: Notice, lang: &str) -> (&'static str, &'static str) {
    let fr = lang == "fr";
    match (notice, fr) {
        (Notice::PasswordUsed, false) => (
            "Your password was used",
            "Someone entered your correct password, then three wrong two-factor codes. If it was not you, change your password now.",
        ),
        (Notice::PasswordUsed, true) => (
            "Votre mot de passe a été utilisé",
            "Quelqu’un a saisi votre mot de passe correct, puis trois codes de double authentification erronés. Si ce n’était pas vous, changez votre mot de passe maintenant.",
        ),
        (Notice::TotpReplayed, false) => (
            "A two-factor code was reused",
            "A code from your authenticator app was entered a second time. It was refused: each code works once.",
        ),
        (Notice::TotpReplayed, true) => (
            "Un code de double authentification a été réutilisé",
            "Un code de votre application d’authentification a été saisi une deuxième fois. Il a été refusé : chaque code ne sert qu’une fois.",
        ),
        (Notice::BackupCodeUsed { .. }, false) => (
            "A backup code was used",
            "One of your backup codes was just used to log in. It will not work again.",
        ),
        (Notice::BackupCodeUsed { .. }, true) => (
            "Un code de secours a été utilisé",
            "Un de vos codes de secours vient de servir à vous connecter. Il ne fonctionnera plus.",
        ),
        (Notice::TwoFactorEnabled, false) => (
            "Two-factor authentication is on",
            "Two-factor authentication is now on for your account. Keep your backup codes in a safe place.",
        ),
        (Notice::TwoFactorEnabled, true) => (
            "La double authentification est activée",
            "La double authentification est maintenant activée sur votre compte. Gardez vos codes de secours en lieu sûr.",
        ),
        (Notice::TwoFactorDisabled, false) => (
            "Two-factor authentication is off",
            "Your last two-factor method was removed: two-factor authentication is off and your backup codes were deleted.",
        ),
        (Notice::TwoFactorDisabled, true) => (
            "La double authentification est désactivée",
            "Votre dernière méthode de double authentification a été supprimée : la double authentification est désactivée et vos codes de secours ont été supprimés.",
        ),
        (Notice::DeviceAdded(Method::Totp), false) => (
            "An authenticator app was added",
            "A new authenticator app can now be used to log in to your account.",
        ),
        (Notice::DeviceAdded(Method::Totp), true) => (
            "Une application d’authentification a été ajoutée",
            "Une nouvelle application d’authentification peut désormais servir à vous connecter.",
        ),
        (Notice::DeviceAdded(Method::SecurityKey), false) => (
            "A security key was added",
            "A new security key can now be used to log in to your account.",
        ),
        (Notice::DeviceAdded(Method::SecurityKey), true) => (
            "Une clé de sécurité a été ajoutée",
            "Une nouvelle clé de sécurité peut désormais servir à vous connecter.",
        ),
        (Notice::DeviceAdded(_), false) => (
            "A phone was added for SMS codes",
            "Codes sent by SMS to a new phone number can now be used to log in to your account.",
        ),
        (Notice::DeviceAdded(_), true) => (
            "Un téléphone a été ajouté pour les codes par SMS",
            "Les codes envoyés par SMS à un nouveau numéro peuvent désormais servir à vous connecter.",
        ),
        (Notice::DeviceRemoved(Method::Totp), false) => (
            "An authenticator app was removed",
            "An authenticator app was removed from your account. Two-factor authentication stays on.",
        ),
        (Notice::DeviceRemoved(Method::Totp), true) => (
            "Une application d’authentification a été supprimée",
            "Une application d’authentification a été retirée de votre compte. La double authentification reste activée.",
        ),
        (Notice::DeviceRemoved(Method::SecurityKey), false) => (
            "A security key was removed",
            "A security key was removed from your account. Two-factor authentication stays on.",
        ),
        (Notice::DeviceRemoved(Method::SecurityKey), true) => (
            "Une clé de sécurité a été supprimée",
            "Une clé de sécurité a été retirée de votre compte. La double authentification reste activée.",
        ),
        (Notice::DeviceRemoved(_), false) => (
            "A phone was removed",
            "A phone number for SMS codes was removed from your account. Two-factor authentication stays on.",
        ),
        (Notice::DeviceRemoved(_), true) => (
            "Un téléphone a été supprimé",
            "Un numéro de téléphone pour les codes par SMS a été retiré de votre compte. La double authentification reste activée.",
        ),
        (Notice::DeviceRenamed(_), false) => (
            "A two-factor device was renamed",
            "One of your two-factor devices was given a new description.",
        ),
        (Notice::DeviceRenamed(_), true) => (
            "Un appareil de double authentification a été renommé",
            "Un de vos appareils de double authentification a reçu une nouvelle description.",
        ),
        (Notice::IpRulesChanged, false) => (
            "Your IP restriction changed",
            "The list of addresses allowed to log in to your account was changed.",
        ),
        (Notice::IpRulesChanged, true) => (
            "Votre restriction IP a changé",
            "La liste des adresses autorisées à se connecter à votre compte a été modifiée.",
        ),
        (Notice::IpLoginAlert { denied: true }, false) => (
            "A login was refused by your IP restriction",
            "Someone gave your correct password from an address your IP restriction refuses. The login was refused.",
        ),
        (Notice::IpLoginAlert { denied: true }, true) => (
            "Une connexion a été refusée par votre restriction IP",
            "Quelqu’un a saisi votre mot de passe correct depuis une adresse que votre restriction IP refuse. La connexion a été refusée.",
        ),
        (Notice::IpLoginAlert { denied: false }, false) => (
            "A login from a watched address",
            "Someone gave your correct password from an address for which you asked to be alerted.",
        ),
        (Notice::IpLoginAlert { denied: false }, true) => (
            "Une connexion depuis une adresse surveillée",
            "Quelqu’un a saisi votre mot de passe correct depuis une adresse pour laquelle vous avez demandé une alerte.",
        ),
        (Notice::BackupCodesRegenerated, false) => (
            "New backup codes",
            "A new set of backup codes was generated; the previous codes no longer work.",
        ),
        (Notice::BackupCodesRegenerated, true) => (
            "Nouveaux codes de secours",
            "Un nouveau jeu de codes de secours a été généré ; les anciens codes ne fonctionnent plus.",
        ),
        (Notice::PasswordChanged, false) => (
            "Your password was changed",
            "The password of your account was changed from your security page. Your other sessions were ended.",
        ),
        (Notice::PasswordChanged, true) => (
            "Votre mot de passe a été modifié",
            "Le mot de passe de votre compte a été modifié depuis votre page sécurité. Vos autres sessions ont été fermées.",
        ),
        (Notice::PasswordReset, false) => (
            "Your password was reset",
            "The password of your account was reset with a link sent to your email address. Every session was ended; two-factor authentication, if on, is still asked at login.",
        ),
        (Notice::PasswordReset, true) => (
            "Votre mot de passe a été réinitialisé",
            "Le mot de passe de votre compte a été réinitialisé grâce à un lien envoyé à votre adresse email. Toutes les sessions ont été fermées ; la double authentification, si elle est activée, reste demandée à la connexion.",
        ),
        (Notice::BackupEmailAdded, false) => (
            "A backup email was added",
            "A backup email address was confirmed for your account. If you lose access to your main mailbox, support can make it your login email.",
        ),
        (Notice::BackupEmailAdded, true) => (
            "Une adresse email de secours a été ajoutée",
            "Une adresse email de secours a été confirmée pour votre compte. Si vous perdez l’accès à votre boîte principale, le support peut en faire votre email de connexion.",
        ),
        (Notice::BackupEmailRemoved, false) => (
            "Your backup email was removed",
            "Your account no longer has a backup email address.",
        ),
        (Notice::BackupEmailRemoved, true) => (
            "Votre adresse email de secours a été supprimée",
            "Votre compte n’a plus d’adresse email de secours.",
        ),
        (Notice::PrimaryEmailChanged, false) => (
            "Your email address changed",
            "The main email address of your account changed. Logins and mails now use the new address; the old one no longer logs in.",
        ),
        (Notice::PrimaryEmailChanged, true) => (
            "Votre adresse email a changé",
            "L’adresse email principale de votre compte a changé. Les connexions et les emails utilisent désormais la nouvelle adresse ; l’ancienne ne permet plus de se connecter.",
        ),
        (Notice::EmailChangeCancelled, false) => (
            "The email change was cancelled",
            "The change of your account’s main email address was cancelled. Nothing changed.",
        ),
        (Notice::EmailChangeCancelled, true) => (
            "Le changement d’adresse email a été annulé",
            "Le changement de l’adresse email principale de votre compte a été annulé. Rien n’a changé.",
        ),
        (Notice::BackupEmailPromoted, false) => (
            "Your backup email is now your main email",
            "Our support team made your backup email address the main email address of your account. At your next login you will be asked for a new backup email.",
        ),
        (Notice::BackupEmailPromoted, true) => (
            "Votre email de secours est devenu votre email principal",
            "Notre support a fait de votre adresse email de secours l’adresse principale de votre compte. À votre prochaine connexion, une nouvelle adresse de secours vous sera demandée.",
        ),
        (Notice::RecoveryRequestReceived, false) => (
            "Your request is waiting for our support team",
            "Your request to switch off two-factor authentication is confirmed. Our support team will check your documents and email you the decision.",
        ),
        (Notice::RecoveryRequestReceived, true) => (
            "Votre demande attend notre support",
            "Votre demande de désactivation de la double authentification est confirmée. Notre support va vérifier vos documents et vous enverra sa décision par email.",
        ),
        (Notice::RecoveryRequestExpired, false) => (
            "Your request expired without a decision",
            "Your request to switch off two-factor authentication was not decided in time, so it has expired and your documents were deleted. Two-factor authentication stays on. If you still can't use your devices, send a new request from the login page.",
        ),
        (Notice::RecoveryRequestExpired, true) => (
            "Votre demande a expiré sans décision",
            "Votre demande de désactivation de la double authentification n’a pas été traitée à temps : elle a expiré et vos documents ont été supprimés. La double authentification reste active. Si vous ne pouvez toujours pas utiliser vos appareils, envoyez une nouvelle demande depuis la page de connexion.",
        ),
        (Notice::NotificationsOff, false) => (
            "Login notifications are off",
            "Someone switched off the emails we send at each login to your account. This is the last one until they are switched on again on your security page.",
        ),
        (Notice::NotificationsOff, true) => (
            "Les notifications de connexion sont désactivées",
            "Quelqu’un a désactivé les emails envoyés à chaque connexion à votre compte. Celui-ci est le dernier, jusqu’à leur réactivation sur votre page de sécurité.",
        ),
    }
}

/// Title, text and call to action of a single-use link (RECOVER-1, RECOVER-4, RECOVER-5).
fn link_text(purpose: LinkPurpose, lang: &str, valid_for: &str) -> (&'static str, String, &'static str) {
    let fr = lang == "fr";
    match (purpose, fr) {
        (LinkPurpose::PasswordReset, false) => (
            "Reset your password",
            format!("Someone (hopefully you) asked to reset the password of your account. Choose a new one with this link, valid for {valid_for} and once. You will need your customer ID, shown below. If you did not ask, ignore this mail: your password stays as it is."),
            "Choose a new password:",
        ),
        (LinkPurpose::PasswordReset, true) => (
            "Réinitialisez votre mot de passe",
            format!("Quelqu’un (vous, espérons-le) a demandé à réinitialiser le mot de passe de votre compte. Choisissez-en un nouveau avec ce lien, valable {valid_for} et une seule fois. Votre identifiant client, rappelé ci-dessous, vous sera demandé. Si vous n’avez rien demandé, ignorez cet email : votre mot de passe reste inchangé."),
            "Choisir un nouveau mot de passe :",
        ),
        (LinkPurpose::EmailChangeCancel { applies_at }, false) => (
            "Your email address is about to change",
            format!(
                "A change of your account's main email address was confirmed by someone who said this address can no longer be reached. It applies on {} unless you cancel it with this link. If you did not ask for it, cancel it and change your password.",
                when(applies_at, lang)
            ),
            "Cancel the change:",
        ),
        (LinkPurpose::EmailChangeCancel { applies_at }, true) => (
            "Votre adresse email va changer",
            format!(
                "Un changement de l’adresse email principale de votre compte a été confirmé par quelqu’un qui indique que cette adresse n’est plus joignable. Il s’appliquera le {} sauf si vous l’annulez avec ce lien. Si vous n’êtes pas à l’origine de cette demande, annulez-la et changez votre mot de passe.",
                when(applies_at, lang)
            ),
            "Annuler le changement :",
        ),
        (LinkPurpose::RecoveryConfirm, false) => (
            "Confirm your request",
            "A request to switch off two-factor authentication on your account was sent with identity documents. Confirm it with this link (valid for 24 hours) so that our support team reviews it. If you did not send it, do not click: change your password instead.".into(),
            "Confirm the request:",
        ),
        (LinkPurpose::RecoveryConfirm, true) => (
            "Confirmez votre demande",
            "Une demande de désactivation de la double authentification de votre compte a été envoyée avec des pièces d’identité. Confirmez-la avec ce lien (valable 24 heures) pour que notre support l’examine. Si vous ne l’avez pas envoyée, ne cliquez pas : changez plutôt votre mot de passe.".into(),
            "Confirmer la demande :",
        ),
    }
}

/// Title and text of what the support desk did (SUPPORT-5), with the agent's first name (none
/// when an operator acted from the command line).
fn support_text(action: SupportAction, agent: &str, lang: &str) -> (&'static str, String) {
    let fr = lang == "fr";
    let who = match (agent.is_empty(), fr) {
        (true, false) => "Our support team".to_owned(),
        (true, true) => "Notre support".to_owned(),
        (false, false) => format!("{agent} from our support team"),
        (false, true) => format!("{agent}, de notre support,"),
    };
    match (action, fr) {
        (SupportAction::Blocked, false) => (
            "Your account was blocked",
            format!("{who} blocked your account: nobody can log in to it and its sessions were ended."),
        ),
        (SupportAction::Blocked, true) => (
            "Votre compte a été bloqué",
            format!("{who} a bloqué votre compte : personne ne peut s’y connecter et ses sessions ont été fermées."),
        ),
        (SupportAction::Unblocked, false) => (
            "Your account was unblocked",
            format!("{who} unblocked your account: you can log in again."),
        ),
        (SupportAction::Unblocked, true) => (
            "Votre compte a été débloqué",
            format!("{who} a débloqué votre compte : vous pouvez de nouveau vous connecter."),
        ),
        (SupportAction::Unlocked, false) => (
            "Logins to your account were unlocked",
            format!("{who} lifted the pause on logins and codes that too many wrong attempts had caused."),
        ),
        (SupportAction::Unlocked, true) => (
            "Les connexions à votre compte ont été débloquées",
            format!("{who} a levé la suspension des connexions et des codes causée par trop d’essais erronés."),
        ),
        (SupportAction::SessionsEnded, false) => (
            "Your sessions were ended",
            format!("{who} ended every session of your account. Log in again."),
        ),
        (SupportAction::SessionsEnded, true) => (
            "Vos sessions ont été fermées",
            format!("{who} a fermé toutes les sessions de votre compte. Reconnectez-vous."),
        ),
        (SupportAction::TwoFactorOff, false) => (
            "Two-factor authentication is off",
            format!(
                "{who} approved your request: two-factor authentication is off, your devices and backup codes were deleted, and so were your documents. Log in with your password and set up two-factor authentication again."
            ),
        ),
        (SupportAction::TwoFactorOff, true) => (
            "La double authentification est désactivée",
            format!(
                "{who} a accepté votre demande : la double authentification est désactivée, vos appareils et codes de secours ont été supprimés, ainsi que vos documents. Connectez-vous avec votre mot de passe et réactivez la double authentification."
            ),
        ),
        (SupportAction::RequestRejected, false) => (
            "Your request was refused",
            format!(
                "{who} refused your request to switch off two-factor authentication. Your documents were deleted. The reason:"
            ),
        ),
        (SupportAction::RequestRejected, true) => (
            "Votre demande a été refusée",
            format!(
                "{who} a refusé votre demande de désactivation de la double authentification. Vos documents ont été supprimés. La raison :"
            ),
        ),
    }
}

/// What a contact code proves, in a sentence (RECOVER-3, RECOVER-4).
fn code_text(purpose: CodePurpose, lang: &str) -> &'static str {
    match (purpose, lang == "fr") {
        (CodePurpose::BackupEmail, false) => "To make this address the backup email of your account, enter this code:",
        (CodePurpose::BackupEmail, true) => {
            "Pour faire de cette adresse l’email de secours de votre compte, saisissez ce code :"
        }
        (CodePurpose::NewPrimary, false) => "To make this address the main email of your account, enter this code:",
        (CodePurpose::NewPrimary, true) => {
            "Pour faire de cette adresse l’email principal de votre compte, saisissez ce code :"
        }
        (CodePurpose::CurrentPrimary, false) => {
            "Someone asked to replace this address as the main email of your account. To agree, enter this code:"
        }
        (CodePurpose::CurrentPrimary, true) => {
            "Quelqu’un a demandé à remplacer cette adresse comme email principal de votre compte. Pour accepter, saisissez ce code :"
        }
    }
}

fn unsafe_in_header(value: &str) -> bool {
    value.chars().any(|c| matches!(c, '\r' | '\n' | '\0'))
}

impl MailComposer for Composer {
    fn compose(&self, req: &MailRequest, now: OffsetDateTime) -> Result<ComposedMail, ComposeError> {
        if unsafe_in_header(&req.to) || req.to.parse::<Address>().is_err() {
            return Err(ComposeError::UnsafeHeader("recipient".into()));
        }
        // Values that subjects show: refused outright rather than trusted to the line split.
        let shown = [req.first_name.as_deref(), req.nic_handle.as_deref()];
        if shown.into_iter().flatten().any(unsafe_in_header) {
            return Err(ComposeError::UnsafeHeader("name or customer ID".into()));
        }
        let lang = LANGUAGES.iter().copied().find(|l| *l == req.language).unwrap_or("en");
        let sub = sesame_core::types::subsidiary(&req.subsidiary);
        let (footer_nic, footer_support) = match lang {
            "fr" => ("Votre identifiant client :", "Support :"),
            _ => ("Your customer ID:", "Support:"),
        };
        let mut values = context! {
            lang => lang,
            brand => &self.settings.brand,
            subsidiary_name => sub.map(|s| s.name),
            support_phone => sub.and_then(|s| self.settings.support_phones.get(s.code)),
            public_url => self.settings.public_url.as_str(),
            login_url => self.link("/login"),
            security_url => self.link("/security"),
            first_name => &req.first_name,
            nic_handle => &req.nic_handle,
            footer_nic => footer_nic,
            footer_support => footer_support,
            // How long the mail's code or link works, as the settings say (e.g. "10 minutes").
            valid_for => req.expires_at.map(|at| sesame_core::mail::span(lang, at - now)),
        };
        match &req.kind {
            MailKind::SignupCode { code } => values = context! { code => code, ..values },
            MailKind::LoginCode { code, ip, device } => {
                values = context! { code => code, ip => ip, device => device, ..values }
            }
            MailKind::LoginNotification {
                at,
                ip,
                device,
                not_me_url,
            } => {
                values = context! {
                    at => when(*at, lang), ip => ip, device => device,
                    not_me_url => not_me_url, ..values
                }
            }
            MailKind::SecurityNotice(notice, event) => {
                let (title, body) = notice_text(*notice, lang);
                let left = match notice {
                    Notice::BackupCodeUsed { left } => *left,
                    _ => i64::MAX,
                };
                let warning = (left <= 3).then(|| match lang {
                    "fr" => format!("Il ne vous reste que {left} codes de secours : générez-en de nouveaux."),
                    _ => format!("Only {left} backup codes are left: generate a new set."),
                });
                let (greeting, action) = match lang {
                    "fr" => ("Bonjour", "Si ce n’était pas vous, sécurisez votre compte :"),
                    _ => ("Hello", "If this was not you, secure your account:"),
                };
                values = context! { title => title, body => body, warning => warning, greeting => greeting, action => action, ..values };
                if let Some(event) = event {
                    values = context! {
                        event_at => when(event.at, lang), event_ip => &event.ip, event_device => &event.device,
                        not_me_url => &event.not_me_url, ..values
                    };
                }
            }
            MailKind::UnlockLink { url, passwords } => {
                let (title, body, action) = match (lang, passwords) {
                    ("fr", false) => (
                        "Les codes de double authentification sont bloqués",
                        "Trop de codes erronés ont été saisis sur votre compte : plus aucun code n’est accepté. Si c’était vous, débloquez-les avec ce lien (valable 24 heures), puis changez votre mot de passe si vous ne l’avez pas saisi vous-même :",
                        "Débloquer :",
                    ),
                    ("fr", true) => (
                        "Connexions depuis de nouveaux appareils suspendues",
                        "Trop de mots de passe erronés ont été essayés sur votre compte : les connexions depuis des appareils qui ne s’y sont jamais connectés sont suspendues. Vos appareils habituels fonctionnent toujours. Si c’était vous, levez la suspension avec ce lien (valable 24 heures) ; sinon, changez votre mot de passe :",
                        "Lever la suspension :",
                    ),
                    (_, false) => (
                        "Two-factor codes are locked",
                        "Too many wrong codes were entered on your account, so no code is accepted any more. Unlock them with this link (valid for 24 hours), and change your password if you did not type it yourself:",
                        "Unlock:",
                    ),
                    (_, true) => (
                        "Logins from new devices are paused",
                        "Too many wrong passwords were tried on your account, so logins from devices that never logged in to it are paused. Your usual devices still work. If it was you, lift the pause with this link (valid for 24 hours); if not, change your password:",
                        "Lift the pause:",
                    ),
                };
                let greeting = if lang == "fr" { "Bonjour" } else { "Hello" };
                values = context! { title => title, body => body, greeting => greeting, action => action, security_url => url, ..values };
            }
            MailKind::AccountLink { purpose, url } => {
                let valid_for = req
                    .expires_at
                    .map(|at| sesame_core::mail::span(lang, at - now))
                    .unwrap_or_default();
                let (title, body, action) = link_text(*purpose, lang, &valid_for);
                let greeting = if lang == "fr" { "Bonjour" } else { "Hello" };
                values = context! { title => title, body => body, greeting => greeting, action => action, security_url => url, ..values };
            }
            MailKind::ContactCode { code, purpose } => {
                values = context! { code => code, purpose_text => code_text(*purpose, lang), ..values };
            }
            MailKind::SupportNotice { action, agent, reason } => {
                let (title, body) = support_text(*action, agent, lang);
                let (greeting, action) = match lang {
                    "fr" => (
                        "Bonjour",
                        "Si vous n’êtes pas à l’origine de cette demande, appelez notre support et sécurisez votre compte :",
                    ),
                    _ => (
                        "Hello",
                        "If you did not ask for this, call our support team and secure your account:",
                    ),
                };
                values = context! { title => title, body => body, warning => reason, greeting => greeting, action => action, ..values };
            }
            MailKind::AgentInvitation { url } => {
                let (title, body, action) = match lang {
                    "fr" => (
                        "Invitation au support",
                        "Vous êtes invité(e) à rejoindre la console du support. Choisissez un mot de passe et enregistrez votre clé de sécurité avec ce lien, valable 72 heures et une seule fois :",
                        "Accepter :",
                    ),
                    _ => (
                        "Support desk invitation",
                        "You are invited to the support console. Choose a password and register your security key with this link, valid for 72 hours and once:",
                        "Accept:",
                    ),
                };
                let greeting = if lang == "fr" { "Bonjour" } else { "Hello" };
                values = context! { title => title, body => body, greeting => greeting, action => action, security_url => url, ..values };
            }
            MailKind::SignupExists | MailKind::Welcome => {}
        }
        let name = req.kind.template();
        let render = |ext: &str, ctx: Value| {
            self.env
                .get_template(&format!("{name}.{lang}.{ext}"))
                .and_then(|t| t.render(ctx))
                .map_err(|e| ComposeError::Template(format!("{e:#}")))
        };
        let text = render("txt", values.clone())?;
        let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first.strip_prefix("Subject: ").unwrap_or(first).trim().to_owned();
        if subject.is_empty() || unsafe_in_header(&subject) {
            return Err(ComposeError::UnsafeHeader("subject".into()));
        }
        let html = render("html", context! { subject => &subject, ..values })?;
        let id = sesame_core::types::new_id(now);
        let host = self.settings.public_url.host_str().unwrap_or("localhost");
        Ok(ComposedMail {
            id,
            message_id: format!("<{}@{host}>", id.simple()),
            recipient: req.to.clone(),
            template: name.to_owned(),
            language: lang.to_owned(),
            subject,
            text: body.trim_start_matches('\n').to_owned(),
            html,
            sensitive: req.kind.sensitive(),
            account_id: req.account_id,
            created_at: now,
            expires_at: req.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn composer() -> Composer {
        Composer::new(ComposerSettings {
            brand: "Sesame".into(),
            public_url: Url::parse("https://login.example.com").unwrap(),
            support_phones: [("FR".to_owned(), "+33 9 72 10 10 10".to_owned())].into(),
        })
    }

    fn request(kind: MailKind, lang: &str) -> MailRequest {
        MailRequest {
            kind,
            to: "jane@example.com".into(),
            language: lang.into(),
            subsidiary: "FR".into(),
            account_id: None,
            first_name: Some("Jane".into()),
            nic_handle: Some("jd12345-ovh".into()),
            expires_at: None,
        }
    }

    fn event() -> sesame_core::mail::EventContext {
        sesame_core::mail::EventContext {
            at: datetime!(2026-11-25 10:00 UTC),
            ip: Some("192.0.2.1".into()),
            device: "Firefox 120 · Linux".into(),
            not_me_url: "https://login.example.com/not-me?token=abc".into(),
        }
    }

    #[test]
    fn codes_and_links_say_how_long_they_work_as_set() {
        let now = datetime!(2026-11-25 10:00 UTC);
        let reset = MailKind::AccountLink {
            purpose: LinkPurpose::PasswordReset,
            url: "https://login.example.com/password-reset/abc".into(),
        };
        let mut req = request(reset, "en");
        req.expires_at = Some(now + time::Duration::minutes(30));
        let mail = composer().compose(&req, now).unwrap();
        assert!(mail.text.contains("valid for 30 minutes and once"), "{}", mail.text);
        let mut req = request(MailKind::SignupCode { code: "123456".into() }, "fr");
        req.expires_at = Some(now + time::Duration::minutes(20));
        let mail = composer().compose(&req, now).unwrap();
        assert!(mail.text.contains("Il est valable 20 minutes."), "{}", mail.text);
        assert!(mail.html.contains("Il est valable 20 minutes."), "{}", mail.html);
    }

    #[test]
    fn a_security_notice_says_when_from_where_and_how_to_stop_it() {
        for (lang, when, device) in [
            ("en", "25 November 2026, 10:00 UTC", "Device: Firefox 120 · Linux"),
            ("fr", "25 novembre 2026 à 10:00 UTC", "Appareil : Firefox 120 · Linux"),
        ] {
            let mail = composer()
                .compose(
                    &request(MailKind::SecurityNotice(Notice::TwoFactorDisabled, Some(event())), lang),
                    datetime!(2026-11-25 10:00 UTC),
                )
                .unwrap();
            let text = mail.text.replace('\u{a0}', " ");
            assert!(text.contains(when), "{text}");
            assert!(text.contains("192.0.2.1") && text.contains(device), "{text}");
            assert!(text.contains("https://login.example.com/not-me?token=abc"), "{text}");
            assert!(mail.html.contains("not-me?token=abc\">"), "a link: {}", mail.html);
        }
    }

    fn kinds() -> Vec<MailKind> {
        vec![
            MailKind::SecurityNotice(Notice::BackupCodeUsed { left: 2 }, None),
            MailKind::SecurityNotice(Notice::PasswordUsed, Some(event())),
            MailKind::UnlockLink {
                url: "https://login.example.com/unlock?token=abc".into(),
                passwords: false,
            },
            MailKind::UnlockLink {
                url: "https://login.example.com/unlock?token=abc".into(),
                passwords: true,
            },
            MailKind::SignupCode { code: "042917".into() },
            MailKind::LoginCode {
                code: "042917".into(),
                ip: "192.0.2.1".into(),
                device: "Firefox 120 · Linux".into(),
            },
            MailKind::SignupExists,
            MailKind::Welcome,
            MailKind::SecurityNotice(Notice::PasswordReset, None),
            MailKind::AccountLink {
                purpose: LinkPurpose::PasswordReset,
                url: "https://login.example.com/password-reset/abc".into(),
            },
            MailKind::AccountLink {
                purpose: LinkPurpose::EmailChangeCancel {
                    applies_at: datetime!(2026-11-26 10:00 UTC),
                },
                url: "https://login.example.com/email-change/cancel?token=abc".into(),
            },
            MailKind::AccountLink {
                purpose: LinkPurpose::RecoveryConfirm,
                url: "https://login.example.com/recovery/confirm?token=abc".into(),
            },
            MailKind::ContactCode {
                code: "042917".into(),
                purpose: CodePurpose::CurrentPrimary,
            },
            MailKind::SupportNotice {
                action: SupportAction::RequestRejected,
                agent: "Alice".into(),
                reason: Some("The document is unreadable.".into()),
            },
            MailKind::LoginNotification {
                at: datetime!(2026-11-25 10:00 UTC),
                ip: "192.0.2.1".into(),
                device: "Firefox 120 · Linux".into(),
                not_me_url: "https://login.example.com/not-me?token=abc".into(),
            },
        ]
    }

    #[test]
    fn a_backup_code_notice_warns_when_three_or_fewer_are_left() {
        let kind = MailKind::SecurityNotice(Notice::BackupCodeUsed { left: 2 }, None);
        let m = composer()
            .compose(&request(kind, "en"), datetime!(2026-11-25 10:00 UTC))
            .unwrap();
        assert!(m.text.contains("Only 2 backup codes are left"), "{}", m.text);
        let kind = MailKind::SecurityNotice(Notice::BackupCodeUsed { left: 4 }, None);
        let m = composer()
            .compose(&request(kind, "fr"), datetime!(2026-11-25 10:00 UTC))
            .unwrap();
        assert!(!m.text.contains("codes de secours :"), "{}", m.text);
    }

    #[test]
    fn every_mail_renders_in_both_languages_with_text_and_html() {
        let c = composer();
        for lang in ["en", "fr"] {
            for kind in kinds() {
                let m = c
                    .compose(&request(kind.clone(), lang), datetime!(2026-11-25 10:00 UTC))
                    .unwrap();
                assert!(!m.subject.is_empty() && !m.subject.contains('\n'));
                assert!(!m.text.starts_with("Subject"), "{}", m.text);
                assert!(m.html.contains(&format!("<html lang=\"{lang}\">")));
                assert!(m.html.contains("Sesame"));
                assert!(m.html.contains("+33 9 72 10 10 10"), "support phone of the subsidiary");
                assert!(m.message_id.ends_with("@login.example.com>"));
                if kind != (MailKind::SignupCode { code: "042917".into() }) {
                    assert!(
                        m.text.contains("jd12345-ovh") || m.subject.contains("jd12345-ovh"),
                        "{}",
                        m.template
                    );
                    assert!(m.html.contains("jd12345-ovh"));
                }
            }
        }
    }

    #[test]
    fn the_code_is_six_contiguous_digits_in_the_text() {
        let code = MailKind::SignupCode { code: "042917".into() };
        let m = composer()
            .compose(&request(code, "en"), datetime!(2026-11-25 10:00 UTC))
            .unwrap();
        assert!(m.text.lines().any(|l| l.trim() == "042917"));
        assert!(m.sensitive);
    }

    #[test]
    fn links_come_from_the_public_url() {
        let m = composer()
            .compose(&request(MailKind::Welcome, "fr"), datetime!(2026-11-25 10:00 UTC))
            .unwrap();
        assert!(m.text.contains("https://login.example.com/login"));
        assert_eq!(m.language, "fr");
        let other = composer()
            .compose(&request(MailKind::Welcome, "pl"), datetime!(2026-11-25 10:00 UTC))
            .unwrap();
        assert_eq!(other.language, "en", "languages without templates get English");
    }

    #[test]
    fn header_injection_is_refused() {
        let mut r = request(MailKind::Welcome, "en");
        r.to = "jane@example.com\r\nBcc: x@evil.example".into();
        assert!(matches!(
            composer().compose(&r, datetime!(2026-11-25 10:00 UTC)),
            Err(ComposeError::UnsafeHeader(_))
        ));
        let mut r = request(MailKind::Welcome, "en");
        r.nic_handle = Some("x\r\nBcc: x@evil.example".into());
        assert!(matches!(
            composer().compose(&r, datetime!(2026-11-25 10:00 UTC)),
            Err(ComposeError::UnsafeHeader(_))
        ));
    }

    #[test]
    fn values_are_escaped_in_html() {
        let mut r = request(MailKind::Welcome, "en");
        r.first_name = Some("<b>Jane</b>".into());
        let m = composer().compose(&r, datetime!(2026-11-25 10:00 UTC)).unwrap();
        assert!(m.html.contains("&lt;b&gt;Jane"));
    }
}
