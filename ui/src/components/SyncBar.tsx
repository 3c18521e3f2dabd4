import { useState } from "preact/hooks";
import type { AppStatus } from "../bindings/AppStatus";
import type { SyncPhase } from "../bindings/SyncPhase";
import type { UiError } from "../bindings/UiError";
import { ago, formatCount, formatDateTime } from "../format";
import { lang, t, type TextKey } from "../i18n";

interface Props {
  status: AppStatus;
  syncError: UiError | null;
  syncMessage: string | null;
  onSync: () => void;
  onCancel: () => void;
}

const PHASES: Record<SyncPhase, TextKey> = {
  connect: "phaseConnect",
  push: "phasePush",
  bootstrap: "phaseBootstrap",
  pull: "phasePull",
  audit: "phaseAudit",
};

/** Always visible: the link, what waits to be synced, the last sync, refused changes. */
export function SyncBar({ status, syncError, syncMessage, onSync, onCancel }: Props) {
  const [showQuarantine, setShowQuarantine] = useState(false);
  const sync = status.sync;
  const progress = status.progress;
  const offlineSession = status.session && !status.session.online;
  const linkState = !sync?.server_url ? "none" : status.online === false ? "offline" : status.online ? "online" : "unknown";
  const quarantined = sync?.quarantined ?? [];
  return (
    <section class="sync-bar" aria-label={t("syncNow")}>
      <span class={`link-state link-${linkState}`} data-testid="online-state" data-state={linkState}>
        <span class="dot" aria-hidden="true" />
        {linkState === "none" ? t("noServer") : linkState === "offline" ? t("offline") : t("online")}
        {offlineSession ? ` · ${t("offlineSession")}` : ""}
      </span>
      <span class="pending">
        {t("pending")}:{" "}
        <strong data-testid="pending-count">{formatCount(sync?.pending_changes ?? 0)}</strong>
      </span>
      {(sync?.waiting_for_author ?? []).length > 0 ? (
        <span class="waiting-author" data-testid="waiting-for-author">
          {t("waitingForAuthor")}:{" "}
          {(sync?.waiting_for_author ?? []).map((w) => `${w.user} (${formatCount(w.changes)})`).join(", ")}
        </span>
      ) : null}
      <span class="last-sync" title={formatDateTime(sync?.last_sync_at)}>
        {t("lastSync")}: <span data-testid="last-sync">{ago(sync?.last_sync_at, new Date(), lang.get())}</span>
      </span>
      {sync?.last_error && !syncError && !progress.running ? (
        <span class="last-sync-error" data-testid="last-sync-error" title={sync.last_error}>
          {t("lastSyncFailed")}: {sync.last_error}
        </span>
      ) : null}
      {quarantined.length > 0 ? (
        <button
          type="button"
          class="warn"
          data-testid="quarantine-toggle"
          aria-expanded={showQuarantine}
          onClick={() => setShowQuarantine(!showQuarantine)}
        >
          {t("quarantined")}: {quarantined.length}
        </button>
      ) : null}
      <span class="sync-action">
        {progress.running ? (
          <>
            <span data-testid="sync-progress" role="status">
              {t("syncing")}: {t(PHASES[progress.phase])}
              {progress.to_push > 0 ? ` · ${t("sent")} ${formatCount(progress.pushed)}/${formatCount(progress.to_push)}` : ""}
              {progress.received > 0 ? ` · ${t("received")} ${formatCount(progress.received)}` : ""}
            </span>
            {progress.to_push > 0 ? (
              <progress max={progress.to_push} value={progress.pushed} aria-hidden="true" />
            ) : (
              <progress aria-hidden="true" />
            )}
            <button type="button" data-testid="sync-cancel" onClick={onCancel}>
              {t("cancel")}
            </button>
          </>
        ) : (
          <button
            type="button"
            data-testid="sync-now"
            disabled={!status.session || !sync?.server_url}
            onClick={onSync}
            title="Alt+S"
          >
            {t("syncNow")}
          </button>
        )}
      </span>
      {syncMessage && !progress.running ? (
        <span class="sync-message" role="status" data-testid="sync-message">
          {syncMessage}
        </span>
      ) : null}
      {syncError && !progress.running ? (
        <span class="sync-error" role="alert" data-testid="sync-error">
          {syncError.message}
        </span>
      ) : null}
      {showQuarantine ? (
        <div class="quarantine" data-testid="quarantine-list">
          <table>
            <thead>
              <tr>
                <th>{t("fullName")}</th>
                <th>{t("reason")}</th>
                <th>{t("day")}</th>
              </tr>
            </thead>
            <tbody>
              {quarantined.map((q) => (
                <tr key={q.change_hash}>
                  <td>{q.full_name ?? q.person_id}</td>
                  <td>{q.message}</td>
                  <td>{formatDateTime(q.quarantined_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
