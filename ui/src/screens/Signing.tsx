import { useEffect, useState } from "preact/hooks";
import { api, progressEvents } from "../api";
import type { BacklogSummary } from "../bindings/BacklogSummary";
import type { SigningBatchSummary } from "../bindings/SigningBatchSummary";
import type { SigningCandidate } from "../bindings/SigningCandidate";
import type { SigningPreview } from "../bindings/SigningPreview";
import type { SigningProgress } from "../bindings/SigningProgress";
import type { TokenView } from "../bindings/TokenView";
import type { UiError } from "../bindings/UiError";
import type { Vaccine } from "../bindings/Vaccine";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { formatBirthDate, formatCount, formatDate, formatDateTime, todayIso, vaccineName } from "../format";
import { t } from "../i18n";
import { isBirthDateShape } from "../validate";

/** Rows shown per page of the preview. */
const PAGE = 200;

/** The head of a facility signs the selected doses with the USB token: one PIN for the whole
 * selection, one token signature per run of at most 1,000 people / 3,000 doses. */
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
  const [done, setDone] = useState<BacklogSummary | null>(null);
  const [excluded, setExcluded] = useState<string[]>([]);
  const [page, setPage] = useState(0);
  const [progress, setProgress] = useState<SigningProgress | null>(null);
  const [runs, setRuns] = useState<SigningBatchSummary[]>([]);

  const loadRuns = () => api.signingBatches().then(setRuns, () => setRuns([]));
  // A sync may have brought the server's verdict on a run.
  useEffect(() => {
    void loadRuns();
  }, [refreshKey]);

  const selection = (unticked: string[] = excluded) => ({
    from: from.trim(),
    to: to.trim(),
    full_name: name.trim() || null,
    phone: phone.trim() || null,
    include_mobile_teams: mobileTeams,
    excluded: unticked,
  });

  /** Ticks or unticks rows: the plan of runs is made again for the doses still ticked. */
  async function setTicked(ids: string[], ticked: boolean) {
    const next = ticked ? excluded.filter((id) => !ids.includes(id)) : [...new Set([...excluded, ...ids])];
    setExcluded(next);
    try {
      setPreview(await api.signingPreview(selection(next)));
    } catch (err) {
      setError(err as UiError);
    }
  }

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
    setExcluded([]);
    setPage(0);
    try {
      setPreview(await api.signingPreview(selection([])));
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
    // The runs' progress while the token signs them one after another, pushed by the shell.
    const stop = progressEvents.signing((p) => setProgress(p.running ? p : null));
    try {
      const summary = await api.signRun({ selection: selection(), expected_doses: preview.doses.length, slot: choice.slot, certificate_id: choice.id, pin });
      setDone(summary);
      setPreview(null);
      changed();
      void loadRuns();
    } catch (err) {
      setError(err as UiError);
      void loadRuns();
    } finally {
      stop();
      setProgress(null);
      // The PIN is never kept, whatever happened.
      setPin("");
      setBusy(false);
    }
  }

  const rows: { d: SigningCandidate; ticked: boolean }[] = preview
    ? [...preview.doses.map((d) => ({ d, ticked: true })), ...preview.unticked.map((d) => ({ d, ticked: false }))].sort((a, b) =>
        a.d.given_at === b.d.given_at ? a.d.dose_id.localeCompare(b.d.dose_id) : a.d.given_at.localeCompare(b.d.given_at),
      )
    : [];
  const shown = rows.slice(page * PAGE, (page + 1) * PAGE);
  // A unit that signs for an area sees doses of several facilities: say where each was given.
  const severalPlaces = new Set(rows.map((r) => r.d.facility)).size > 1;
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
          <Field id="sign-pin" type="password" label={t("pin")} value={pin} onInput={setPin} error={errors.pin} autoComplete="off" />
          <button type="submit" class="primary" disabled={busy || !choice || preview.doses.length === 0} data-testid="sign-submit">
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
      ) : null}
      {done ? (
        <p class="success card" role="status" data-testid="signing-done">
          {t("signedRun")} {formatCount(done.runs.length)}/{formatCount(done.runs_planned)} {t("signedRuns")} ·{" "}
          {formatCount(done.runs.reduce((n, r) => n + r.doses, 0))} {t("doseNo").toLowerCase()} ·{" "}
          {formatCount(done.runs.reduce((n, r) => n + r.people, 0))} {t("people").toLowerCase()}
          {done.stopped ? ` — ${t("stoppedAfter")}` : ""}
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
