import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { BackupSettings } from "../bindings/BackupSettings";
import type { BackupSummary } from "../bindings/BackupSummary";
import type { UiError } from "../bindings/UiError";
import { formatDateTime } from "../format";
import { lang, t } from "../i18n";
import { checkRecoveryPassphrase } from "../validate";
import { ErrorBox } from "./ErrorBox";
import { Field } from "./Field";

/** The station's backups: the folder, "back up now", and (heads only) the recovery passphrase. */
export function BackupCard({ head }: { head: boolean }) {
  const [settings, setSettings] = useState<BackupSettings | null>(null);
  const [folder, setFolder] = useState("");
  const [pass, setPass] = useState({ passphrase: "", confirm: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [written, setWritten] = useState<BackupSummary | null>(null);
  const [passphraseSet, setPassphraseSet] = useState(false);
  const [busy, setBusy] = useState(false);

  function show(s: BackupSettings) {
    setSettings(s);
    setFolder(s.folder ?? "");
  }

  useEffect(() => {
    api.backupSettings().then(show, (e) => setError(e as UiError));
  }, []);

  async function run<T>(action: () => Promise<T>, then: (value: T) => void) {
    setBusy(true);
    setError(null);
    try {
      then(await action());
    } catch (e) {
      setError(e as UiError);
    } finally {
      setBusy(false);
    }
  }

  function saveFolder(e: Event) {
    e.preventDefault();
    void run(() => api.setBackupFolder(folder), show);
  }

  function backUpNow() {
    setWritten(null);
    void run(api.backupNow, (summary) => {
      setWritten(summary);
      api.backupSettings().then(show, () => undefined);
    });
  }

  function setPassphrase(e: Event) {
    e.preventDefault();
    const local = checkRecoveryPassphrase(pass.passphrase, pass.confirm, lang.get());
    setErrors(local);
    if (Object.keys(local).length) return;
    setPassphraseSet(false);
    void run(
      () => api.setRecoveryPassphrase(pass.passphrase),
      (s) => {
        show(s);
        setPass({ passphrase: "", confirm: "" });
        setPassphraseSet(true);
      },
    );
  }

  return (
    <section class="card" data-testid="backup-card">
      <h2>{t("backupTitle")}</h2>
      <p class="help">{t("backupHelp")}</p>
      {settings && !settings.configured ? <p class="warning">{t("backupNotConfigured")}</p> : null}
      {settings ? (
        <dl>
          <dt>{t("lastBackup")}</dt>
          <dd data-testid="last-backup">
            {settings.last_at ? `${formatDateTime(settings.last_at)} — ${settings.last_file ?? ""}` : t("noBackupYet")}
          </dd>
          {settings.due ? (
            <>
              <dt />
              <dd class="warning">{t("backupDue")}</dd>
            </>
          ) : null}
          {settings.last_error ? (
            <>
              <dt>{t("backupFailed")}</dt>
              <dd class="error" data-testid="backup-error">
                {settings.last_error}
              </dd>
            </>
          ) : null}
        </dl>
      ) : null}
      <form onSubmit={saveFolder}>
        <Field id="backup-folder" label={t("backupFolder")} value={folder} onInput={setFolder} hint={t("backupFolderHint")} />
        <button type="submit" disabled={busy} data-testid="save-backup-folder">
          {t("saveFolder")}
        </button>{" "}
        <button type="button" class="primary" disabled={busy || !settings?.configured || !settings?.folder} onClick={backUpNow} data-testid="backup-now">
          {t("backupNow")}
        </button>
      </form>
      {written ? (
        <p class="success" role="status" data-testid="backup-written">
          {t("backupWritten")}: {written.file} — {written.people} {t("backupPeople")}, {written.doses} {t("backupDoses")}, {written.pending_changes} {t("backupPending")}
        </p>
      ) : null}
      {head ? (
        <form onSubmit={setPassphrase} data-testid="passphrase-form">
          <h3>{t("setPassphrase")}</h3>
          <p class="help">{t("setPassphraseHelp")}</p>
          <Field id="recovery-passphrase" type="password" label={t("recoveryPassphrase")} value={pass.passphrase} onInput={(v) => setPass({ ...pass, passphrase: v })} error={errors.passphrase} />
          <Field id="confirm-passphrase" type="password" label={t("confirmPassphrase")} value={pass.confirm} onInput={(v) => setPass({ ...pass, confirm: v })} error={errors.confirm} />
          {passphraseSet ? (
            <p class="success" role="status">
              {t("passphraseSet")}
            </p>
          ) : null}
          <button type="submit" disabled={busy} data-testid="set-passphrase">
            {t("setPassphrase")}
          </button>
        </form>
      ) : null}
      <ErrorBox error={error} />
    </section>
  );
}
