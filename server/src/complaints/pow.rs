//! The public form's anti-abuse step, without any third-party service: a proof of work. The
//! server hands out a challenge it signed (HMAC-SHA-256 under a key only it holds) with an
//! expiry and a difficulty; the page's script finds a number whose SHA-256 with the challenge
//! starts with that many zero bits (about a second on a phone); the server checks the work, the
//! signature and the expiry, and spends the challenge so it serves once. A flood then costs the
//! sender a second of computing per complaint, on top of the per-address rate limit.

use crate::db::Db;
use crate::with_db;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Zero bits asked by default: about a million hashes on average. Measured here (BENCHMARKS.md,
/// "Complaint form"): the page's worker hashes 1.5 million a second on one core of these
/// machines, OpenSSL natively 3.8 million; a phone's browser with its four workers takes about a
/// second. `serve --complaint-pow-bits` sets another.
pub const DEFAULT_DIFFICULTY: u32 = 20;

/// The range `serve --complaint-pow-bits` takes (`cli/serve.rs` repeats it for clap): below, a flood
/// costs nothing; above, a cheap phone takes minutes.
pub const DIFFICULTY_RANGE: std::ops::RangeInclusive<u32> = 8..=26;

/// How long a challenge stays good (long enough to fill the form in).
pub const LIFETIME_SECS: i64 = 60 * 60;

/// Why a proof is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PowError {
    #[error("biểu mẫu không hợp lệ: tải lại trang và gửi lại")]
    Malformed,
    #[error("biểu mẫu đã hết hạn: tải lại trang và gửi lại")]
    Expired,
    #[error("chưa hoàn tất bước chống gửi tự động: chờ trang tính xong rồi gửi lại")]
    NotSolved,
    #[error("biểu mẫu này đã được gửi: tải lại trang để gửi phản ánh khác")]
    Spent,
}

/// Issues and checks challenges under the server's key.
#[derive(Clone)]
pub struct ProofOfWork {
    key: Vec<u8>,
    /// Leading zero bits asked for.
    pub difficulty: u32,
}

impl ProofOfWork {
    /// Challenges under `key` asking `difficulty` zero bits.
    pub fn new(key: Vec<u8>, difficulty: u32) -> ProofOfWork {
        ProofOfWork {
            key,
            difficulty: difficulty.min(32),
        }
    }

    /// The same key, asking `difficulty` zero bits (within [`DIFFICULTY_RANGE`]).
    pub fn with_difficulty(mut self, difficulty: u32) -> ProofOfWork {
        self.difficulty = difficulty.clamp(*DIFFICULTY_RANGE.start(), *DIFFICULTY_RANGE.end());
        self
    }

    fn mac(&self, text: &str) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(text.as_bytes());
        mac
    }

    /// A new challenge at `now` (unix seconds): `expiry.random.difficulty.signature`.
    pub fn issue(&self, now: i64) -> String {
        let body = format!(
            "{}.{}.{}",
            now + LIFETIME_SECS,
            hex::encode(rand::random::<[u8; 12]>()),
            self.difficulty
        );
        let signature = hex::encode(self.mac(&body).finalize().into_bytes());
        format!("{body}.{signature}")
    }

    /// Checks `solution` for `challenge` at `now`; returns the challenge's expiry (to keep it
    /// spent until then). Whether it was spent before is the caller's to check.
    pub fn check(&self, challenge: &str, solution: &str, now: i64) -> Result<i64, PowError> {
        if challenge.len() > 200 || solution.len() > 20 {
            return Err(PowError::Malformed);
        }
        let (body, signature) = challenge.rsplit_once('.').ok_or(PowError::Malformed)?;
        let signature = hex::decode(signature).map_err(|_| PowError::Malformed)?;
        self.mac(body)
            .verify_slice(&signature)
            .map_err(|_| PowError::Malformed)?;
        let mut parts = body.split('.');
        let expiry: i64 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(PowError::Malformed)?;
        let difficulty: u32 = parts
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or(PowError::Malformed)?;
        if now > expiry {
            return Err(PowError::Expired);
        }
        if !solution.bytes().all(|b| b.is_ascii_digit()) || solution.is_empty() {
            return Err(PowError::NotSolved);
        }
        if leading_zero_bits(challenge, solution) < difficulty.max(self.difficulty) {
            return Err(PowError::NotSolved);
        }
        Ok(expiry)
    }
}

/// Spends `challenge` until `expiry`, forgetting those expired at `now`; `false`: spent before.
pub async fn spend(db: &Db, challenge: &str, expiry: i64, now: i64) -> Result<bool, sqlx::Error> {
    let inserted = with_db!(db, pool => {
        sqlx::query("DELETE FROM complaint_challenges WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?;
        sqlx::query("INSERT INTO complaint_challenges (challenge, expires_at) VALUES ($1, $2) ON CONFLICT (challenge) DO NOTHING")
            .bind(challenge)
            .bind(expiry)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(inserted == 1)
}

/// The zero bits SHA-256(`challenge:solution`) starts with.
pub fn leading_zero_bits(challenge: &str, solution: &str) -> u32 {
    zero_bits(&Sha256::digest(
        format!("{challenge}:{solution}").as_bytes(),
    ))
}

/// Finds a solution (what the page's script does; tests and scripts use it).
pub fn solve(challenge: &str, difficulty: u32) -> String {
    // The challenge's part of the hash is computed once, as the page's workers do.
    use std::fmt::Write;
    let prefix = Sha256::new()
        .chain_update(challenge.as_bytes())
        .chain_update(b":");
    let mut digits = String::with_capacity(20);
    (0u64..)
        .find(|n| {
            digits.clear();
            let _ = write!(digits, "{n}");
            zero_bits(&prefix.clone().chain_update(digits.as_bytes()).finalize()) >= difficulty
        })
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// The zero bits a digest starts with.
fn zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            bits += byte.leading_zeros();
            break;
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solved_challenge_passes_and_every_forgery_is_refused() {
        let pow = ProofOfWork::new(b"khoa-may-chu".to_vec(), 10);
        let challenge = pow.issue(1_000);
        let solution = solve(&challenge, 10);
        assert_eq!(
            pow.check(&challenge, &solution, 1_001),
            Ok(1_000 + LIFETIME_SECS)
        );
        // Unsolved, expired, re-signed by someone else, or asking for less work.
        let unsolved = (0u64..)
            .map(|n| n.to_string())
            .find(|s| leading_zero_bits(&challenge, s) < 10)
            .expect("most numbers are no solution");
        assert_eq!(
            pow.check(&challenge, &unsolved, 1_001),
            Err(PowError::NotSolved)
        );
        assert_eq!(
            pow.check(&challenge, &solution, 1_000 + LIFETIME_SECS + 1),
            Err(PowError::Expired)
        );
        let other = ProofOfWork::new(b"khoa-khac".to_vec(), 10).issue(1_000);
        assert_eq!(
            pow.check(&other, &solve(&other, 10), 1_001),
            Err(PowError::Malformed)
        );
        let easier = challenge.replacen(".10.", ".1.", 1);
        assert_eq!(pow.check(&easier, "1", 1_001), Err(PowError::Malformed));
        assert_eq!(pow.check("rác", "1", 1_001), Err(PowError::Malformed));
    }
}
