import { useState } from "preact/hooks";
import { api } from "../api";
import type { ResetRecord } from "../bindings/ResetRecord";
import { formatDateTime } from "../format";
import { t } from "../i18n";

/** The label of a reset's factor. */
export function factorLabel(r: ResetRecord): string {
  return t(r.factor === "password" ? "resetFactorPassword" : "resetFactorAuthenticator");
}

/**
 * Shown after a sign-in when someone else reset this account's password or authenticator: a
 * reset the holder did not ask for is how a take-over shows. Told once on each laptop.
 */
export function ResetNotices({ notices, onDone }: { notices: ResetRecord[]; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  if (notices.length === 0) return null;
  async function acknowledge() {
    setBusy(true);
    try {
      await api.acknowledgeResetNotices();
    } finally {
      setBusy(false);
      onDone();
    }
  }
  return (
    <section class="card warning" role="alert" data-testid="reset-notices">
      <h3>{t("resetNoticeTitle")}</h3>
      <ul>
        {notices.map((r) => (
          <li key={r.id}>
            {factorLabel(r)} {t("resetNoticeBy")} {r.requested_by}
            {r.approved_by ? ` (${t("resetApprovedBy").toLowerCase()}: ${r.approved_by})` : ""} — {formatDateTime(r.applied_at ?? r.requested_at)}
          </li>
        ))}
      </ul>
      <p class="help">{t("resetNoticeHelp")}</p>
      <button type="button" class="primary" disabled={busy} onClick={() => void acknowledge()} data-testid="reset-notices-ok">
        {t("resetNoticeOk")}
      </button>
    </section>
  );
}
