// The replies to an open complaint: the answer (resolved or rejected) and the transfer to another facility.
import { api } from "../../api";
import type { FacilityChoice } from "../../bindings/FacilityChoice";
import { foldText } from "../../format";
import { t } from "../../i18n";
import type { Act, Draft } from "./useComplaints";

/** The answer to the citizen: what was changed, or why the complaint is rejected. */
export function AnswerForm({
  id,
  draft,
  setDraft,
  clearDraft,
  busy,
  act,
}: {
  id: string;
  draft: Draft;
  setDraft: (change: Partial<Draft>) => void;
  clearDraft: (id: string) => void;
  busy: boolean;
  act: Act;
}) {
  const { outcome, answer } = draft;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void act(() => api.answerComplaint(id, outcome, answer)).then((done) => {
          if (done) clearDraft(id);
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
  );
}

/** The transfer to the facility the complaint belongs to: picked from the server's list (searched without diacritics), or its code typed. */
export function ForwardForm({
  id,
  draft,
  setDraft,
  clearDraft,
  busy,
  act,
  destinations,
  destSearch,
  setDestSearch,
}: {
  id: string;
  draft: Draft;
  setDraft: (change: Partial<Draft>) => void;
  clearDraft: (id: string) => void;
  busy: boolean;
  act: Act;
  destinations: FacilityChoice[] | null;
  destSearch: string;
  setDestSearch: (search: string) => void;
}) {
  const { forwardTo, reason } = draft;
  const folded = foldText(destSearch);
  const choices = (destinations ?? [])
    .filter((f) => !folded || foldText(`${f.code} ${f.name} ${f.commune ?? ""} ${f.province ?? ""}`).includes(folded))
    .slice(0, 50);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void act(() => api.forwardComplaint(id, forwardTo, reason)).then((done) => {
          if (done) clearDraft(id);
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
  );
}
