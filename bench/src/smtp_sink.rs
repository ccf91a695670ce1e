//! A minimal SMTP receiver for the benchmarks: it stands for the provider's mail relay, which in
//! production runs on another machine, so it does as little as a relay could (answers each
//! command, counts each message, keeps nothing). The bench checks with its count that every
//! login's notification was delivered (LOGIN-4), so throughput isn't bought by dropping mail.
//! Tests use a real SMTP server (aiosmtpd); this is only to keep the load off the measured cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A running sink: its `smtp://` URL and the number of messages it has accepted.
pub struct SmtpSink {
    pub url: String,
    delivered: Arc<AtomicUsize>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let delivered = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&delivered);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, Arc::clone(&count)));
            }
        });
        Self { url, delivered }
    }

    pub fn delivered(&self) -> usize {
        self.delivered.load(Ordering::Relaxed)
    }

    /// The count once a second has passed with nothing new (what the bench's set-up sent).
    pub async fn settled(&self) -> usize {
        let mut last = self.delivered();
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let now = self.delivered();
            if now == last {
                return now;
            }
            last = now;
        }
    }
}

/// One SMTP connection (RFC 5321's commands, no extensions): a message is counted once its
/// data ends with the lone dot.
async fn session(socket: tokio::net::TcpStream, delivered: Arc<AtomicUsize>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ready\r\n").await?;
    let mut line = Vec::new();
    let mut in_data = false;
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if in_data {
            if line == b".\r\n" {
                in_data = false;
                delivered.fetch_add(1, Ordering::Relaxed);
                write.write_all(b"250 queued\r\n").await?;
            }
            continue;
        }
        let verb = line.get(..4).map(<[u8]>::to_ascii_uppercase);
        let reply: &[u8] = match verb.as_deref() {
            Some(b"DATA") => {
                in_data = true;
                b"354 end with a lone dot\r\n"
            }
            Some(b"QUIT") => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            Some(b"EHLO" | b"HELO" | b"MAIL" | b"RCPT" | b"RSET" | b"NOOP") => b"250 ok\r\n",
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}
