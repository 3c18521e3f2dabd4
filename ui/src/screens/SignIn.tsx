import { useState } from "preact/hooks";
import { api } from "../api";
import type { AppStatus } from "../bindings/AppStatus";
import type { SignInStep } from "../bindings/SignInStep";
import type { UiError } from "../bindings/UiError";
import { ErrorBox } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { lang, t } from "../i18n";
import { checkNewPassword, checkOtp, requiredMessage } from "../validate";

type Step = { kind: "password" } | { kind: "enroll"; challenge: string; qrSvg: string; secret: string } | { kind: "change"; challenge: string };

/** Sign-in with a one-time code, and the steps of a first login. */
export function SignIn({ status, onDone }: { status: AppStatus; onDone: () => void }) {
  const [step, setStep] = useState<Step>({ kind: "password" });
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [otp, setOtp] = useState("");
  const [newPassword, setNewPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  function follow(next: SignInStep) {
    setOtp("");
    setErrors({});
    if (next.next === "done") {
      setPassword("");
      onDone();
    } else if (next.next === "enroll_otp") {
      setStep({ kind: "enroll", challenge: next.challenge, qrSvg: next.qr_svg, secret: next.secret });
    } else {
      setStep({ kind: "change", challenge: next.challenge });
    }
  }

  async function run(action: () => Promise<SignInStep>) {
    setBusy(true);
    setError(null);
    try {
      follow(await action());
    } catch (err) {
      // What was typed stays; only the spent code is cleared.
      setOtp("");
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }

  function submit(e: Event) {
    e.preventDefault();
    if (step.kind === "password") {
      const local: Record<string, string> = {};
      if (!username.trim()) local.username = requiredMessage(lang.get());
      if (!password) local.password = requiredMessage(lang.get());
      if (otp && Object.keys(checkOtp(otp, lang.get())).length) Object.assign(local, checkOtp(otp, lang.get()));
      setErrors(local);
      if (Object.keys(local).length) return;
      void run(() => api.signIn({ username, password, otp: otp.trim() }));
    } else if (step.kind === "enroll") {
      const local = checkOtp(otp, lang.get());
      setErrors(local);
      if (Object.keys(local).length) return;
      void run(() => api.completeEnrollment({ challenge: step.challenge, otp: otp.trim(), password }));
    } else {
      const local = checkNewPassword(newPassword, confirm, lang.get());
      setErrors(local);
      if (Object.keys(local).length) return;
      void run(() => api.changeInitialPassword({ challenge: step.challenge, new_password: newPassword }));
    }
  }

  const offline = status.online === false;
  return (
    <main class="centered">
      <form class="card narrow" onSubmit={submit} data-testid="sign-in-form">
        <h1>{step.kind === "password" ? t("signInTitle") : step.kind === "enroll" ? t("enrollTitle") : t("newPasswordTitle")}</h1>
        {status.facility ? <p class="facility-name">{status.facility.name}</p> : null}
        {step.kind === "password" ? (
          <>
            {offline ? <p class="notice">{t("offlineSignIn")}</p> : null}
            <Field id="username" label={t("username")} value={username} onInput={setUsername} error={errors.username} autoFocus autoComplete="username" required />
            <Field id="password" label={t("password")} type="password" value={password} onInput={setPassword} error={errors.password} autoComplete="current-password" required />
            <Field id="otp" label={t("otp")} value={otp} onInput={setOtp} error={errors.otp} hint={t("otpHelp")} inputMode="numeric" autoComplete="one-time-code" />
          </>
        ) : step.kind === "enroll" ? (
          <>
            <p class="help">{t("enrollHelp")}</p>
            <img class="qr" data-testid="enroll-qr" alt="QR" src={`data:image/svg+xml;utf8,${encodeURIComponent(step.qrSvg)}`} />
            <p class="help">
              {t("secretByHand")}: <code data-testid="enroll-secret">{step.secret}</code>
            </p>
            <Field id="otp" label={t("otp")} value={otp} onInput={setOtp} error={errors.otp} autoFocus inputMode="numeric" autoComplete="one-time-code" required />
          </>
        ) : (
          <>
            <p class="help">{t("passwordRules")}</p>
            <Field id="new_password" label={t("newPassword")} type="password" value={newPassword} onInput={setNewPassword} error={errors.new_password} autoFocus autoComplete="new-password" required />
            <Field id="confirm_password" label={t("confirmPassword")} type="password" value={confirm} onInput={setConfirm} error={errors.confirm} autoComplete="new-password" required />
          </>
        )}
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy} data-testid="sign-in-submit">
          {step.kind === "password" ? t("signIn") : step.kind === "enroll" ? t("confirm") : t("savePassword")}
        </button>
      </form>
    </main>
  );
}
