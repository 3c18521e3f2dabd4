import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import type { ComplaintFilter } from "../bindings/ComplaintFilter";
import type { ComplaintSummary } from "../bindings/ComplaintSummary";
import type { ComplaintView } from "../bindings/ComplaintView";
import type { FacilityChoice } from "../bindings/FacilityChoice";
import type { PersonSummary } from "../bindings/PersonSummary";
import type { UiError } from "../bindings/UiError";
import { ErrorBox } from "../components/ErrorBox";
import { infoRow } from "../components/InfoRow";
import { foldText, formatBirthDate, formatDate, formatDateTime } from "../format";
import { t } from "../i18n";

/** What the nurse typed for one complaint, kept while she goes to the record and back. */
type Draft = { outcome: "resolved" | "rejected"; answer: string; forwardTo: string; reason: string };
const EMPTY_DRAFT: Draft = { outcome: "resolved", answer: "", forwardTo: "", reason: "" };
const drafts = new Map<string, Draft>();

/**
 * "Phản ánh": the citizens' complaints routed to this facility. The inbox by deadline (overdue
 * in red; ↑/↓ and Enter), one opened with the people it may be about, linked to the corrected
 * record, answered or forwarded. The opened complaint is kept while the nurse goes to the
 * record to correct it or record the missing dose.
 */
