//! Password hashing with argon2id, off the async workers and bounded: hashes
//! run on a pool of `HASH_CONCURRENCY` dedicated threads and at most
//! `HASH_QUEUE` wait; past that callers get [`HashError::Overloaded`] at once
//! instead of unbounded latency. Dedicated threads also bound memory: each
//! hash allocates `ARGON2_MEMORY_KIB`, and the allocator keeps that block per
//! thread, so hashing on a general blocking pool of hundreds of threads grows
//! to gigabytes.

use std::sync::Arc;

use anyhow::Context as _;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordSettings;

/// Why a hash or a verification did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot is taken: the caller should answer "busy, retry shortly".
    #[error("the password hashing queue is full")]
    Overloaded,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// Correct; `upgraded_hash` is set when the stored hash used other
    /// parameters than the configured ones and should be replaced.
    Match {
        upgraded_hash: Option<String>,
    },
}

pub struct PasswordHasher {
    params: Params,
    /// Slots for hashes running or waiting; when none is free the answer is 503.
    admission: Arc<Semaphore>,
    /// The only threads that hash.
    workers: rayon_core::ThreadPool,
    /// Verified when the account does not exist, so that answer takes as long
    /// as a wrong password.
    dummy_hash: String,
    /// Hashes run at once (the number of hashing threads).
    concurrency: usize,
    /// Slots in all: running and waiting.
    capacity: usize,
    /// How long each hash took on its thread (`portcullis_password_hash_seconds`).
    timings: prometheus_client::metrics::histogram::Histogram,
}

impl PasswordHasher {
    pub fn new(settings: &PasswordSettings) -> anyhow::Result<Self> {
        let params = params(settings)?;
        let concurrency = settings.concurrency();
        let workers = rayon_core::ThreadPoolBuilder::new()
            .num_threads(concurrency)
            .thread_name(|index| format!("argon2-{index}"))
            .build()
            .context("could not start the hashing threads")?;
        // On a short-lived thread, so its working memory is freed with it and
        // an idle server stays small.
        let dummy_hash = std::thread::scope(|scope| {
            scope
                .spawn(|| hash_blocking(&params, "portcullis-dummy-password"))
                .join()
                .map_err(|_| anyhow::anyhow!("the dummy hash thread panicked"))?
        })
        .context("could not compute the dummy password hash")?;
        let capacity = concurrency + settings.queue();
        Ok(Self {
            params,
            admission: Arc::new(Semaphore::new(capacity)),
            workers,
            dummy_hash,
            concurrency,
            capacity,
            timings: crate::metrics::password_hash_histogram(),
        })
    }

    /// The histogram every hash's duration goes into.
    pub fn timings(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.timings.clone()
    }

    /// Hashes admitted and waiting for a thread (beyond those running).
    pub fn queue_depth(&self) -> usize {
        let admitted = self
            .capacity
            .saturating_sub(self.admission.available_permits());
        admitted.saturating_sub(self.concurrency)
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let params = self.params.clone();
        self.run_bounded(move || hash_blocking(&params, &password).map_err(HashError::Failed))
            .await
    }

    /// Checks `password` against `stored_hash`, or against a dummy hash when
    /// there is no account, so both failures take the same time.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<Verification, HashError> {
        let params = self.params.clone();
        let account_exists = stored_hash.is_some();
        let stored_hash = stored_hash.unwrap_or_else(|| self.dummy_hash.clone());
        self.run_bounded(move || {
            let parsed = PasswordHash::new(&stored_hash)
                .map_err(|error| anyhow::anyhow!("stored password hash is unreadable: {error}"))?;
            let matches = verify_parsed(&parsed, &password);
            if !(matches && account_exists) {
                return Ok(Verification::Mismatch);
            }
            let upgraded_hash = if uses_params(&parsed, &params) {
                None
            } else {
                Some(hash_blocking(&params, &password)?)
            };
            Ok(Verification::Match { upgraded_hash })
        })
        .await
    }

    async fn run_bounded<T, F>(&self, work: F) -> Result<T, HashError>
    where
        F: FnOnce() -> Result<T, HashError> + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Overloaded)?;
        let (done, outcome) = tokio::sync::oneshot::channel();
        let timings = self.timings.clone();
        self.workers.spawn(move || {
            // The slot is held until the hash is done, even if the client
            // went away meanwhile: dropped requests must not let hashes pile up.
            if done.is_closed() {
                return;
            }
            let started = std::time::Instant::now();
            let outcome = work();
            timings.observe(started.elapsed().as_secs_f64());
            // Free the slot before answering, so the caller's next hash finds it.
            drop(admitted);
            let _ = done.send(outcome);
        });
        outcome
            .await
            .map_err(|_| HashError::Failed(anyhow::anyhow!("a hashing thread failed")))?
    }
}

