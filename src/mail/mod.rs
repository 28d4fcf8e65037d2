//! Outbound mail: rendering messages from the templates in `templates/mail/`
//! and handing them to the transport `MAIL_URL` names (the log, .eml files, or
//! SMTP through lettre). Nothing here decides *when* mail is sent: use-cases
//! put messages in the outbox, and the delivery use-case sends them.

use std::time::Duration;

use anyhow::Context as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;

use crate::config::{MailSettings, MailUrl, SmtpSecurity};

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The kinds of message Portcullis sends; each has a text and an HTML template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    PasswordReset,
    EmailVerification,
    EmailChange,
    PasswordChanged,
    EmailChanged,
    Invitation,
    LoginLink,
    /// A reset of an address never proven removed the sign-in methods someone
    /// set up before the owner proved it (pre-hijacking).
    FactorsRemoved,
}

impl MailKind {
    pub const ALL: [Self; 8] = [
        Self::PasswordReset,
        Self::EmailVerification,
        Self::EmailChange,
        Self::PasswordChanged,
        Self::EmailChanged,
        Self::Invitation,
        Self::LoginLink,
        Self::FactorsRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::EmailChange => "email_change",
            Self::PasswordChanged => "password_changed",
            Self::EmailChanged => "email_changed",
            Self::Invitation => "invitation",
            Self::LoginLink => "login_link",
            Self::FactorsRemoved => "factors_removed",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Self::PasswordReset => "Reset your password",
            Self::EmailVerification => "Confirm your email address",
            Self::EmailChange => "Confirm your new email address",
            Self::PasswordChanged => "Your password was changed",
            Self::EmailChanged => "Your email address was changed",
            Self::Invitation => "An account was made for you",
            Self::LoginLink => "Your sign-in link and code",
            Self::FactorsRemoved => "Sign-in methods were removed from your account",
        }
    }

    fn sources(self) -> (&'static str, &'static str) {
        match self {
            Self::PasswordReset => (
                include_str!("../../templates/mail/password_reset.txt"),
                include_str!("../../templates/mail/password_reset.html"),
            ),
            Self::EmailVerification => (
                include_str!("../../templates/mail/email_verification.txt"),
                include_str!("../../templates/mail/email_verification.html"),
            ),
            Self::EmailChange => (
                include_str!("../../templates/mail/email_change.txt"),
                include_str!("../../templates/mail/email_change.html"),
            ),
            Self::PasswordChanged => (
                include_str!("../../templates/mail/password_changed.txt"),
                include_str!("../../templates/mail/password_changed.html"),
            ),
            Self::EmailChanged => (
                include_str!("../../templates/mail/email_changed.txt"),
                include_str!("../../templates/mail/email_changed.html"),
            ),
            Self::Invitation => (
                include_str!("../../templates/mail/invitation.txt"),
                include_str!("../../templates/mail/invitation.html"),
            ),
            Self::LoginLink => (
                include_str!("../../templates/mail/login_link.txt"),
                include_str!("../../templates/mail/login_link.html"),
            ),
            Self::FactorsRemoved => (
                include_str!("../../templates/mail/factors_removed.txt"),
                include_str!("../../templates/mail/factors_removed.html"),
            ),
        }
    }
}

/// A message ready for the outbox.
#[derive(Debug, Clone)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a template may show.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MailContext {
    pub username: String,
    /// The link with its token, for messages that carry one.
    pub link: Option<String>,
    /// How long the link works, in words ("1 hour").
    pub valid_for: Option<String>,
    /// The address the account changes to or from, for email-change messages.
    pub other_address: Option<String>,
    /// The one-time code of a sign-in message.
    pub code: Option<String>,
}

/// Renders messages and sends them.
pub struct Mailer {
    templates: minijinja::Environment<'static>,
    from: Mailbox,
    transport: Transport,
    reset_link: String,
    verification_link: String,
}

