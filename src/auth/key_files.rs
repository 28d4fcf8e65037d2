//! Development key files: a secret the service needs (a signing key, the data
//! encryption key) is generated on first start when none is configured, and
//! kept beside the database with owner-only permissions, so restarts keep
//! tokens valid and sealed data readable. Production configures its own.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The content of `path`, or a freshly generated one written there first.
/// Without a path (an in-memory database) the key lives as long as the process.
pub fn load_or_create(
    path: Option<PathBuf>,
    what: &str,
    generate: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let Some(path) = path else {
        return generate();
    };
    if path.exists() {
        return std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the development key {}", path.display()));
    }
    let content = generate()?;
    write_private_file(&path, &content)?;
    tracing::warn!(path = %path.display(), "generated a development {what}");
    Ok(content)
}

/// Creates `path` (never overwriting) readable by its owner only.
fn write_private_file(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the development key {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("cannot write the development key {}", path.display()))
}
