//! Password hashing with argon2id, off the async workers and bounded: hashes
//! run on a pool of `HASH_CONCURRENCY` dedicated threads and at most
//! `HASH_QUEUE` wait; past that callers get [`HashError::Overloaded`] at once
//! instead of unbounded latency. Dedicated threads also bound memory: each
//! hash allocates `ARGON2_MEMORY_KIB`, and the allocator keeps that block per
//! thread, so hashing on a general blocking pool of hundreds of threads grows
//! to gigabytes.

use std::sync::Arc;

use anyhow::Context as _;
use argon2_rust::params::{Memory, TagLen};
use argon2_rust::{Algorithm, Argon2, Decoded, Hasher, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordSettings;
use crate::domain::Secret;

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

    pub async fn hash(&self, password: Secret) -> Result<String, HashError> {
        let params = self.params;
        self.run_bounded(move || {
            hash_blocking(&params, password.expose()).map_err(HashError::Failed)
        })
        .await
    }

    /// Checks `password` against `stored_hash`, or against a dummy hash when
    /// there is no account, so both failures take the same time.
    pub async fn verify(
        &self,
        password: Secret,
        stored_hash: Option<String>,
    ) -> Result<Verification, HashError> {
        let params = self.params;
        let account_exists = stored_hash.is_some();
        let stored_hash = stored_hash.unwrap_or_else(|| self.dummy_hash.clone());
        self.run_bounded(move || {
            let stored = decode(&stored_hash)
                .map_err(|error| anyhow::anyhow!("stored password hash is unreadable: {error}"))?;
            let matches = verify_decoded(&stored, password.expose());
            if !(matches && account_exists) {
                return Ok(Verification::Mismatch);
            }
            let upgraded_hash = if uses_params(&stored, &params) {
                None
            } else {
                Some(hash_blocking(&params, password.expose())?)
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

/// Bytes of hash output in every PHC string written (RustCrypto's and the
/// reference implementation's default).
const OUTPUT_LEN: u64 = 32;

/// The argon2id parameters the settings ask for.
pub fn params(settings: &PasswordSettings) -> anyhow::Result<Params> {
    Params::builder()
        .memory(Memory::kib(u64::from(settings.argon2_memory_kib)))
        .passes(settings.argon2_iterations)
        .lanes(settings.argon2_parallelism)
        .tag_len(TagLen::bytes(OUTPUT_LEN))
        .build()
        .map_err(|error| anyhow::anyhow!("invalid argon2 parameters: {error}"))
}

/// Which argon2 fill loop this CPU runs (`Avx512`, `Avx2`, `Sse2`, `Neon` or
/// `Scalar`), chosen at run time.
pub fn fill_backend() -> String {
    format!("{:?}", argon2_rust::detected_backend())
}

/// Verifies on the calling thread (benchmarks; requests go through
/// [`PasswordHasher::verify`]).
pub fn verify_blocking(password: &str, stored_hash: &str) -> bool {
    decode(stored_hash).is_ok_and(|stored| verify_decoded(&stored, password))
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
    /// This thread's hasher, whose working memory (`ARGON2_MEMORY_KIB`) every
    /// hash on the thread reuses: mapping it afresh each time costs page
    /// faults and, through the allocator's per-thread arenas, leaves memory
    /// behind. It is wiped between hashes.
    static HASHER: std::cell::RefCell<Option<Hasher>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work` with this thread's hasher set to argon2id with `version` and
/// `params`.
fn with_hasher<T>(version: Version, params: Params, work: impl FnOnce(&mut Hasher) -> T) -> T {
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    HASHER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let hasher = slot.get_or_insert_with(|| argon2.hasher());
        hasher.set_argon2(argon2);
        work(hasher)
    })
}

/// Hashes on the calling thread (benchmarks, start-up; requests go through
/// [`PasswordHasher::hash`]) into a PHC string with a random 16-byte salt.
pub fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    with_hasher(Version::V0x13, *params, |hasher| {
        hasher.hash_password_with_random_salt(password.as_bytes())
    })
    .map_err(|error| anyhow::anyhow!("hashing failed: {error}"))
}

/// A stored argon2id PHC string, taken apart.
fn decode(stored_hash: &str) -> Result<Decoded, argon2_rust::Error> {
    argon2_rust::decode_string(stored_hash, Algorithm::Argon2id)
}

/// Recomputes `stored` for `password` with the stored parameters and compares
/// in constant time.
fn verify_decoded(stored: &Decoded, password: &str) -> bool {
    with_hasher(stored.version, stored.params, |hasher| {
        hasher.verify(password.as_bytes(), &stored.salt, &stored.hash)
    })
    .is_ok()
}

fn uses_params(stored: &Decoded, params: &Params) -> bool {
    stored.algorithm == Algorithm::Argon2id
        && stored.version == Version::V0x13
        && stored.params.memory_kib() == params.memory_kib()
        && stored.params.passes() == params.passes()
        && stored.params.lanes() == params.lanes()
        && stored.hash.len() == params.tag_len_bytes()
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
    fn hashes_are_standard_phc_strings_that_rustcrypto_argon2_verifies() {
        use argon2::PasswordVerifier as _;
        let params = params(&settings(1024)).unwrap();
        let hash = hash_blocking(&params, "correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        let parsed = argon2::PasswordHash::new(&hash).unwrap();
        let rustcrypto = argon2::Argon2::default();
        assert!(
            rustcrypto
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(rustcrypto.verify_password(b"wrong horse", &parsed).is_err());
        assert!(verify_blocking("correct horse", &hash));
        assert!(!verify_blocking("wrong horse", &hash));
    }

    /// Accounts created before the switch to argon2-rust keep logging in.
    #[test]
    fn hashes_made_by_rustcrypto_argon2_verify() {
        use argon2::PasswordHasher as _;
        use argon2::password_hash::{SaltString, rand_core::OsRng};
        for (memory_kib, iterations, lanes) in [(1024, 1, 1), (2048, 3, 2)] {
            let rustcrypto = argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon2::Params::new(memory_kib, iterations, lanes, None).unwrap(),
            );
            let hash = rustcrypto
                .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
                .unwrap()
                .to_string();
            assert!(verify_blocking("correct horse", &hash), "{hash}");
            assert!(!verify_blocking("correct horsf", &hash), "{hash}");
        }
        // Written by the release build before the switch (`seed-users`), at the
        // default cost.
        let stored = "$argon2id$v=19$m=19456,t=2,p=1$lJ/JsEM+zfY41+LQCDiNzg$PGnZKl1ogLTB95rZ2p31lEGY3detnlpd3GaBBLy/iRQ";
        assert!(verify_blocking("seeded password 1234", stored));
        assert!(!verify_blocking("seeded password 1235", stored));
    }

    #[test]
    fn an_unreadable_or_foreign_hash_never_matches() {
        for stored in [
            "",
            "not a hash",
            "$argon2i$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
        ] {
            assert!(!verify_blocking("somesalt", stored), "{stored}");
        }
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