enum Transport {
    Log,
    /// A directory only the service's user may enter.
    File(std::path::PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> anyhow::Result<Self> {
        let mut templates = minijinja::Environment::new();
        for kind in MailKind::ALL {
            let (text, html) = kind.sources();
            // The .html name turns on HTML escaping of every value.
            templates.add_template_owned(format!("{}.txt", kind.as_str()), text.to_owned())?;
            templates.add_template_owned(format!("{}.html", kind.as_str()), html.to_owned())?;
        }
        let from: Mailbox = settings
            .mail_from
            .parse()
            .with_context(|| format!("MAIL_FROM `{}` is not a mailbox", settings.mail_from))?;
        let transport = match &settings.mail_url {
            MailUrl::Log => Transport::Log,
            MailUrl::File(dir) => {
                owner_only_directory(dir)?;
                Transport::File(dir.clone())
            }
            MailUrl::Smtp {
                host,
                port,
                security,
                credentials,
            } => {
                let builder = match security {
                    SmtpSecurity::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?
                    }
                    SmtpSecurity::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
                    SmtpSecurity::Off => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    }
                };
                let mut builder = builder.port(*port).timeout(Some(SMTP_TIMEOUT));
                if let Some((user, password)) = credentials {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                Transport::Smtp(builder.build())
            }
        };
        for (name, link) in [
            ("PASSWORD_RESET_URL", &settings.password_reset_url),
            ("EMAIL_VERIFICATION_URL", &settings.email_verification_url),
        ] {
            if !link.contains("{token}") {
                anyhow::bail!("{name} must contain {{token}} where the token goes");
            }
        }
        Ok(Self {
            templates,
            from,
            transport,
            reset_link: settings.password_reset_url.clone(),
            verification_link: settings.email_verification_url.clone(),
        })
    }

    /// The reset link for `token`.
    pub fn reset_link(&self, token: &str) -> String {
        fill(&self.reset_link, token)
    }

    /// The verification link for `token`.
    pub fn verification_link(&self, token: &str) -> String {
        fill(&self.verification_link, token)
    }

    pub fn render(&self, kind: MailKind, context: &MailContext) -> anyhow::Result<RenderedMail> {
        let render = |suffix: &str| -> anyhow::Result<String> {
            let name = format!("{}.{suffix}", kind.as_str());
            Ok(self.templates.get_template(&name)?.render(context)?)
        };
        Ok(RenderedMail {
            subject: kind.subject().to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }

    /// Sends one message now. An error means it was not accepted and should
    /// be tried again later.
    pub async fn send(&self, to: &str, mail: &RenderedMail) -> anyhow::Result<()> {
        let to: Mailbox = to.parse().context("the recipient is not a mailbox")?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .context("the message could not be built")?;
        match &self.transport {
            Transport::Log => {
                // Development only (refused in production): the whole message,
                // link included, so a developer can follow it.
                let formatted = String::from_utf8_lossy(&message.formatted()).into_owned();
                tracing::info!(message = %formatted, "mail (MAIL_URL=log)");
                Ok(())
            }
            Transport::File(dir) => {
                let path = dir.join(format!("{}.eml", uuid::Uuid::new_v4()));
                let formatted = message.formatted();
                tokio::task::spawn_blocking(move || write_owner_only(&path, &formatted))
                    .await
                    .context("writing the .eml file failed")?
                    .context("writing the .eml file failed")
            }
            Transport::Smtp(transport) => {
                transport
                    .send(message)
                    .await
                    .context("the SMTP server did not accept the message")?;
                Ok(())
            }
        }
    }
}

/// Creates `dir` (and its parents) if needed and makes it 0700 whatever the
/// umask: the messages in it carry live reset and invitation links.
fn owner_only_directory(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("MAIL_URL: cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("MAIL_URL: cannot make {} owner-only", dir.display()))
}

/// Writes one message to a new file, 0600 whatever the umask (the mode is set
/// at creation, so the file is never readable by others, and set again
/// explicitly because the umask may have taken bits away). It is written
/// under a temporary name and renamed, so whoever picks up `.eml` files never
/// reads half a message.
fn write_owner_only(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let partial = path.with_extension("eml.partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

/// `template` with `{token}` replaced by the URL-encoded token.
/// `template` with `{token}` replaced by the URL-encoded token.
pub fn fill(template: &str, token: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    template.replace("{token}", &encoded)
}

/// "1 hour", "24 hours", "7 days", "30 minutes".
pub fn in_words(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if seconds > 86_400 && seconds.is_multiple_of(86_400) {
        plural(seconds / 86_400, "day")
    } else if seconds >= 3_600 && seconds.is_multiple_of(3_600) {
        plural(seconds / 3_600, "hour")
    } else if seconds >= 60 {
        plural(seconds / 60, "minute")
    } else {
        plural(seconds, "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_token_url_encoded() {
        assert_eq!(
            fill("https://app/reset?token={token}", "a+b/c="),
            "https://app/reset?token=a%2Bb%2Fc%3D"
        );
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(in_words(3_600), "1 hour");
        assert_eq!(in_words(86_400), "24 hours");
        assert_eq!(in_words(604_800), "7 days");
        assert_eq!(in_words(90), "1 minute");
    }
}
