//! Delivery: SMTP through lettre (plain, STARTTLS or implicit TLS, optional auth, all from one
//! URL), or `.eml` files in a folder when no SMTP server is configured (development). Headers are
//! built by lettre from checked values, never by string concatenation.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sesame_core::mail::ComposedMail;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("setting `smtp_url`: {0}")]
    Url(String),
    #[error("setting `mail_from`: {0:?} is not a mailbox such as \"Sesame <no-reply@example.com>\"")]
    From(String),
}

#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Each message becomes `ID.eml` (and a readable `ID.txt`, and its HTML part as `ID.html`) in
    /// this folder.
    Files(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Transport::Smtp"),
            Self::Files(dir) => f.debug_tuple("Transport::Files").field(dir).finish(),
        }
    }
}

impl Transport {
    pub fn smtp(url: &str) -> Result<Self, TransportError> {
        let builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| TransportError::Url(e.to_string()))?;
        Ok(Self::Smtp(
            builder.timeout(Some(std::time::Duration::from_secs(20))).build(),
        ))
    }

    /// Sends one mail; `Ok` means the SMTP server accepted it (or the file was written).
    pub async fn send(&self, from: &Mailbox, mail: &ComposedMail) -> Result<(), String> {
        let to: Mailbox = mail.recipient.parse().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(mail.message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| format!("message: {e}"))?;
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Self::Files(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
                let stem = format!("{}-{}", mail.created_at.unix_timestamp(), mail.id.simple());
                let readable = format!("To: {}\nSubject: {}\n\n{}", mail.recipient, mail.subject, mail.text);
                tokio::fs::write(dir.join(format!("{stem}.eml")), message.formatted())
                    .await
                    .map_err(|e| e.to_string())?;
                // The HTML part as the customer sees it (`/dev/mail` shows it in a sandbox).
                tokio::fs::write(dir.join(format!("{stem}.html")), &mail.html)
                    .await
                    .map_err(|e| e.to_string())?;
                // Written last: `/dev/mail` lists a mail once its `.txt` is there.
                tokio::fs::write(dir.join(format!("{stem}.txt")), readable)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Parses the `From` mailbox.
pub fn parse_from(from: &str) -> Result<Mailbox, TransportError> {
    if from.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(TransportError::From(from.to_owned()));
    }
    from.parse().map_err(|_| TransportError::From(from.to_owned()))
}
