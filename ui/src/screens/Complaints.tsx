import { ErrorBox } from "../components/ErrorBox";
import { t } from "../i18n";
import { Detail } from "./complaints/Detail";
import { Inbox } from "./complaints/Inbox";
import { AnswerForm, ForwardForm } from "./complaints/Reply";
import { useComplaints } from "./complaints/useComplaints";

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
  const c = useComplaints(openId, refreshKey);
  const view = c.view;
  const open = !!view && (view.summary.state === "open" || view.summary.state === "refused");
  return (
    <main class="complaints" data-testid="complaints-screen">
      <Inbox filter={c.filter} setFilter={c.setFilter} inbox={c.inbox} openId={openId} setOpenId={setOpenId} />
      <section class="card">
        <ErrorBox error={c.error} onClose={() => c.setError(null)} />
        {!view ? (
          <p class="muted">{t("complaintPick")}</p>
        ) : (
          <Detail view={view} photos={c.photos} loadPhotos={c.loadPhotos} matches={c.matches} open={open} busy={c.busy} act={c.act} openPerson={openPerson}>
            {open ? (
              <>
                <AnswerForm id={view.record.id} draft={c.draft} setDraft={c.setDraft} clearDraft={c.clearDraft} busy={c.busy} act={c.act} />
                <ForwardForm
                  id={view.record.id}
                  draft={c.draft}
                  setDraft={c.setDraft}
                  clearDraft={c.clearDraft}
                  busy={c.busy}
                  act={c.act}
                  destinations={c.destinations}
                  destSearch={c.destSearch}
                  setDestSearch={c.setDestSearch}
                />
              </>
            ) : null}
          </Detail>
        )}
      </section>
    </main>
  );
}
