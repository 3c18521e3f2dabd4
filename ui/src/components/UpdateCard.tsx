import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { UiError } from "../bindings/UiError";
import type { UpdateView } from "../bindings/UpdateView";
import { t } from "../i18n";
import { ErrorBox } from "./ErrorBox";

/** Updates from the station's server: look, download and verify, then install (the station
 * refuses while changes wait to be synced). */
export function UpdateCard() {
  const [view, setView] = useState<UpdateView | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [checked, setChecked] = useState(false);

  useEffect(() => {
    api.updateStatus().then(setView, (e) => setError(e as UiError));
  }, []);

  async function run(action: () => Promise<UpdateView>) {
    setBusy(true);
    setError(null);
    try {
      setView(await action());
      setChecked(true);
    } catch (e) {
      setError(e as UiError);
      api.updateStatus().then(setView, () => undefined);
    } finally {
      setBusy(false);
    }
  }

  async function install() {
    setBusy(true);
    setError(null);
    try {
      await api.installUpdate();
    } catch (e) {
      setError(e as UiError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card" data-testid="update-card">
      <h2>{t("updateTitle")}</h2>
      <p class="help">{t("updateHelp")}</p>
      {view ? (
        <dl>
          <dt>{t("currentVersion")}</dt>
          <dd data-testid="current-version">{view.current}</dd>
          <dt>{t("availableVersion")}</dt>
          <dd data-testid="available-version">{view.available ?? (checked ? t("upToDate") : "—")}</dd>
          {view.notes ? (
            <>
              <dt>{t("updateNotes")}</dt>
              <dd>{view.notes}</dd>
            </>
          ) : null}
        </dl>
      ) : null}
      {view?.unavailable ? <p class="warning">{view.unavailable}</p> : null}
      {view?.verified ? (
        <p class="success" role="status" data-testid="update-verified">
          {t("updateVerified")}
        </p>
      ) : null}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="button" disabled={busy || !!view?.unavailable} onClick={() => run(api.checkUpdate)} data-testid="check-update">
          {t("checkUpdate")}
        </button>
        {view?.available && !view.verified ? (
          <button type="button" class="primary" disabled={busy} onClick={() => run(api.downloadUpdate)} data-testid="download-update">
            {t("downloadUpdate")}
          </button>
        ) : null}
        {view?.verified ? (
          <button type="button" class="primary" disabled={busy} onClick={install} data-testid="install-update">
            {t("installUpdate")}
          </button>
        ) : null}
      </div>
    </section>
  );
}
