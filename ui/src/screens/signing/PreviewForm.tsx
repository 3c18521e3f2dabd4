// The signing preview: the runs planned, the doses to tick or untick page by page, the PIN and the runs' progress.
import { api } from "../../api";
import type { SigningCandidate } from "../../bindings/SigningCandidate";
import type { SigningPreview } from "../../bindings/SigningPreview";
import type { SigningProgress } from "../../bindings/SigningProgress";
import type { VaccineEntry } from "../../bindings/VaccineEntry";
import { Field } from "../../components/Field";
import { formatBirthDate, formatCount, formatDateTime, vaccineName } from "../../format";
import { t } from "../../i18n";

/** Rows shown per page of the preview. */
const PAGE = 200;

export function PreviewForm({
  preview,
  catalogue,
  page,
  setPage,
  setTicked,
  pin,
  setPin,
  pinError,
  busy,
  chosen,
  progress,
  onSubmit,
}: {
  preview: SigningPreview;
  catalogue: VaccineEntry[];
  page: number;
  setPage: (page: number) => void;
  setTicked: (ids: string[], ticked: boolean) => Promise<void>;
  pin: string;
  setPin: (pin: string) => void;
  pinError: string | undefined;
  busy: boolean;
  /** Whether a certificate is chosen to sign with. */
  chosen: boolean;
  progress: SigningProgress | null;
  onSubmit: (e: Event) => void;
}) {
  const rows: { d: SigningCandidate; ticked: boolean }[] = [...preview.doses.map((d) => ({ d, ticked: true })), ...preview.unticked.map((d) => ({ d, ticked: false }))].sort(
    (a, b) => (a.d.given_at === b.d.given_at ? a.d.dose_id.localeCompare(b.d.dose_id) : a.d.given_at.localeCompare(b.d.given_at)),
  );
  const shown = rows.slice(page * PAGE, (page + 1) * PAGE);
  // A unit that signs for an area sees doses of several facilities: say where each was given.
  const severalPlaces = new Set(rows.map((r) => r.d.facility)).size > 1;
  return (
    <form class="card" onSubmit={onSubmit} data-testid="signing-preview-result">
      <h3>
        {t("willSign")}: <span data-testid="preview-doses">{formatCount(preview.doses.length)}</span> {t("doseNo").toLowerCase()} · {formatCount(preview.people)}{" "}
        {t("people").toLowerCase()}
      </h3>
      <p class="muted">
        {formatCount(preview.unverified_excluded)} {t("unverifiedExcluded")}
      </p>
      <p data-testid="planned-runs">
        <strong data-testid="planned-run-count">{formatCount(preview.runs.length)}</strong> {t("runsPlanned")}
        {preview.unticked.length > 0 ? ` · ${formatCount(preview.unticked.length)} ${t("unticked")}` : ""}
      </p>
      {preview.runs.length > 1 ? (
        <ol class="planned-runs">
          {preview.runs.map((r, i) => (
            <li key={i}>
              {t("run")} {i + 1}: {formatCount(r.people)} {t("people").toLowerCase()}, {formatCount(r.doses)} {t("doseNo").toLowerCase()} ·{" "}
              {formatDateTime(r.first_given_at)} → {formatDateTime(r.last_given_at)}
            </li>
          ))}
        </ol>
      ) : null}
      <div class="actions">
        <button type="button" data-testid="tick-all" onClick={() => void setTicked(rows.map((r) => r.d.dose_id), true)}>
          {t("tickAll")}
        </button>
        <button type="button" data-testid="untick-all" onClick={() => void setTicked(rows.map((r) => r.d.dose_id), false)}>
          {t("untickAll")}
        </button>
      </div>
      <table>
        <tbody>
          {shown.map(({ d, ticked }) => (
            <tr key={d.dose_id} data-testid="preview-row">
              <td>
                <input
                  type="checkbox"
                  checked={ticked}
                  aria-label={d.full_name}
                  data-testid="preview-tick"
                  onChange={(e) => void setTicked([d.dose_id], (e.target as HTMLInputElement).checked)}
                />
              </td>
              <td>{d.full_name}</td>
              <td>{formatBirthDate(d.birth_date)}</td>
              <td>{d.id_number}</td>
              <td>{vaccineName(catalogue, d.vaccine)}</td>
              <td>
                {t("doseNo")} {d.dose_number}
              </td>
              <td>{formatDateTime(d.given_at)}</td>
              {severalPlaces ? <td data-testid="preview-facility">{d.facility}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length > PAGE ? (
        <div class="actions">
          <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
            {t("previousPage")}
          </button>
          <span data-testid="preview-page">
            {formatCount(page * PAGE + 1)}–{formatCount(Math.min(rows.length, (page + 1) * PAGE))} / {formatCount(rows.length)}
          </span>
          <button type="button" data-testid="preview-next" disabled={(page + 1) * PAGE >= rows.length} onClick={() => setPage(page + 1)}>
            {t("nextPage")}
          </button>
        </div>
      ) : null}
      <Field id="sign-pin" type="password" label={t("pin")} value={pin} onInput={setPin} error={pinError} autoComplete="off" />
      <button type="submit" class="primary" disabled={busy || !chosen || preview.doses.length === 0} data-testid="sign-submit">
        {busy ? t("signingInProgress") : `${t("signNow")} ${formatCount(preview.doses.length)} ${t("doseNo").toLowerCase()}`}
      </button>
      {busy && progress?.running ? (
        <p role="status" data-testid="signing-progress">
          {t("signingRun")} {Math.min(progress.runs_done + 1, progress.runs_planned)}/{progress.runs_planned} · {formatCount(progress.doses_signed)}/
          {formatCount(progress.doses_planned)} {t("doseNo").toLowerCase()}{" "}
          <progress max={progress.runs_planned} value={progress.runs_done} aria-hidden="true" />{" "}
          <button type="button" data-testid="signing-stop" onClick={() => void api.cancelSigning()}>
            {t("stopSigning")}
          </button>
        </p>
      ) : null}
    </form>
  );
}
