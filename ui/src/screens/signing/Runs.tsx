// The signing results: what the last signing signed, and the history of runs with the server's verdict.
import type { BacklogSummary } from "../../bindings/BacklogSummary";
import type { SigningBatchSummary } from "../../bindings/SigningBatchSummary";
import { formatCount, formatDateTime } from "../../format";
import { t } from "../../i18n";

/** The runs just signed, out of those planned, and whether the signer stopped them. */
export function SignedSummary({ done }: { done: BacklogSummary }) {
  return (
    <p class="success card" role="status" data-testid="signing-done">
      {t("signedRun")} {formatCount(done.runs.length)}/{formatCount(done.runs_planned)} {t("signedRuns")} ·{" "}
      {formatCount(done.runs.reduce((n, r) => n + r.doses, 0))} {t("doseNo").toLowerCase()} ·{" "}
      {formatCount(done.runs.reduce((n, r) => n + r.people, 0))} {t("people").toLowerCase()}
      {done.stopped ? ` — ${t("stoppedAfter")}` : ""}
    </p>
  );
}

const statusText = (s: string) => (s === "accepted" ? t("statusAccepted") : s === "refused" ? t("statusRefused") : t("statusPending"));

/** The runs signed here, each accepted, refused or waiting for the server. */
export function RunHistory({ runs }: { runs: SigningBatchSummary[] }) {
  return (
    <section class="card">
      <h3>{t("runs")}</h3>
      <table data-testid="signing-runs">
        <tbody>
          {runs.map((r) => (
            <tr key={r.batch_id}>
              <td>{formatDateTime(r.created_at)}</td>
              <td>
                {formatCount(r.doses)} {t("doseNo").toLowerCase()}
              </td>
              <td>{r.signer}</td>
              <td data-status={r.status}>
                {statusText(r.status)}
                {r.message ? `: ${r.message}` : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
