// The signing screen's shared state: the certificate chosen, the selection, its preview, the run signed and the runs' history.
import { useEffect, useState } from "preact/hooks";
import { api, progressEvents } from "../../api";
import type { BacklogSummary } from "../../bindings/BacklogSummary";
import type { SigningBatchSummary } from "../../bindings/SigningBatchSummary";
import type { SigningPreview } from "../../bindings/SigningPreview";
import type { SigningProgress } from "../../bindings/SigningProgress";
import type { UiError } from "../../bindings/UiError";
import { fieldErrors } from "../../components/ErrorBox";
import { formatDate, todayIso } from "../../format";
import { t } from "../../i18n";
import { isBirthDateShape } from "../../validate";

/** A certificate on a token: the token's slot and the certificate's id on it. */
export type CertificateChoice = { slot: number; id: string };

/** What the signer typed to select the doses. */
export type SelectionFields = { from: string; to: string; name: string; phone: string; mobileTeams: boolean };

/** The state the token step, the selection, the preview and the results share, and what they do with it. */
export function useSigning(changed: () => void, refreshKey: number) {
  const [choice, setChoice] = useState<CertificateChoice | null>(null);
  const [fields, setFieldsState] = useState<SelectionFields>(() => ({
    from: formatDate(todayIso()),
    to: formatDate(todayIso()),
    name: "",
    phone: "",
    mobileTeams: false,
  }));
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
  const { from, to, name, phone, mobileTeams } = fields;

  function setFields(change: Partial<SelectionFields>) {
    setFieldsState((f) => ({ ...f, ...change }));
  }

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

  return {
    choice,
    setChoice,
    fields,
    setFields,
    preview,
    pin,
    setPin,
    errors,
    setErrors,
    error,
    setError,
    busy,
    setBusy,
    done,
    page,
    setPage,
    progress,
    runs,
    setTicked,
    showPreview,
    sign,
  };
}
