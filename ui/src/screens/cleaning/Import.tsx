// The corrected list back from the police: a preview of every change, then applied with a code.

import { useState } from "preact/hooks";
import { api } from "../../api";
import type { ImportPreviewView } from "../../bindings/ImportPreviewView";
import type { ImportSummary } from "../../bindings/ImportSummary";
import type { UiError } from "../../bindings/UiError";
import { ErrorBox } from "../../components/ErrorBox";
import { Field } from "../../components/Field";
import { formatCount } from "../../format";
import { t } from "../../i18n";

const FIELD_NAMES: Record<string, "fullName" | "gender" | "birthDate" | "idNumber" | "phone"> = {
  full_name: "fullName",
  gender: "gender",
  birth_date: "birthDate",
  id_number: "idNumber",
  phone: "phone",
};

export function Import({ changed }: { changed: () => void }) {
  const [preview, setPreview] = useState<ImportPreviewView | null>(null);
  const [summary, setSummary] = useState<ImportSummary | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [otp, setOtp] = useState("");
  const [otpError, setOtpError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function chosen(e: Event) {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    setPreview(null);
    setSummary(null);
    setError(null);
    if (!file) return;
    setBusy(true);
    try {
      const content = Array.from(new Uint8Array(await file.arrayBuffer()));
      setPreview(await api.importPreview({ name: file.name, content }));
    } catch (err) {
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }

  async function apply(e: Event) {
    e.preventDefault();
    if (!preview) return;
    if (!/^\d{6}$/.test(otp.trim())) {
      setOtpError(t("otpSixDigits"));
      return;
    }
    setOtpError(undefined);
    setBusy(true);
    setError(null);
    try {
      setSummary(await api.importApply({ upload_id: preview.upload_id, expected_changes: preview.preview.changes.length, otp: otp.trim() }));
      setPreview(null);
      setOtp("");
      changed();
    } catch (err) {
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }

  const p = preview?.preview;
  return (
    <section class="card" data-testid="import">
      <p class="muted">{t("importHelp")}</p>
      <div class="field">
        <label for="import-file">{t("chooseFile")}</label>
        <input id="import-file" data-testid="import-file" type="file" accept=".xlsx,.csv" onChange={chosen} disabled={busy} />
      </div>
      <ErrorBox error={error} />
      {summary ? (
        <p class="success" data-testid="import-done">
          {t("importDone")}: {formatCount(summary.changed)}
          {summary.problems.length > 0 ? ` · ${formatCount(summary.problems.length)} ${t("rowsNotApplied")}` : ""}
        </p>
      ) : null}
      {p ? (
        <form onSubmit={apply} data-testid="import-preview">
          <p>
            {formatCount(p.rows)} {t("rows")}: <strong data-testid="import-changes">{formatCount(p.changes.length)}</strong> {t("willChange")}, {formatCount(p.unchanged)} {t("alreadyRight")},{" "}
            <strong data-testid="import-problems">{formatCount(p.problems.length)}</strong> {t("rowsNotApplied")}
          </p>
          {p.changes.length > 0 ? (
            <table>
              <thead>
                <tr>
                  <th>{t("row")}</th>
                  <th>{t("fullName")}</th>
                  <th>{t("changes")}</th>
                </tr>
              </thead>
              <tbody>
                {p.changes.map((c) => (
                  <tr key={c.row}>
                    <td>{c.row}</td>
                    <td>{c.full_name}</td>
                    <td>
                      {c.changes.map((f) => (
                        <div key={f.field}>
                          {t(FIELD_NAMES[f.field] ?? "note")}: <del>{f.before ?? "—"}</del> → <ins>{f.after ?? "—"}</ins>
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {p.problems.length > 0 ? (
            <>
              <h3>{t("rowsNotApplied")}</h3>
              <table data-testid="import-problem-rows">
                <tbody>
                  {p.problems.map((x) => (
                    <tr key={x.row}>
                      <td>{x.row}</td>
                      <td>{x.full_name}</td>
                      <td>{x.id_number ?? ""}</td>
                      <td>{x.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ) : null}
          {p.changes.length > 0 ? (
            <>
              <Field id="import-otp" label={t("freshOtp")} value={otp} onInput={setOtp} error={otpError} inputMode="numeric" autoComplete="one-time-code" />
              <button type="submit" disabled={busy} data-testid="import-apply">
                {t("applyChanges")}
              </button>
            </>
          ) : null}
        </form>
      ) : null}
    </section>
  );
}
