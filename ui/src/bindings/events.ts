// Generated from src-tauri/src/state.rs; do not edit.

/** Carries a SyncProgress each time it changes. */
export const SYNC_PROGRESS_EVENT = "sync-progress";
/** Carries a SigningProgress each time it changes. */
export const SIGNING_PROGRESS_EVENT = "signing-progress";
