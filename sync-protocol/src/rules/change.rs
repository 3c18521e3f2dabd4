//! Rules on a change and on the document it produces, before its person is read: an author
//! who is the signed-in user, operation counters in range, a history to build on, the keys and
//! the size a person document may have.

use super::{MAX_DOCUMENT_BYTES, MAX_OP_COUNTER, Violation};
use crate::commit::CommitMeta;
use crate::document::DocIssues;
use automerge::Change;

/// Checks what `change` says about itself, pushed by `session_user` for a person who exists
/// already (`existing`) or not: its author, its counters and its dependencies. Returns its meta.
pub fn check_change(
    change: &Change,
    session_user: &str,
    existing: bool,
) -> Result<CommitMeta, Violation> {
    let meta = CommitMeta::from_change(change).ok_or(Violation::NoAuthor)?;
    if meta.user != session_user {
        return Err(Violation::WrongAuthor {
            claimed: meta.user,
            session: session_user.to_string(),
        });
    }
    check_counters(change)?;
    // A change with no dependencies starts a new document: for a person who exists, it is
    // built beside the real history, not on it.
    if existing && change.deps().is_empty() {
        return Err(Violation::Detached);
    }
    Ok(meta)
}

/// Checks a change's operation counter and sequence number against [`MAX_OP_COUNTER`]:
/// counters past anything real are how a forged change tries to win every conflict, and numbers
/// near the integer limits make Automerge panic at the next local edit.
pub fn check_counters(change: &Change) -> Result<(), Violation> {
    // (Saturating: `Change::max_op` itself overflows on such input.)
    let last_op = change.start_op().get().saturating_add(change.len() as u64);
    let found = last_op.max(change.seq());
    if found > MAX_OP_COUNTER {
        return Err(Violation::CounterOutOfRange {
            found,
            max: MAX_OP_COUNTER,
        });
    }
    Ok(())
}

/// Checks the shape of a document a change produces: no unknown keys, no concurrent values of
/// the keys a forged document alone has, not larger than a station can receive.
pub fn check_document(issues: &DocIssues, saved_bytes: usize) -> Result<(), Violation> {
    if let Some(path) = issues.unknown.first() {
        return Err(Violation::UnknownField { path: path.clone() });
    }
    if !issues.conflicts.is_empty() {
        return Err(Violation::StructuralConflict {
            paths: issues.conflicts.join(", "),
        });
    }
    if saved_bytes > MAX_DOCUMENT_BYTES {
        return Err(Violation::DocumentTooLarge {
            bytes: saved_bytes,
            max: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(())
}
