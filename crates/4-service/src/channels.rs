//! Where digests go besides GitHub: a Slack/Matrix-compatible incoming webhook, a directory of
//! HTML files, and email over SMTP (lettre). Built from the server's configuration and
//! environment; the outbox worker calls them.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use canopy_core::ExecError;

/// How to reach the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP (a local relay).
    None,
    /// STARTTLS upgrade (port 587).
    Starttls,
    /// TLS from the start (port 465).
    Tls,
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Server host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Security.
    pub security: SmtpSecurity,
    /// Sender address.
    pub from: String,
    /// Login, if the server needs one (password from the environment).
    pub credentials: Option<(String, String)>,
}

/// The configured digest channels.
#[derive(Debug, Clone)]
pub struct Channels {
    /// HTTP client for the webhook.
    pub http: reqwest::Client,
    /// Incoming webhook URL (a secret: it comes from the environment).
    pub webhook_url: Option<String>,
    /// Directory HTML digests are written to.
    pub dir: Option<PathBuf>,
    /// SMTP server.
    pub smtp: Option<Smtp>,
}

impl Channels {
    /// Posts `{"text": text}` to the webhook; 5xx and 429 are retried, other errors are not.
    pub async fn post_webhook(&self, text: &str) -> Result<(), ExecError> {
        let url = self.webhook_url.as_deref().ok_or_else(|| {
            ExecError::permanent("no digest webhook configured (CANOPY_DIGEST_WEBHOOK_URL)")
        })?;
        let resp = self
            .http
            .post(url)
            .timeout(Duration::from_secs(20))
            .json(&serde_json::json!({ "text": text, "body": text, "msgtype": "m.text" }))
            .send()
            .await
            .map_err(|e| ExecError::transient(format!("posting to the digest webhook: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status.as_u16() == 429 {
            Err(ExecError::transient(format!(
                "the digest webhook answered {status}"
            )))
        } else {
            Err(ExecError::permanent(format!(
                "the digest webhook answered {status}"
            )))
        }
    }

    /// Writes `name` into the digest directory through a temporary file and a rename, so a
    /// reader never sees half a file.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<(), ExecError> {
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| ExecError::permanent("no digest directory configured ([digest] dir)"))?;
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(ExecError::permanent(format!("refusing file name {name:?}")));
        }
        let io = |e: std::io::Error| {
            ExecError::transient(format!("writing {name} in {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).map_err(io)?;
        std::fs::rename(&tmp, dir.join(name)).map_err(io)
    }

    /// Sends a multipart (text and HTML) email.
    pub async fn send_email(
        &self,
        to: &[String],
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<(), ExecError> {
        let smtp = self
            .smtp
            .as_ref()
            .ok_or_else(|| ExecError::permanent("no SMTP server configured ([digest.smtp])"))?;
        let bad = |what: &str, e: String| ExecError::permanent(format!("{what}: {e}"));
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| bad("digest.smtp.from", e.to_string()))?;
        let mut builder = Message::builder().from(from).subject(subject);
        for t in to {
            let mb: Mailbox = t
                .parse()
                .map_err(|e: lettre::address::AddressError| bad("recipient", e.to_string()))?;
            builder = builder.to(mb);
        }
        let msg = builder
            .multipart(MultiPart::alternative_plain_html(
                text.to_string(),
                html.to_string(),
            ))
            .map_err(|e| bad("building the email", e.to_string()))?;
        let transport = match smtp.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            }
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                    .map_err(|e| bad("digest.smtp.host", e.to_string()))?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| bad("digest.smtp.host", e.to_string()))?,
        }
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(20)));
        let transport = match &smtp.credentials {
            Some((u, p)) => transport.credentials(Credentials::new(u.clone(), p.clone())),
            None => transport,
        }
        .build();
        match transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(ExecError::permanent(format!(
                "the SMTP server refused the digest: {e}"
            ))),
            Err(e) => Err(ExecError::transient(format!(
                "sending the digest email: {e}"
            ))),
        }
    }
}
