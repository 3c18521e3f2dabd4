//! The manifest a signing run signs (docs/design.md §6): the canonical record hash of every dose in
//! the run, bound together by a Merkle tree whose root is in the signed text. The token signs the
//! manifest once; each dose keeps a short proof that its hash is under that root, so one dose's
//! signature can be checked without the other 2,999.
//!
//! The manifest's bytes are a fixed text layout (one line per field, then one line per dose), so
//! the same run gives the same bytes on the station that signs and on the server that verifies.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The tag on the first line of every manifest of this layout.
pub const MANIFEST_VERSION: &str = "sotiem/signing-manifest/1";
/// At most this many people in one run (the Ministry's rule).
pub const MAX_PEOPLE_PER_RUN: usize = 1_000;
/// At most this many doses in one run.
pub const MAX_DOSES_PER_RUN: usize = 3_000;

/// One dose in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub dose_id: Uuid,
    pub person_id: Uuid,
    /// SHA-256 of the dose's canonical record ([`crate::record::record_hash`]).
    pub record_hash: [u8; 32],
}

/// What a signing run signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub batch_id: Uuid,
    pub facility: String,
    /// The signer's username.
    pub signer: String,
    /// The serial of the certificate that signs, as hex (lower case, no separators).
    pub certificate_serial: String,
    /// RFC 3339 at +07:00.
    pub created_at: String,
    pub entries: Vec<ManifestEntry>,
}

/// A dose's proof that its record hash is under a manifest's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The dose's place in the manifest.
    pub index: u32,
    /// The sibling hashes from the leaf up to the root.
    pub path: Vec<[u8; 32]>,
}

/// A certificate serial as accounts register it and manifests carry it: hex, lower case, no
/// separators or leading zeros ("5A:3F:01" and "005a3f01" are the same serial).
pub fn normalize_serial(serial: &str) -> String {
    let hex: String = serial
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }.to_string()
}

fn leaf(hash: &[u8; 32]) -> [u8; 32] {
    // Leaves and inner nodes are hashed with different prefixes (RFC 6962), so an inner node
    // can never pass for a leaf.
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(hash);
    h.finalize().into()
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The levels of the tree, leaves first; an odd node is carried up unchanged.
fn levels(hashes: &[[u8; 32]]) -> Vec<Vec<[u8; 32]>> {
    let mut levels = vec![hashes.iter().map(leaf).collect::<Vec<_>>()];
    while levels.last().is_some_and(|l| l.len() > 1) {
        let below = levels.last().map(Vec::as_slice).unwrap_or_default();
        let up = below
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                // The last node of an odd level.
                [only, ..] => *only,
                [] => [0; 32],
            })
            .collect();
        levels.push(up);
    }
    levels
}

/// The Merkle root over record hashes in order (the hash of nothing for an empty list).
pub fn merkle_root(hashes: &[[u8; 32]]) -> [u8; 32] {
    levels(hashes)
        .last()
        .and_then(|top| top.first().copied())
        .unwrap_or_else(|| Sha256::digest([]).into())
}

/// The proof of every entry, in order.
pub fn inclusion_proofs(hashes: &[[u8; 32]]) -> Vec<InclusionProof> {
    let levels = levels(hashes);
    (0..hashes.len())
        .map(|i| {
            let mut path = Vec::new();
            let mut at = i;
            for level in &levels[..levels.len().saturating_sub(1)] {
                let sibling = at ^ 1;
                if sibling < level.len() {
                    path.push(level[sibling]);
                }
                at /= 2;
            }
            InclusionProof {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                path,
            }
        })
        .collect()
}

/// Whether `record_hash` at `proof.index` of a manifest of `count` entries is under `root`.
pub fn verify_inclusion(
    record_hash: &[u8; 32],
    proof: &InclusionProof,
    count: usize,
    root: &[u8; 32],
) -> bool {
    let mut at = proof.index as usize;
    if at >= count {
        return false;
    }
    let mut width = count;
    let mut hash = leaf(record_hash);
    let mut path = proof.path.iter();
    while width > 1 {
        let sibling = at ^ 1;
        if sibling < width {
            let Some(s) = path.next() else { return false };
            hash = if at.is_multiple_of(2) {
                node(&hash, s)
            } else {
                node(s, &hash)
            };
        }
        at /= 2;
        width = width.div_ceil(2);
    }
    path.next().is_none() && &hash == root
}

impl Manifest {
    /// The record hashes in order.
    pub fn hashes(&self) -> Vec<[u8; 32]> {
        self.entries.iter().map(|e| e.record_hash).collect()
    }

    /// The Merkle root over the entries.
    pub fn root(&self) -> [u8; 32] {
        merkle_root(&self.hashes())
    }