/// The argon2id parameters the settings ask for.
pub fn params(settings: &PasswordSettings) -> anyhow::Result<Params> {
    Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        None,
    )
    .map_err(|error| anyhow::anyhow!("invalid argon2 parameters: {error}"))
}

/// Verifies on the calling thread (benchmarks; requests go through
/// [`PasswordHasher::verify`]).
pub fn verify_blocking(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|parsed| verify_parsed(&parsed, password))
}

/// Verifications per second at the configured cost with `HASH_CONCURRENCY`
/// threads verifying at once (as under load), and the mean time of one: the
/// ceiling for logins per second on this machine.
pub fn measure_verify(
    settings: &PasswordSettings,
    rounds: u32,
) -> anyhow::Result<(f64, std::time::Duration)> {
    let params = params(settings)?;
    let stored = hash_blocking(&params, "benchmark password")?;
    let threads = settings.concurrency();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..rounds {
                    verify_blocking("benchmark password", &stored);
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let total = f64::from(rounds) * threads as f64;
    Ok((total / elapsed.as_secs_f64(), elapsed / rounds))
}

thread_local! {
    /// This thread's argon2 working memory, reused by every hash it computes:
    /// allocating `ARGON2_MEMORY_KIB` afresh each time costs page faults and,
    /// through the allocator's per-thread arenas, leaves memory behind.
    static WORKING_MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 with `params` into `out`, on this thread's working memory.
fn argon2_into(
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    WORKING_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Hashes on the calling thread (benchmarks, start-up; requests go through
/// [`PasswordHasher::hash`]) into a PHC string.
pub fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    let failed = |error: &dyn std::fmt::Display| anyhow::anyhow!("hashing failed: {error}");
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon2_into(
        Version::V0x13,
        params.clone(),
        password.as_bytes(),
        raw_salt,
        &mut output,
    )
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Recomputes `stored` for `password` with the stored parameters and compares
/// in constant time (`Output`'s equality is).
fn verify_parsed(stored: &PasswordHash<'_>, password: &str) -> bool {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    if stored.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let version = stored
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut output = vec![0u8; expected.len()];
    argon2_into(version, params, password.as_bytes(), raw_salt, &mut output).is_ok()
        && Output::new(&output).is_ok_and(|computed| computed == expected)
}

fn uses_params(hash: &PasswordHash<'_>, params: &Params) -> bool {
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && Params::try_from(hash).is_ok_and(|stored| {
            stored.m_cost() == params.m_cost()
                && stored.t_cost() == params.t_cost()
                && stored.p_cost() == params.p_cost()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(memory_kib: u32) -> PasswordSettings {
        PasswordSettings {
            argon2_memory_kib: memory_kib,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            hash_concurrency: Some(1),
            hash_queue: Some(0),
        }
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hasher = PasswordHasher::new(&settings(1024)).unwrap();
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap(),
            Verification::Match {
                upgraded_hash: None
            }
        );
        assert_eq!(
            hasher.verify("wrong".into(), Some(hash)).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn hashes_are_standard_phc_strings_that_the_argon2_crate_verifies() {
        use argon2::PasswordVerifier as _;
        let params = params(&settings(1024)).unwrap();
        let hash = hash_blocking(&params, "correct horse").unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        let argon2 = Argon2::default();
        assert!(argon2.verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2.verify_password(b"wrong horse", &parsed).is_err());
        assert!(verify_blocking("correct horse", &hash));
        assert!(!verify_blocking("wrong horse", &hash));
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches_even_the_dummy_password() {
        let hasher = PasswordHasher::new(&settings(1024)).unwrap();
        let outcome = hasher
            .verify("portcullis-dummy-password".into(), None)
            .await
            .unwrap();
        assert_eq!(outcome, Verification::Mismatch);
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_upgraded_on_a_correct_password() {
        let old = PasswordHasher::new(&settings(1024)).unwrap();
        let hash = old.hash("correct horse".into()).await.unwrap();
        let current = PasswordHasher::new(&settings(2048)).unwrap();
        let Verification::Match {
            upgraded_hash: Some(upgraded),
        } = current
            .verify("correct horse".into(), Some(hash))
            .await
            .unwrap()
        else {
            panic!("expected an upgraded hash");
        };
        assert!(upgraded.starts_with("$argon2id$v=19$m=2048,t=1,p=1$"));
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_at_once() {
        let hasher = Arc::new(PasswordHasher::new(&settings(1024)).unwrap());
        // Hold the only admission slot.
        let _held = hasher.admission.clone().try_acquire_owned().unwrap();
        let error = hasher.hash("whatever1".into()).await.unwrap_err();
        assert!(matches!(error, HashError::Overloaded));
    }
}
