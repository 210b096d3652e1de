//! Outgoing mail. [`queue`] writes the message to the outbox table inside the
//! caller's transaction and enqueues a `mail.send` job; the job delivers it
//! over SMTP (plain, STARTTLS or TLS, from `smtp_url`) or writes an `.eml` file
//! to the outbox folder. A crash or restart between the two loses nothing.
//! Delivery is at-least-once (a crash right after the SMTP server accepted a
//! message sends it again); the Message-ID is the outbox id so a receiver can
//! tell. Recipients are personal data: they are never logged.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use lettre::{
    Message, SmtpTransport, Transport,
    message::{Mailbox, header::ContentType},
    transport::smtp::client::{Certificate, Tls, TlsParameters},
};
use serde::{Deserialize, Serialize};

use crate::{
    clock::SharedClock,
    config::Config,
    db::{self, Conn, Database, DbError, mail_outbox::MailRow, time::to_micros},
    jobs::{self, Enqueue, JobContext, JobError, Registry},
};

/// The job kind that delivers one outbox row.
pub const SEND_JOB: &str = "mail.send";

/// A message to send. The body is plain text.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("not a mail address: {0}")]
    BadAddress(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for MailError {
    fn from(e: diesel::result::Error) -> Self {
        MailError::Db(e.into())
    }
}

#[derive(Serialize, Deserialize)]
struct SendPayload {
    outbox_id: String,
}

/// Puts a message in the outbox, in the caller's transaction. Returns its id.
pub fn queue(
    conn: &mut Conn,
    now: DateTime<Utc>,
    mail: &OutgoingMail,
) -> Result<String, MailError> {
    mail.to
        .parse::<Mailbox>()
        .map_err(|_| MailError::BadAddress("recipient".into()))?;
    let id = uuid::Uuid::now_v7().to_string();
    db::mail_outbox::insert(
        conn,
        &MailRow {
            id: id.clone(),
            recipient: mail.to.clone(),
            subject: mail.subject.clone(),
            body_text: mail.body.clone(),
            state: db::mail_outbox::PENDING.into(),
            created_at: to_micros(now),
            sent_at: None,
        },
    )?;
    let dedupe = format!("mail:{id}");
    jobs::enqueue(
        conn,
        now,
        SEND_JOB,
        &SendPayload {
            outbox_id: id.clone(),
        },
        Enqueue {
            dedupe_key: Some(&dedupe),
            ..Enqueue::default()
        },
    )?;
    Ok(id)
}

const CERT_MARK: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// The SMTP transport for `url` (`smtp://`, `smtp://...?tls=required` for
/// STARTTLS, `smtps://` for TLS), trusting the certificate authority in
/// `ca_file` besides the public roots. Errors name the setting at fault.
pub fn smtp_transport(
    url: &str,
    ca_file: Option<&Path>,
) -> Result<SmtpTransport, (&'static str, String)> {
    let mut builder = SmtpTransport::from_url(url).map_err(|e| ("smtp_url", e.to_string()))?;
    if let Some(path) = ca_file {
        let ca = "smtp_ca_file";
        let pem = std::fs::read(path)
            .map_err(|e| (ca, format!("cannot read {}: {e}", path.display())))?;
        // lettre accepts a PEM file without any certificate in it, which
        // would silently trust nothing extra.
        if !pem
            .windows(CERT_MARK.len())
            .any(|window| window == CERT_MARK)
        {
            return Err((ca, format!("{} holds no PEM certificate", path.display())));
        }
        let cert =
            Certificate::from_pem(&pem).map_err(|e| (ca, format!("not a PEM certificate: {e}")))?;
        let parsed = url::Url::parse(url).map_err(|e| ("smtp_url", e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or(("smtp_url", "has no host".to_string()))?
            .to_string();
        let params = TlsParameters::builder(host)
            .add_root_certificate(cert)
            .build()
            .map_err(|e| (ca, e.to_string()))?;
        let tls_query = parsed
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        // The same TLS mode lettre derives from the URL, with our roots.
        let tls = match (parsed.scheme(), tls_query.as_deref()) {
            ("smtps", _) => Tls::Wrapper(params),
            (_, Some("required")) => Tls::Required(params),
            (_, Some("opportunistic")) => Tls::Opportunistic(params),
            _ => {
                return Err((
                    ca,
                    "smtp_url uses no TLS (use smtps:// or ?tls=required)".into(),
                ));
            }
        };
        builder = builder.tls(tls);
    }
    Ok(builder
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build())
}

/// Where mail goes.
#[derive(Clone)]
enum Delivery {
    Smtp(Box<SmtpTransport>),
    Folder(PathBuf),
}

/// Delivers outbox rows. Built once from the configuration.
#[derive(Clone)]
pub struct Mailer {
    delivery: Delivery,
    from: Mailbox,
    /// The domain of generated Message-IDs.
    domain: String,
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e| format!("mail_from: {e}"))?;
        let delivery = match &config.smtp_url {
            Some(url) => Delivery::Smtp(Box::new(
                smtp_transport(url.expose(), config.smtp_ca_file.as_deref())
                    .map_err(|(setting, message)| format!("{setting}: {message}"))?,
            )),
            None => Delivery::Folder(config.outbox_dir()),
        };
        let domain = from.email.domain().to_string();
        Ok(Self {
            delivery,
            from,
            domain,
        })
    }

    /// Registers the `mail.send` job.
    pub fn register(self, registry: &mut Registry, db: Database, clock: SharedClock) {
        let mailer = Arc::new(self);
        registry.register(SEND_JOB, move |ctx: JobContext| {
            let (mailer, db, clock) = (Arc::clone(&mailer), db.clone(), Arc::clone(&clock));
            async move { mailer.send_job(ctx, db, clock).await }
        });
    }

    async fn send_job(
        &self,
        ctx: JobContext,
        db: Database,
        clock: SharedClock,
    ) -> Result<(), JobError> {
        let payload: SendPayload = serde_json::from_value(ctx.payload)
            .map_err(|e| JobError::Permanent(format!("bad mail.send payload: {e}")))?;
        let id = payload.outbox_id.clone();
        let Some(row) = db
            .read(move |conn| db::mail_outbox::find(conn, &id).map_err(DbError::from))
            .await?
        else {
            return Err(JobError::Permanent("outbox row is gone".into()));
        };
        if row.state != db::mail_outbox::PENDING {
            return Ok(()); // Already delivered by an earlier attempt.
        }
        let message = self.build(&row).map_err(JobError::Permanent)?;
        let this = self.clone();
        let outbox_id = row.id.clone();
        tokio::task::spawn_blocking(move || this.deliver(&outbox_id, message))
            .await
            .map_err(|e| JobError::Retry(e.to_string()))??;
        let now = to_micros(clock.now());
        db.write(move |conn| {
            db::mail_outbox::mark(conn, &row.id, db::mail_outbox::SENT, now).map_err(DbError::from)
        })
        .await?;
        Ok(())
    }

    fn build(&self, row: &MailRow) -> Result<Message, String> {
        let to: Mailbox = row
            .recipient
            .parse()
            .map_err(|_| "recipient is not a mail address".to_string())?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&row.subject)
            .message_id(Some(format!("<{}@{}>", row.id, self.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(row.body_text.clone())
            .map_err(|e| e.to_string())
    }

    fn deliver(&self, outbox_id: &str, message: Message) -> Result<(), JobError> {
        match &self.delivery {
            Delivery::Smtp(transport) => match transport.send(&message) {
                Ok(_) => Ok(()),
                // 5xx answers are permanent (bad mailbox); everything else may pass later.
                Err(e) if e.is_permanent() => Err(JobError::Permanent(format!(
                    "SMTP refused the message: {e}"
                ))),
                Err(e) => Err(JobError::Retry(format!("SMTP: {e}"))),
            },
            Delivery::Folder(dir) => write_eml(dir, outbox_id, &message.formatted())
                .map_err(|e| JobError::Retry(format!("outbox folder {}: {e}", dir.display()))),
        }
    }
}

/// Writes `<id>.eml` atomically (temp file, fsync, rename), so a retry
/// overwrites rather than duplicates and a reader never sees half a file.
fn write_eml(dir: &std::path::Path, id: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, dir.join(format!("{id}.eml")))
}

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}
