// Generated from the Rust rules (src-tauri/src/views.rs `Limits::current`); do not edit.

import type { Limits } from "./Limits";

export const LIMITS: Limits = {
  "void_reason_min": 5,
  "dose_number_max": 10,
  "full_name_max": 100,
  "screen_rows": 200,
  "browse_rows": 1000,
  "recovery_passphrase_min": 12
};
