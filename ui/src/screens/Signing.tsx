import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { SigningBatchSummary } from "../bindings/SigningBatchSummary";
import type { SigningPreview } from "../bindings/SigningPreview";
import type { TokenView } from "../bindings/TokenView";
import type { UiError } from "../bindings/UiError";
import type { Vaccine } from "../bindings/Vaccine";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { formatBirthDate, formatCount, formatDate, formatDateTime, todayIso } from "../format";
import { t } from "../i18n";
import { isBirthDateShape } from "../validate";
import { vaccineName } from "./Session";

/** The head of a facility signs the day's doses with the USB token: one PIN, one signature. */
export function Signing({ catalogue, changed, refreshKey }: { catalogue: Vaccine[]; changed: () => void; refreshKey: number }) {
  const [tokens, setTokens] = useState<TokenView[] | null>(null);
  const [choice, setChoice] = useState<{ slot: number; id: string } | null>(null);
  const [from, setFrom] = useState(formatDate(todayIso()));
  const [to, setTo] = useState(formatDate(todayIso()));
  const [name, setName] = useState("");
  const [phone, setPhone] = useState("");
  const [regPin, setRegPin] = useState("");
  const [regOtp, setRegOtp] = useState("");
  const [regDone, setRegDone] = useState(false);
  const [mobileTeams, setMobileTeams] = useState(false);
  const [preview, setPreview] = useState<SigningPreview | null>(null);
  const [pin, setPin] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<SigningBatchSummary | null>(null);
  const [runs, setRuns] = useState<SigningBatchSummary[]>([]);

  const loadRuns = () => api.signingBatches().then(setRuns, () => setRuns([]));
  // A sync may have brought the server's verdict on a run.
  useEffect(() => {
    void loadRuns();
  }, [refreshKey]);

  const selection = () => ({
    from: from.trim(),
    to: to.trim(),
    full_name: name.trim() || null,
    phone: phone.trim() || null,
    include_mobile_teams: mobileTeams,
  });

  async function findTokens() {
    setError(null);
    try {
      const found = await api.signingTokens();
      setTokens(found);
      const usable = found.flatMap((tk) => tk.certificates.filter((c) => c.registered && c.valid_now).map((c) => ({ slot: tk.slot, id: c.id })));
      if (usable.length > 0) setChoice(usable[0]);
    } catch (e) {
      setError(e as UiError);
    }
  }

  async function showPreview(e: Event) {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!isBirthDateShape(from) || /^\d{4}$/.test(from.trim())) local.from = t("dayFormat");
    if (!isBirthDateShape(to) || /^\d{4}$/.test(to.trim())) local.to = t("dayFormat");
    setErrors(local);
    if (Object.keys(local).length) return;
    setError(null);
    setDone(null);
    try {
      setPreview(await api.signingPreview(selection()));
    } catch (err) {
      setError(err as UiError);
      setErrors(fieldErrors(err as UiError));
    }
  }

  async function register(e: Event) {
    e.preventDefault();
    if (!choice) return;
    const local: Record<string, string> = {};
    if (!regPin) local.regPin = t("pinRequired");
    if (!/^\d{6}$/.test(regOtp.trim())) local.regOtp = t("otpSixDigits");
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      await api.registerCertificate({ slot: choice.slot, certificate_id: choice.id, pin: regPin, otp: regOtp.trim() });
      setRegDone(true);
      setRegOtp("");
      await findTokens();
    } catch (err) {
      setError(err as UiError);
    } finally {
      setRegPin("");
      setBusy(false);
    }
  }

  const chosen = tokens?.find((tk) => tk.slot === choice?.slot)?.certificates.find((c) => c.id === choice?.id);

  async function sign(e: Event) {
    e.preventDefault();
    if (!preview || !choice) return;
    if (!pin) {
      setErrors({ pin: t("pinRequired") });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const run = await api.signRun({ selection: selection(), expected_doses: preview.doses.length, slot: choice.slot, certificate_id: choice.id, pin });
      setDone(run);
      setPreview(null);
      changed();
      void loadRuns();
    } catch (err) {
      setError(err as UiError);
    } finally {
      // The PIN is never kept, whatever happened.
      setPin("");
      setBusy(false);
    }
  }

  const statusText = (s: string) => (s === "accepted" ? t("statusAccepted") : s === "refused" ? t("statusRefused") : t("statusPending"));
  return (
    <main class="report" data-testid="signing">
      <section class="card">
        <h2>{t("signingTitle")}</h2>
        <p class="help">{t("signingHelp")}</p>
        <div class="actions">
          <button type="button" onClick={findTokens} data-testid="find-token">
            {t("findToken")}
          </button>
        </div>
        {tokens?.map((tk) => (
          <fieldset key={tk.slot} class="token" data-testid="token">
            <legend>
              {tk.label} <span class="muted">({tk.module})</span>
            </legend>
            {tk.certificates.map((c) => (
              <label key={c.id} class="certificate">
                <input
                  type="radio"
                  name="certificate"
                  checked={choice?.slot === tk.slot && choice.id === c.id}
                  onChange={() => setChoice({ slot: tk.slot, id: c.id })}
                  data-testid={`certificate-${c.id}`}
                />
                <span>
                  <strong>{c.subject}</strong>
                  <br />
                  <span class="muted">
                    {c.issuer} · {t("certificate")} {c.serial} · {formatDate(c.not_before)} → {formatDate(c.not_after)} ·{" "}
                    {c.registered ? t("registered") : t("notRegistered")}
                    {c.valid_now ? "" : ` · ${t("expired")}`}
                  </span>
                </span>
              </label>
            ))}
          </fieldset>
        ))}
        {chosen && !chosen.registered && chosen.valid_now ? (
          <form onSubmit={register} data-testid="register-certificate">
            <p class="help">{t("registerHelp")}</p>
            <div class="grid">
              <Field id="reg-pin" type="password" label={t("pin")} value={regPin} onInput={setRegPin} error={errors.regPin} autoComplete="off" />
              <Field id="reg-otp" label={t("freshOtp")} value={regOtp} onInput={setRegOtp} error={errors.regOtp} inputMode="numeric" autoComplete="one-time-code" />
            </div>
            <button type="submit" disabled={busy} data-testid="register-submit">
              {t("registerCertificate")}
            </button>
          </form>
        ) : null}
        {regDone ? (
          <p class="success" data-testid="register-done">
            {t("certificateRegistered")}
          </p>
        ) : null}
      </section>
      <form class="card" onSubmit={showPreview} data-testid="signing-selection">
        <div class="grid">
          <Field id="sign-from" label={t("fromDay")} value={from} onInput={setFrom} error={errors.from} placeholder="dd/mm/yyyy" />
          <Field id="sign-to" label={t("toDay")} value={to} onInput={setTo} error={errors.to} placeholder="dd/mm/yyyy" />
          <Field id="sign-name" label={t("fullName")} value={name} onInput={setName} />
          <Field id="sign-phone" label={t("phone")} value={phone} onInput={setPhone} error={errors.phone} />
        </div>
        <label class="check">
          <input
            type="checkbox"
            id="sign-mobile-teams"
            checked={mobileTeams}
            onChange={(e) => setMobileTeams((e.target as HTMLInputElement).checked)}
          />{" "}
          {t("includeMobileTeams")}
        </label>
        <button type="submit" data-testid="signing-preview">
          {t("preview")}
        </button>
      </form>
      <ErrorBox error={error} />
      {preview ? (
        <form class="card" onSubmit={sign} data-testid="signing-preview-result">
          <h3>
            {t("willSign")}: <span data-testid="preview-doses">{formatCount(preview.doses.length)}</span> {t("doseNo").toLowerCase()} · {formatCount(preview.people)}{" "}
            {t("people").toLowerCase()}
          </h3>
          <p class="muted">
            {formatCount(preview.unverified_excluded)} {t("unverifiedExcluded")}
          </p>
          {preview.within_limits ? null : <p class="notice">{t("overLimit")}</p>}
          <table>
            <tbody>
              {preview.doses.slice(0, 200).map((d) => (
                <tr key={d.dose_id}>
                  <td>{d.full_name}</td>
                  <td>{formatBirthDate(d.birth_date)}</td>
                  <td>{d.id_number}</td>
                  <td>{vaccineName(catalogue, d.vaccine)}</td>
                  <td>
                    {t("doseNo")} {d.dose_number}
                  </td>
                  <td>{formatDateTime(d.given_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {preview.doses.length > 200 ? <p class="muted">… {formatCount(preview.doses.length - 200)}</p> : null}
          <Field id="sign-pin" type="password" label={t("pin")} value={pin} onInput={setPin} error={errors.pin} autoComplete="off" />
          <button type="submit" class="primary" disabled={busy || !choice || !preview.within_limits || preview.doses.length === 0} data-testid="sign-submit">
            {busy ? t("signingInProgress") : `${t("signNow")} ${formatCount(preview.doses.length)} ${t("doseNo").toLowerCase()}`}
          </button>
        </form>
      ) : null}
      {done ? (
        <p class="success card" role="status" data-testid="signing-done">
          {t("signedRun")} {formatCount(done.doses)} {t("doseNo").toLowerCase()} · {formatCount(done.people)} {t("people").toLowerCase()} — {statusText(done.status)}
        </p>
      ) : null}
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
    </main>
  );
}
