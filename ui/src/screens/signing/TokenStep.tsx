// The token step of signing: the USB token found, its certificate chosen, and registered with the PIN and a fresh code.
import { useState } from "preact/hooks";
import { api } from "../../api";
import type { TokenView } from "../../bindings/TokenView";
import type { UiError } from "../../bindings/UiError";
import { Field } from "../../components/Field";
import { formatDate } from "../../format";
import { t } from "../../i18n";
import type { CertificateChoice } from "./useSigning";

export function TokenStep({
  choice,
  setChoice,
  busy,
  setBusy,
  errors,
  setErrors,
  setError,
}: {
  choice: CertificateChoice | null;
  setChoice: (choice: CertificateChoice) => void;
  busy: boolean;
  setBusy: (busy: boolean) => void;
  errors: Record<string, string>;
  setErrors: (errors: Record<string, string>) => void;
  setError: (error: UiError | null) => void;
}) {
  const [tokens, setTokens] = useState<TokenView[] | null>(null);
  const [regPin, setRegPin] = useState("");
  const [regOtp, setRegOtp] = useState("");
  const [regDone, setRegDone] = useState(false);

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

  return (
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
  );
}
