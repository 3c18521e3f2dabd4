import { useRef, useState } from "preact/hooks";
import { api } from "../api";
import type { PassportCheck } from "../bindings/PassportCheck";
import type { UiError } from "../bindings/UiError";
import { ErrorBox } from "../components/ErrorBox";
import { infoRow } from "../components/InfoRow";
import { formatBirthDate, formatDate, formatDateTime } from "../format";
import { t } from "../i18n";

/** "Kiểm tra hộ chiếu": a scanned or pasted passport checked offline, with a clear verdict. */
export function Passport() {
  const [text, setText] = useState("");
  const [result, setResult] = useState<PassportCheck | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);

  async function check(e?: Event) {
    e?.preventDefault();
    const code = input.current?.value ?? text;
    if (!code.trim()) return;
    setBusy(true);
    setError(null);
    try {
      setResult(await api.checkPassport(code));
      // Ready for the next scan.
      setText("");
      if (input.current) input.current.value = "";
      input.current?.focus();
    } catch (err) {
      setResult(null);
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }

  const verdictClass = result ? (result.accepted ? "verdict ok" : result.verdict === "expired" || result.verdict === "revoked" ? "verdict warn" : "verdict bad") : "";
  return (
    <main data-testid="passport-check">
      <div class="card">
        <h2>{t("passportCheckTitle")}</h2>
        <p class="muted">{t("passportCheckHelp")}</p>
        <form onSubmit={(e) => void check(e)}>
          <div class="field">
            <label for="passport-code">{t("passportCode")}</label>
            <textarea
              id="passport-code"
              ref={input}
              rows={3}
              autoFocus
              spellcheck={false}
              value={text}
              onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
              onKeyDown={(e) => {
                // The scanner ends with Enter: check at once.
                if (e.key === "Enter" && !e.shiftKey) void check(e);
              }}
            />
          </div>
          <div class="actions">
            <button type="submit" class="primary" data-testid="check-passport" disabled={busy}>
              {t("passportCheck")}
            </button>
          </div>
        </form>
        <ErrorBox error={error} onClose={() => setError(null)} />
        {result ? (
          <section class={verdictClass} role="status" data-testid="passport-verdict" data-verdict={result.verdict}>
            <p class="verdict-text">{result.message}</p>
            <table>
              <tbody>
                {infoRow(t("passportHolder"), result.holder ? `${result.holder} (${result.holder_icao ?? ""})` : null, "passport-holder")}
                {infoRow(t("passportBirth"), result.birth_date ? formatBirthDate(result.birth_date) : null, "passport-birth")}
                {infoRow(t("passportVaccine"), result.vaccine, "passport-vaccine")}
                {infoRow(t("passportDose"), result.dose, "passport-dose")}
                {infoRow(t("passportDate"), result.vaccinated_on ? formatDate(result.vaccinated_on) : null, "passport-date")}
                {infoRow(t("passportUvci"), result.uvci, "passport-checked-uvci")}
                {infoRow(t("passportValidUntil"), result.expires_at ? formatDateTime(result.expires_at) : null, "passport-expires")}
                {infoRow(t("passportSigner"), result.signer, "passport-signer")}
              </tbody>
            </table>
            <p class="muted">
              {t("passportTrustList")} {formatDateTime(result.trust_list_issued_at)}
            </p>
          </section>
        ) : null}
      </div>
    </main>
  );
}