    /// The bytes the token signs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(128 + self.entries.len() * 112);
        for (k, v) in [
            ("version", MANIFEST_VERSION.to_string()),
            ("batch", self.batch_id.to_string()),
            ("facility", one_line(&self.facility)),
            ("signer", one_line(&self.signer)),
            ("certificate-serial", one_line(&self.certificate_serial)),
            ("created-at", one_line(&self.created_at)),
            ("count", self.entries.len().to_string()),
            ("merkle-root", hex::encode(self.root())),
        ] {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&v);
            out.push('\n');
        }
        for e in &self.entries {
            out.push_str(&format!(
                "{} {} {}\n",
                e.dose_id,
                e.person_id,
                hex::encode(e.record_hash)
            ));
        }
        out.into_bytes()
    }

    /// Reads the bytes of [`Manifest::to_bytes`]; `None` when they are not such a manifest or
    /// its root does not match its entries.
    pub fn from_bytes(bytes: &[u8]) -> Option<Manifest> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.split('\n');
        let mut field = |name: &str| -> Option<String> {
            let line = lines.next()?;
            line.strip_prefix(name)?
                .strip_prefix(": ")
                .map(str::to_string)
        };
        if field("version")? != MANIFEST_VERSION {
            return None;
        }
        let batch_id = Uuid::parse_str(&field("batch")?).ok()?;
        let facility = field("facility")?;
        let signer = field("signer")?;
        let certificate_serial = field("certificate-serial")?;
        let created_at = field("created-at")?;
        let count: usize = field("count")?.parse().ok()?;
        let root = field("merkle-root")?;
        if count > MAX_DOSES_PER_RUN {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        for line in lines.by_ref().take(count) {
            let mut parts = line.split(' ');
            let dose_id = Uuid::parse_str(parts.next()?).ok()?;
            let person_id = Uuid::parse_str(parts.next()?).ok()?;
            let record_hash: [u8; 32] = hex::decode(parts.next()?).ok()?.try_into().ok()?;
            if parts.next().is_some() {
                return None;
            }
            entries.push(ManifestEntry {
                dose_id,
                person_id,
                record_hash,
            });
        }
        // Exactly `count` lines and the final newline, nothing after.
        if entries.len() != count || lines.next() != Some("") || lines.next().is_some() {
            return None;
        }
        let manifest = Manifest {
            batch_id,
            facility,
            signer,
            certificate_serial,
            created_at,
            entries,
        };
        (hex::encode(manifest.root()) == root).then_some(manifest)
    }
}

/// A value on one line: a newline would break the layout, so none can get in.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hashes(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| Sha256::digest(i.to_string().as_bytes()).into())
            .collect()
    }

    #[test]
    fn serials_compare_whatever_their_spelling() {
        assert_eq!(normalize_serial("5A:3F:01"), "5a3f01");
        assert_eq!(normalize_serial("00 5a 3f 01"), "5a3f01");
        assert_eq!(normalize_serial("0000"), "0");
    }

    #[test]
    fn every_dose_of_runs_of_any_size_proves_its_place_and_no_other() {
        for n in [1, 2, 3, 5, 8, 13, 1000, 3000] {
            let h = hashes(n);
            let root = merkle_root(&h);
            let proofs = inclusion_proofs(&h);
            assert!(proofs.iter().all(|p| p.path.len() <= 12), "short proofs");
            for (i, p) in proofs.iter().enumerate() {
                assert!(verify_inclusion(&h[i], p, n, &root), "n={n} i={i}");
                let other = (i + 1) % n;
                if other != i {
                    assert!(!verify_inclusion(&h[other], p, n, &root), "n={n} i={i}");
                }
            }
        }
    }

    #[test]
    fn a_manifest_reads_back_exactly_and_a_changed_hash_breaks_it() {
        let m = Manifest {
            batch_id: Uuid::now_v7(),
            facility: "TYT-TANNHUT".into(),
            signer: "bs.hung".into(),
            certificate_serial: "5a3f01".into(),
            created_at: "2026-11-23T16:30:00+07:00".into(),
            entries: hashes(3)
                .into_iter()
                .map(|record_hash| ManifestEntry {
                    dose_id: Uuid::now_v7(),
                    person_id: Uuid::now_v7(),
                    record_hash,
                })
                .collect(),
        };
        let bytes = m.to_bytes();
        assert_eq!(Manifest::from_bytes(&bytes), Some(m.clone()));
        let text = String::from_utf8(bytes).unwrap();
        let last = hex::encode(m.entries[2].record_hash);
        let tampered = text.replace(&last, &"0".repeat(64));
        assert_eq!(Manifest::from_bytes(tampered.as_bytes()), None);
        assert_eq!(
            Manifest::from_bytes(format!("{text}extra").as_bytes()),
            None
        );
    }

    proptest! {
        #[test]
        fn a_proof_for_one_index_fails_at_any_other(n in 2usize..200, i in 0usize..200, j in 0usize..200) {
            let (i, j) = (i % n, j % n);
            prop_assume!(i != j);
            let h = hashes(n);
            let root = merkle_root(&h);
            let mut p = inclusion_proofs(&h)[i].clone();
            p.index = u32::try_from(j).unwrap();
            prop_assert!(!verify_inclusion(&h[i], &p, n, &root));
        }
    }
}
