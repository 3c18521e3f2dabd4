import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { Paper } from "../bindings/Paper";
import type { PassportStatus } from "../bindings/PassportStatus";
import type { UiError } from "../bindings/UiError";
import { ErrorBox } from "./ErrorBox";
import { formatDateTime } from "../format";
import { t } from "../i18n";

/** A person's vaccine passport: whether they have one, printing it, and the revoked ones. */
export function PassportCard({ personId, refreshKey }: { personId: string; refreshKey: number }) {
  const [status, setStatus] = useState<PassportStatus | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [paper, setPaper] = useState<Paper>("a4");

  useEffect(() => {
    setSaved(null);
    api.passportStatus(personId).then(setStatus, (e) => setError(e as UiError));
  }, [personId, refreshKey]);

  async function print() {
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      setSaved((await api.printPassport(personId, paper)).path);
    } catch (e) {
      setError(e as UiError);
    } finally {
      setBusy(false);
    }
  }

  if (!status) return <ErrorBox error={error} />;
  const current = status.current;
  return (
    <section class="passport" aria-label={t("passportTitle")} data-testid="passport-card">
      <h3>{t("passportTitle")}</h3>
      <p data-testid="passport-summary">{status.summary}</p>
      {current ? (
        <p class="muted">
          <span data-testid="passport-uvci">{current.uvci}</span> · {t("passportValidUntil")} {formatDateTime(current.expires_at)}
        </p>
      ) : null}
      {status.history.length > 0 ? (
        <ul class="muted">
          {status.history.map((p) => (
            <li key={p.uvci}>
              {p.uvci} — {p.state === "revoked" ? t("passportRevoked") : t("passportExpired")}
              {p.revoked_at ? ` ${formatDateTime(p.revoked_at)}` : ""}
            </li>
          ))}
        </ul>
      ) : null}
      <div class="actions">
        <label for="passport-paper">{t("passportPaper")}</label>
        <select id="passport-paper" value={paper} onChange={(e) => setPaper((e.target as HTMLSelectElement).value as Paper)}>
          <option value="a4">A4</option>
          <option value="a5">A5</option>
        </select>
        <button type="button" data-testid="print-passport" disabled={!current || busy} onClick={() => void print()}>
          {t("printPassport")}
        </button>
      </div>
      {saved ? (
        <p class="success" role="status" data-testid="passport-saved">
          {t("passportSaved")} {saved}
        </p>
      ) : null}
      <ErrorBox error={error} onClose={() => setError(null)} />
    </section>
  );
}
