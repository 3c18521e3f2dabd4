import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { AccountInfo } from "../bindings/AccountInfo";
import type { ResetRecord } from "../bindings/ResetRecord";
import type { SignInEvent } from "../bindings/SignInEvent";
import type { UiError } from "../bindings/UiError";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { factorLabel } from "../components/ResetNotices";
import { SignInHistory } from "../components/SignInHistory";
import { formatDateTime } from "../format";
import { lang, t } from "../i18n";
import { ROLES } from "../roles";
import { checkNewPassword, requiredMessage } from "../validate";

const EMPTY = { username: "", full_name: "", role: "vaccinator" as "vaccinator" | "signer", position: "", phone: "", password: "", confirm: "" };

type Action = { kind: "password" | "authenticator" | "revoke" | "history"; account: AccountInfo };

/** A reset's status in the UI's words. */
function statusLabel(r: ResetRecord): string {
  return t(r.status === "applied" ? "resetApplied" : r.status === "awaiting_approval" ? "resetAwaiting" : "resetExpired");
}

/** "Tài khoản của trạm": the head of station runs its vaccinators' and signers' accounts. */
export function Staff({ me }: { me: string }) {
  const [accounts, setAccounts] = useState<AccountInfo[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [form, setForm] = useState(EMPTY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [action, setAction] = useState<Action | null>(null);
  const [reset, setReset] = useState({ password: "", confirm: "" });
  const [history, setHistory] = useState<SignInEvent[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [resets, setResets] = useState<ResetRecord[]>([]);

  async function load() {
    try {
      setAccounts(await api.staffAccounts());
      setResets(await api.staffResets());
    } catch (err) {
      setError(err as UiError);
    }
  }

  async function approve(r: ResetRecord) {
    setError(null);
    setDone(null);
    setBusy(true);
    try {
      const applied = await api.approveStaffReset(r.id);
      setDone(`${t("resetApprovedDone")} ${applied.username} (${factorLabel(applied)})`);
      await load();
    } catch (err) {
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }
  useEffect(() => {
    void load();
  }, []);

  async function create(e: Event) {
    e.preventDefault();
    const local: Record<string, string> = checkNewPassword(form.password, form.confirm, lang.get());
    if (local.new_password) local.initial_password = local.new_password;
    delete local.new_password;
    if (!form.username.trim()) local.username = requiredMessage(lang.get());
    if (!form.full_name.trim()) local.full_name = requiredMessage(lang.get());
    setErrors(local);
    if (Object.keys(local).length) return;
    setError(null);
    setDone(null);
    setBusy(true);
    try {
      const made = await api.createStaffAccount({
        username: form.username.trim(),
        role: form.role,
        full_name: form.full_name.trim(),
        gender: null,
        position: form.position.trim() || null,
        phone: form.phone.trim() || null,
        initial_password: form.password,
      });
      setForm(EMPTY);
      setDone(`${t("staffCreated")} ${made.username}`);
      await load();
    } catch (err) {
      setError(err as UiError);
      setErrors(fieldErrors(err as UiError));
    } finally {
      setBusy(false);
    }
  }

  async function open(next: Action) {
    setAction(next);
    setReset({ password: "", confirm: "" });
    setHistory(null);
    setError(null);
    setDone(null);
    if (next.kind === "history") {
      try {
        setHistory(await api.staffSignIns(next.account.username));
      } catch (err) {
        setError(err as UiError);
      }
    }
  }

  async function confirm(e: Event) {
    e.preventDefault();
    if (!action) return;
    const name = action.account.username;
    if (action.kind === "password") {
      const local = checkNewPassword(reset.password, reset.confirm, lang.get());
      setErrors(local);
      if (Object.keys(local).length) return;
    }
    setError(null);
    setBusy(true);
    try {
      if (action.kind === "password") {
        const r = await api.resetStaffPassword({ username: name, initial_password: reset.password });
        setDone(r.status === "applied" ? `${t("staffPasswordReset")} ${name}` : `${t("staffResetAwaiting")} ${name}`);
      } else if (action.kind === "authenticator") {
        const r = await api.resetStaffAuthenticator(name);
        setDone(r.status === "applied" ? `${t("staffAuthenticatorReset")} ${name}` : `${t("staffResetAwaiting")} ${name}`);
      } else if (action.kind === "revoke") {
        await api.revokeStaffAccount(name);
        setDone(`${t("staffRevoked")} ${name}`);
      }
      setAction(null);
      await load();
    } catch (err) {
      setError(err as UiError);
      setErrors(fieldErrors(err as UiError));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="staff">
      <section class="card">
        <h2>{t("staffTitle")}</h2>
        <p class="help">{t("staffHelp")}</p>
        <ErrorBox error={error} onClose={() => setError(null)} />
        {done ? (
          <p class="success" role="status" data-testid="staff-done">
            {done}
          </p>
        ) : null}
        {accounts === null ? null : (
          <table class="list" data-testid="staff-list">
            <thead>
              <tr>
                <th>{t("username")}</th>
                <th>{t("fullName")}</th>
                <th>{t("role")}</th>
                <th>{t("staffStatus")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {accounts.map((a) => {
                const manageable = a.role === "vaccinator" || a.role === "signer";
                return (
                  <tr key={a.username} data-testid={`staff-row-${a.username}`}>
                    <td>{a.username}</td>
                    <td>{a.full_name}</td>
                    <td>{t(ROLES[a.role])}</td>
                    <td>{a.status === "revoked" ? t("staffStatusRevoked") : a.must_change_password ? t("staffStatusNew") : t("staffStatusActive")}</td>
                    <td class="actions">
                      {manageable && a.status !== "revoked" ? (
                        <>
                          <button type="button" class="link" data-testid={`staff-reset-password-${a.username}`} onClick={() => open({ kind: "password", account: a })}>
                            {t("staffResetPassword")}
                          </button>
                          <button type="button" class="link" data-testid={`staff-reset-authenticator-${a.username}`} onClick={() => open({ kind: "authenticator", account: a })}>
                            {t("staffResetAuthenticator")}
                          </button>
                          <button type="button" class="link danger" data-testid={`staff-revoke-${a.username}`} onClick={() => open({ kind: "revoke", account: a })}>
                            {t("staffRevoke")}
                          </button>
                        </>
                      ) : null}
                      {manageable ? (
                        <button type="button" class="link" data-testid={`staff-history-${a.username}`} onClick={() => open({ kind: "history", account: a })}>
                          {t("signInHistory")}
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      <section class="card" data-testid="staff-resets">
        <h3>{t("staffResets")}</h3>
        <p class="help">{t("staffResetsHelp")}</p>
        {resets.length === 0 ? (
          <p>{t("staffResetsNone")}</p>
        ) : (
          <table class="list">
            <thead>
              <tr>
                <th>{t("username")}</th>
                <th />
                <th>{t("staffStatus")}</th>
                <th>{t("resetRequestedBy")}</th>
                <th>{t("resetApprovedBy")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {resets.map((r) => (
                <tr key={r.id} data-testid={`staff-reset-${r.username}-${r.factor}`}>
                  <td>{r.username}</td>
                  <td>{factorLabel(r)}</td>
                  <td class={r.status === "awaiting_approval" ? "warn" : undefined}>{statusLabel(r)}</td>
                  <td>
                    {r.requested_by} — {formatDateTime(r.requested_at)}
                  </td>
                  <td>{r.approved_by ?? ""}</td>
                  <td>
                    {r.status === "awaiting_approval" && r.requested_by !== me && r.username !== me ? (
                      <button type="button" class="primary" disabled={busy} onClick={() => void approve(r)} data-testid={`staff-approve-${r.username}`}>
                        {t("resetApprove")}
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {action && action.kind === "history" ? (
        <section class="card" data-testid="staff-history">
          <h3>
            {t("signInHistory")}: {action.account.full_name} ({action.account.username})
          </h3>
          {history ? <SignInHistory events={history} testId="staff-sign-ins" /> : null}
          <button type="button" onClick={() => setAction(null)}>
            {t("close")}
          </button>
        </section>
      ) : action ? (
        <form class="card narrow" onSubmit={confirm} data-testid="staff-confirm">
          <h3>
            {t(action.kind === "password" ? "staffResetPassword" : action.kind === "authenticator" ? "staffResetAuthenticator" : "staffRevoke")}: {action.account.full_name} ({action.account.username})
          </h3>
          <p class="help">{t(action.kind === "password" ? "staffResetPasswordHelp" : action.kind === "authenticator" ? "staffResetAuthenticatorHelp" : "staffRevokeHelp")}</p>
          {action.kind === "password" ? (
            <>
              <Field id="staff-new-password" type="password" label={t("staffInitialPassword")} value={reset.password} onInput={(v) => setReset({ ...reset, password: v })} error={errors.new_password} autoFocus />
              <Field id="staff-new-confirm" type="password" label={t("confirmPassword")} value={reset.confirm} onInput={(v) => setReset({ ...reset, confirm: v })} error={errors.confirm} />
            </>
          ) : null}
          <div class="row">
            <button type="submit" class={action.kind === "revoke" ? "danger" : "primary"} disabled={busy} data-testid="staff-confirm-go" autoFocus={action.kind !== "password"}>
              {t("confirmAction")}
            </button>
            <button type="button" onClick={() => setAction(null)}>
              {t("dismiss")}
            </button>
          </div>
        </form>
      ) : null}
      <form class="card narrow" onSubmit={create} data-testid="staff-add">
        <h3>{t("staffAdd")}</h3>
        <Field id="staff-username" label={t("username")} value={form.username} onInput={(v) => setForm({ ...form, username: v })} error={errors.username ?? errors.user} hint={t("staffUsernameHint")} required />
        <Field id="staff-full-name" label={t("fullName")} value={form.full_name} onInput={(v) => setForm({ ...form, full_name: v })} error={errors.full_name} required />
        <div class="field">
          <label for="staff-role">{t("role")}</label>
          <select id="staff-role" data-testid="staff-role" value={form.role} onChange={(e) => setForm({ ...form, role: (e.target as HTMLSelectElement).value as "vaccinator" | "signer" })}>
            <option value="vaccinator">{t("roleVaccinator")}</option>
            <option value="signer">{t("roleSigner")}</option>
          </select>
        </div>
        <Field id="staff-position" label={t("staffPosition")} value={form.position} onInput={(v) => setForm({ ...form, position: v })} />
        <Field id="staff-phone" label={t("phone")} value={form.phone} onInput={(v) => setForm({ ...form, phone: v })} error={errors.phone} inputMode="tel" />
        <p class="help">{t("passwordRules")}</p>
        <Field id="staff-password" type="password" label={t("staffInitialPassword")} value={form.password} onInput={(v) => setForm({ ...form, password: v })} error={errors.initial_password} required />
        <Field id="staff-confirm" type="password" label={t("confirmPassword")} value={form.confirm} onInput={(v) => setForm({ ...form, confirm: v })} error={errors.confirm} required />
        <button type="submit" class="primary" disabled={busy} data-testid="staff-add-go">
          {t("staffAdd")}
        </button>
      </form>
    </main>
  );
}
