import { useState } from "preact/hooks";
import { api } from "../api";
import type { AppStatus } from "../bindings/AppStatus";
import type { UiError } from "../bindings/UiError";
import { ErrorBox, fieldErrors } from "../components/ErrorBox";
import { Field } from "../components/Field";
import { lang, t } from "../i18n";
import { checkSetup } from "../validate";

/** First run: the server's address and the device token. */
export function Setup({ status, onDone }: { status: AppStatus; onDone: () => void }) {
  const [url, setUrl] = useState(status.default_server ?? "");
  const [token, setToken] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const local = checkSetup(url, token, lang.get());
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      await api.setupStation({ server_url: url.trim(), device_token: token.trim() });
      onDone();
    } catch (err) {
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="centered">
      <form class="card narrow" onSubmit={submit} data-testid="setup-form">
        <h1>{t("setupTitle")}</h1>
        <p class="help">{t("setupHelp")}</p>
        <Field id="server_url" label={t("serverUrl")} value={url} onInput={setUrl} error={errors.server_url} autoFocus placeholder="https://" required />
        <Field
          id="device_token"
          label={t("deviceToken")}
          value={token}
          onInput={setToken}
          error={errors.device_token ?? fieldErrors(error).device_token}
          required
        />
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {t("setUp")}
        </button>
      </form>
    </main>
  );
}
