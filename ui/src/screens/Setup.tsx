import { useState } from "preact/hooks";
import { api } from "../api";
import type { AppStatus } from "../bindings/AppStatus";
import type { UiError } from "../bindings/UiError";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { lang, t } from "../i18n";
import { checkRestore, checkSetup } from "../validate";

/** First run: the server's address and the device token, or a backup of the old laptop. */
export function Setup({ status, onDone }: { status: AppStatus; onDone: () => void }) {
  const [restoring, setRestoring] = useState(false);
  const [url, setUrl] = useState(status.default_server ?? "");
  const [token, setToken] = useState("");
  const [file, setFile] = useState("");
  const [passphrase, setPassphrase] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const local = restoring ? checkRestore(file, passphrase, url, token, lang.get()) : checkSetup(url, token, lang.get());
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      if (restoring) {
        await api.restoreStation({ backup_file: file.trim(), passphrase, server_url: url.trim(), device_token: token.trim() });
      } else {
        await api.setupStation({ server_url: url.trim(), device_token: token.trim() });
      }
      onDone();
    } catch (err) {
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }

  function switchMode() {
    setRestoring(!restoring);
    setErrors({});
    setError(null);
  }

  return (
    <main class="centered">
      <form class="card narrow" onSubmit={submit} data-testid="setup-form">
        <h1>{t(restoring ? "restoreTitle" : "setupTitle")}</h1>
        <p class="help">{t(restoring ? "restoreHelp" : "setupHelp")}</p>
        {restoring ? (
          <>
            <Field id="backup_file" label={t("backupFile")} value={file} onInput={setFile} error={errors.backup_file} autoFocus placeholder="E:\SoTiem\sotiem-….sotiem-backup" required />
            <Field id="recovery_passphrase" type="password" label={t("recoveryPassphrase")} value={passphrase} onInput={setPassphrase} error={errors.passphrase} required />
          </>
        ) : null}
        <Field id="server_url" label={t("serverUrl")} value={url} onInput={setUrl} error={errors.server_url} autoFocus={!restoring} placeholder="https://" required />
        <Field
          id="device_token"
          label={t("deviceToken")}
          value={token}
          onInput={setToken}
          error={errors.device_token ?? fieldErrors(error).device_token}
          required
        />
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy} data-testid="setup-submit">
          {t(restoring ? "restore" : "setUp")}
        </button>{" "}
        <button type="button" class="link" onClick={switchMode} data-testid="restore-mode">
          {t(restoring ? "setupInstead" : "restoreInstead")}
        </button>
      </form>
    </main>
  );
}