export function Complaints({
  openId,
  setOpenId,
  openPerson,
  refreshKey,
}: {
  openId: string | null;
  setOpenId: (id: string | null) => void;
  openPerson: (id: string) => void;
  refreshKey: number;
}) {
  const [filter, setFilter] = useState<ComplaintFilter>("open");
  const [inbox, setInbox] = useState<ComplaintSummary[] | null>(null);
  const [view, setView] = useState<ComplaintView | null>(null);
  const [matches, setMatches] = useState<PersonSummary[]>([]);
  const [photos, setPhotos] = useState<string[]>([]);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [draft, setDraftState] = useState<Draft>(EMPTY_DRAFT);
  const [reopen, setReopen] = useState(0);
  const [destinations, setDestinations] = useState<FacilityChoice[] | null>(null);
  const [destSearch, setDestSearch] = useState("");
  const list = useRef<HTMLDivElement>(null);
  const current = useRef(openId);
  current.current = openId;
  const viewRef = useRef(view);
  viewRef.current = view;
  const { outcome, answer, forwardTo, reason } = draft;

  function setDraft(change: Partial<Draft>) {
    setDraftState((d) => {
      const next = { ...d, ...change };
      if (current.current) drafts.set(current.current, next);
      return next;
    });
  }

  async function loadInbox() {
    try {
      const rows = await api.complaints(filter);
      setInbox(rows);
      return rows;
    } catch (e) {
      setError(e as UiError);
      return null;
    }
  }

  // A sync may have changed the opened complaint (answered elsewhere, forwarded): it is opened
  // again only then, not at every refresh (each opening is a line of the audit log).
  useEffect(() => {
    void loadInbox().then((rows) => {
      const row = rows?.find((r) => r.id === current.current);
      const shown = viewRef.current;
      if (shown && row && row.state !== shown.summary.state) setReopen((n) => n + 1);
    });
  }, [filter, refreshKey]);

  useEffect(() => {
    setPhotos([]);
    setMatches([]);
    setView(null);
    setDraftState((openId && drafts.get(openId)) || EMPTY_DRAFT);
    if (!openId) return;
    let stale = false;
    (async () => {
      try {
        const v = await api.openComplaint(openId);
        if (stale) return;
        setView(v);
        setMatches(v.linked_person ? [] : await api.complaintMatches(openId));
      } catch (e) {
        if (!stale) setError(e as UiError);
      }
    })();
    return () => {
      stale = true;
    };
  }, [openId, reopen]);

  // Where a complaint can go: asked of the server once the screen has a complaint open (the
  // station keeps the last list for when it is offline).
  useEffect(() => {
    if (openId && destinations === null) {
      api.complaintDestinations().then(setDestinations, () => setDestinations([]));
    }
  }, [openId]);
  const folded = foldText(destSearch);
  const choices = (destinations ?? [])
    .filter((f) => !folded || foldText(`${f.code} ${f.name} ${f.commune ?? ""} ${f.province ?? ""}`).includes(folded))
    .slice(0, 50);

  /** Runs an action on the opened complaint; whether it succeeded. */
  async function act(work: () => Promise<ComplaintView>): Promise<boolean> {
    setBusy(true);
    setError(null);
    try {
      const v = await work();
      if (v.record.id === current.current) {
        setView(v);
        setMatches(v.linked_person ? [] : await api.complaintMatches(v.record.id));
      }
      await loadInbox();
      return true;
    } catch (e) {
      setError(e as UiError);
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function loadPhotos() {
    if (!view) return;
    const id = view.record.id;
    setError(null);
    try {
      const out: string[] = [];
      for (let n = 0; n < view.record.photos; n++) out.push(await api.complaintPhoto(id, n));
      // Another complaint opened meanwhile: these are not its photos.
      if (current.current === id) setPhotos(out);
    } catch (e) {
      setError(e as UiError);
    }
  }

  function onListKey(e: KeyboardEvent) {
    if (!inbox || inbox.length === 0) return;
    const rows = Array.from(list.current?.querySelectorAll<HTMLButtonElement>("button.complaint-row") ?? []);
    const at = rows.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? Math.min(rows.length - 1, at + 1) : Math.max(0, at - 1);
      rows[next]?.focus();
    }
  }

  const open = view && (view.summary.state === "open" || view.summary.state === "refused");
  const r = view?.record;

  return (
    <main class="complaints" data-testid="complaints-screen">
      <section class="card">
        <h2>{t("complaintsTitle")}</h2>
        <div class="actions">
          <label class="choice">
            <input type="radio" name="complaint-filter" checked={filter === "open"} onChange={() => setFilter("open")} data-testid="complaints-open" /> {t("complaintsToAnswer")}
          </label>
          <label class="choice">
            <input type="radio" name="complaint-filter" checked={filter === "all"} onChange={() => setFilter("all")} data-testid="complaints-all" /> {t("complaintsAll")}
          </label>
        </div>
        {inbox && inbox.length === 0 ? <p class="muted" data-testid="complaints-empty">{t("complaintsNone")}</p> : null}
        <div ref={list} onKeyDown={onListKey} role="list">
          {(inbox ?? []).map((c, i) => (
            <button
              type="button"
              role="listitem"
              key={c.id}
              class={`complaint-row${c.overdue ? " overdue" : ""}${c.id === openId ? " current" : ""}`}
              data-testid="complaint-row"
              data-code={c.code}
              data-overdue={c.overdue ? "true" : "false"}
              data-state={c.state}
              autoFocus={i === 0 && !openId}
              onClick={() => setOpenId(c.id)}
            >
              <span class="complaint-deadline">{formatDate(c.deadline)}</span>
              <strong>{c.full_name}</strong>
              <span>{c.kind_label}</span>
              <span class={c.overdue ? "danger" : "muted"}>{c.state_label}</span>
              <span class="muted">{c.code}</span>
            </button>
          ))}
        </div>
      </section>
      <section class="card">
        <ErrorBox error={error} onClose={() => setError(null)} />
        {!view || !r ? (
          <p class="muted">{t("complaintPick")}</p>
        ) : (
          <div data-testid="complaint-detail" data-code={r.code}>
            <h2>
              {r.code} — <span data-testid="complaint-state" data-state={view.summary.state} class={view.summary.overdue ? "danger" : ""}>{view.summary.state_label}</span>
            </h2>
            <table>
              <tbody>
                {infoRow(t("complaintKind"), view.summary.kind_label, "complaint-kind")}
                {infoRow(t("complaintReceived"), formatDateTime(r.received_at), "complaint-received")}
                {infoRow(t("complaintDeadline"), formatDate(r.deadline), "complaint-deadline")}
                {infoRow(t("complaintName"), r.full_name, "complaint-name")}
                {infoRow(t("complaintBirth"), formatBirthDate(r.birth_date), "complaint-birth")}
                {infoRow(t("complaintPhone"), r.phone, "complaint-phone")}
                {infoRow(t("complaintIdNumber"), r.id_number, "complaint-id-number")}
                {infoRow(t("complaintVaccine"), view.vaccine_name, "complaint-vaccine")}
                {infoRow(t("complaintVaccinatedOn"), r.vaccinated_on ? formatDate(r.vaccinated_on) : null, "complaint-vaccinated-on")}
                {infoRow(t("complaintPlace"), r.place, "complaint-place")}
                {infoRow(t("complaintForwardedFrom"), r.forwarded_from ? `${r.forwarded_from}: ${r.forward_reason ?? ""}` : null, "complaint-forwarded-from")}
              </tbody>
            </table>
            <p class="complaint-text" data-testid="complaint-description">
              {r.description}
            </p>
            {r.photos > 0 ? (
              photos.length === 0 ? (
                <button type="button" onClick={() => void loadPhotos()} data-testid="complaint-load-photos">
                  {t("complaintPhotos")} ({r.photos})
                </button>
              ) : (
                <div class="complaint-photos">
                  {photos.map((src, n) => (
                    <img key={n} src={src} alt={`${t("complaintPhotos")} ${n + 1}`} data-testid="complaint-photo" />
                  ))}
                </div>
              )
            ) : null}

            <h3>{t("complaintPerson")}</h3>
            {view.linked_person ? (
              <p data-testid="complaint-linked">
                {view.linked_name ?? view.linked_person}{" "}
                <button type="button" class="link" onClick={() => openPerson(view.linked_person as string)} data-testid="complaint-open-linked">
                  {t("complaintOpenRecord")}
                </button>{" "}
                {open ? (
                  <button type="button" class="link" disabled={busy} onClick={() => void act(() => api.linkComplaint(r.id, null))}>
                    {t("complaintUnlink")}
                  </button>
                ) : null}
              </p>
            ) : matches.length === 0 ? (
              <p class="muted" data-testid="complaint-no-match">
                {t("complaintNoMatch")}
              </p>
            ) : (
              <table>
                <tbody>
                  {matches.map((m) => (
                    <tr key={m.id} data-testid="complaint-match">
                      <td>{m.full_name}</td>
                      <td>{formatBirthDate(m.birth_date)}</td>
                      <td>{m.phone}</td>
                      <td>
                        {m.active_doses} {t("complaintDoses")}
                      </td>
                      <td>
                        <button type="button" class="link" onClick={() => openPerson(m.id)} data-testid="complaint-open-match">
                          {t("complaintOpenRecord")}
                        </button>{" "}
                        {open ? (
                          <button type="button" disabled={busy} onClick={() => void act(() => api.linkComplaint(r.id, m.id))} data-testid="complaint-link">
                            {t("complaintLink")}
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}

            {view.reply_error ? (
              <div class="error-box" role="alert" data-testid="complaint-reply-error">
                <div class="error-message">
                  {t("complaintRefused")}: {view.reply_error}
                </div>
              </div>
            ) : null}
            {r.answer ? (
              <p data-testid="complaint-answer">
                <strong>{t("complaintAnswer")}:</strong> {r.answer}{" "}
                <span class="muted">
                  ({r.answered_by}, {formatDateTime(r.answered_at)})
                </span>
              </p>
            ) : view.pending ? (
              <p data-testid="complaint-pending">
                <strong>{t("complaintPending")}:</strong> {view.pending.kind === "answer" ? view.pending.text : `${view.pending.to}: ${view.pending.reason}`}
              </p>
            ) : null}

            {open ? (
              <>
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    void act(() => api.answerComplaint(r.id, outcome, answer)).then((done) => {
                      if (done) {
                        drafts.delete(r.id);
                        setDraftState(EMPTY_DRAFT);
                      }
                    });
                  }}
                >
                  <h3>{t("complaintAnswerTitle")}</h3>
                  <div class="actions">
                    <label class="choice">
                      <input type="radio" name="outcome" checked={outcome === "resolved"} onChange={() => setDraft({ outcome: "resolved" })} data-testid="complaint-resolved" /> {t("complaintResolved")}
                    </label>
                    <label class="choice">
                      <input type="radio" name="outcome" checked={outcome === "rejected"} onChange={() => setDraft({ outcome: "rejected" })} data-testid="complaint-rejected" /> {t("complaintRejected")}
                    </label>
                  </div>
                  <div class="field">
                    <label for="complaint-answer-text">{outcome === "resolved" ? t("complaintWhatChanged") : t("complaintWhyRejected")}</label>
                    <textarea id="complaint-answer-text" rows={3} value={answer} onInput={(e) => setDraft({ answer: (e.target as HTMLTextAreaElement).value })} data-testid="complaint-answer-text" />
                  </div>
                  <div class="actions">
                    <button type="submit" class="primary" disabled={busy} data-testid="complaint-send-answer">
                      {t("complaintSendAnswer")}
                    </button>
                  </div>
                </form>
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    void act(() => api.forwardComplaint(r.id, forwardTo, reason)).then((done) => {
                      if (done) {
                        drafts.delete(r.id);
                        setDraftState(EMPTY_DRAFT);
                      }
                    });
                  }}
                >
                  <h3>{t("complaintForwardTitle")}</h3>
                  {destinations && destinations.length > 0 ? (
                    <>
                      <div class="field">
                        <label for="complaint-forward-search">{t("complaintForwardSearch")}</label>
                        <input id="complaint-forward-search" value={destSearch} onInput={(e) => setDestSearch((e.target as HTMLInputElement).value)} data-testid="complaint-forward-search" />
                      </div>
                      <div class="field">
                        <label for="complaint-forward-to">{t("complaintForwardTo")}</label>
                        <select id="complaint-forward-to" size={6} value={forwardTo} onChange={(e) => setDraft({ forwardTo: (e.target as HTMLSelectElement).value })} data-testid="complaint-forward-to">
                          {choices.map((f) => (
                            <option key={f.code} value={f.code}>
                              {f.name} — {[f.commune, f.province].filter(Boolean).join(", ")} ({f.code})
                            </option>
                          ))}
                        </select>
                      </div>
                    </>
                  ) : (
                    <div class="field">
                      <label for="complaint-forward-to">{t("complaintForwardToCode")}</label>
                      <input id="complaint-forward-to" value={forwardTo} onInput={(e) => setDraft({ forwardTo: (e.target as HTMLInputElement).value })} data-testid="complaint-forward-to" />
                    </div>
                  )}
                  <div class="field">
                    <label for="complaint-forward-reason">{t("complaintForwardReason")}</label>
                    <textarea id="complaint-forward-reason" rows={2} value={reason} onInput={(e) => setDraft({ reason: (e.target as HTMLTextAreaElement).value })} data-testid="complaint-forward-reason" />
                  </div>
                  <div class="actions">
                    <button type="submit" disabled={busy} data-testid="complaint-send-forward">
                      {t("complaintSendForward")}
                    </button>
                  </div>
                </form>
              </>
            ) : null}
          </div>
        )}
      </section>
    </main>
  );
}
