//! A real SMTP server for the tests: aiosmtpd (Python), storing each message in a Maildir that the
//! tests read back. Not a mock of Sesame's mail code: lettre talks SMTP to it over TCP.

use std::path::PathBuf;
use std::process::Stdio;
use tokio::process::{Child, Command};

pub struct Smtp {
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
    child: Option<Child>,
    /// While stopped, the port stays bound (not listening: connections are refused), so a server
    /// another test starts meanwhile can't take it and receive this test's mail.
    hold: Option<socket2::Socket>,
}

/// A message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
}

impl Received {
    /// The first line of the text part that is exactly six digits (the sign-up code).
    pub fn code(&self) -> String {
        self.text
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .expect("a code")
            .to_owned()
    }
}

impl Smtp {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut smtp = Self {
            port,
            maildir: dir.path().join("Maildir"),
            _dir: dir,
            child: None,
            hold: None,
        };
        smtp.restart().await;
        smtp
    }

    /// Starts the server (again) on the same port and Maildir.
    pub async fn restart(&mut self) {
        self.hold = None;
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        self.child = Some(child);
        // Wait for the server to accept connections: polling an external process is the only
        // way to know it is up (this waits for readiness, not for time to pass).
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                let ours = self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none());
                assert!(
                    ours,
                    "aiosmtpd could not take port {}: another server has it",
                    self.port
                );
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("aiosmtpd did not start on port {}", self.port);
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
        // Bound without SO_REUSEADDR and without listening: refused connections, and no other
        // socket may bind the port.
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], self.port).into();
        self.hold = socket.bind(&addr.into()).is_ok().then_some(socket);
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
        files
            .iter()
            .map(|path| {
                let raw = std::fs::read(path).unwrap();
                let msg = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a MIME message");
                let to = msg
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned();
                Received {
                    to,
                    subject: msg.subject().unwrap_or_default().to_owned(),
                    text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                    html: msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
                    message_id: msg.message_id().unwrap_or_default().to_owned(),
                }
            })
            .collect()
    }

    pub fn messages_to(&self, to: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.eq_ignore_ascii_case(to))
            .collect()
    }
}
