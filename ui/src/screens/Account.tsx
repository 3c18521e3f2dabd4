import { useState } from "preact/hooks";
import { api } from "../api";
import type { SessionView } from "../bindings/SessionView";
import type { SignInEvent } from "../bindings/SignInEvent";
import type { UiError } from "../bindings/UiError";
import { BackupCard } from "../components/BackupCard";
import { UpdateCard } from "../components/UpdateCard";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { SignInHistory } from "../components/SignInHistory";
import { formatDateTime } from "../format";
import { lang, t } from "../i18n";
import { ROLES } from "../roles";
import { checkNewPassword, checkOtp, requiredMessage } from "../validate";

/** Who is signed in, changing the password, signing out. */
export function Account({ session, signedOut }: { session: SessionView; signedOut: () => void }) {
  const [form, setForm] = useState({ old: "", otp: "", password: "", confirm: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [done, setDone] = useState(false);
  const [history, setHistory] = useState<SignInEvent[] | null>(null);
  const [historyError, setHistoryError] = useState<UiError | null>(null);

  async function showHistory() {
    setHistoryError(null);
    try {
      setHistory(await api.ownSignIns());
    } catch (err) {
      setHistoryError(err as UiError);
    }
  }

  async function change(e: Event) {
    e.preventDefault();
    const local = { ...checkOtp(form.otp, lang.get()), ...checkNewPassword(form.password, form.confirm, lang.get()) };
    if (!form.old) local.old = requiredMessage(lang.get());
    setErrors(local);
    if (Object.keys(local).length) return;
    setError(null);
    setDone(false);
    try {
      await api.changePassword({ old_password: form.old, otp: form.otp.trim(), new_password: form.password });
      setForm({ old: "", otp: "", password: "", confirm: "" });
      setDone(true);
    } catch (err) {
      setForm({ ...form, otp: "" });
      setError(err as UiError);
      setErrors(fieldErrors(err as UiError));
    }
  }

  async function signOut() {
    try {
      await api.signOut();
    } finally {
      signedOut();
    }
  }

  return (
    <main class="account">
      <section class="card narrow">
        <h2>{t("accountTitle")}</h2>
        <dl>
          <dt>{t("fullName")}</dt>
          <dd data-testid="account-name">{session.full_name}</dd>
          <dt>{t("username")}</dt>
          <dd>{session.username}</dd>
          <dt>{t("role")}</dt>
          <dd>{t(ROLES[session.role] ?? "roleVaccinator")}</dd>
          <dt>{t("facility")}</dt>
          <dd>{session.facility}</dd>
          <dt>{t("sessionUntil")}</dt>
          <dd>{formatDateTime(session.expires_at)}</dd>
        </dl>
        <button type="button" class="danger" onClick={signOut} data-testid="sign-out">
          {t("signOut")}
        </button>
      </section>
      <form class="card narrow" onSubmit={change}>
        <h2>{t("savePassword")}</h2>
        <p class="help">{t("passwordRules")}</p>
        <Field id="old-password" type="password" label={t("oldPassword")} value={form.old} onInput={(v) => setForm({ ...form, old: v })} error={errors.old} />
        <Field id="change-otp" label={t("otp")} value={form.otp} onInput={(v) => setForm({ ...form, otp: v })} error={errors.otp} inputMode="numeric" />
        <Field id="new-password" type="password" label={t("newPassword")} value={form.password} onInput={(v) => setForm({ ...form, password: v })} error={errors.new_password} />
        <Field id="confirm-password" type="password" label={t("confirmPassword")} value={form.confirm} onInput={(v) => setForm({ ...form, confirm: v })} error={errors.confirm} />
        <ErrorBox error={error} />
        {done ? (
          <p class="success" role="status">
            {t("passwordChanged")}
          </p>
        ) : null}
        <button type="submit" class="primary">
          {t("savePassword")}
        </button>
      </form>
      {!session.reads_people ? null : <BackupCard head={session.role === "signer" || session.role === "facility_admin"} />}
      <UpdateCard />
      <section class="card" data-testid="own-history">
        <h2>{t("signInHistory")}</h2>
        <p class="help">{t("signInHistoryHelp")}</p>
        <ErrorBox error={historyError} />
        {history ? <SignInHistory events={history} testId="own-sign-ins" /> : null}
        <button type="button" onClick={showHistory} data-testid="show-sign-ins">
          {t("showSignIns")}
        </button>
      </section>
    </main>
  );
}
