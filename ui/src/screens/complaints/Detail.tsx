// One opened complaint: its facts, text and photos, the people it may be about, the reply sent or refused, then the reply forms.
import type { ComponentChildren } from "preact";
import type { ComplaintView } from "../../bindings/ComplaintView";
import type { PersonSummary } from "../../bindings/PersonSummary";
import { infoRow } from "../../components/InfoRow";
import { formatBirthDate, formatDate, formatDateTime } from "../../format";
import { t } from "../../i18n";
import { Person } from "./Person";
import type { Act } from "./useComplaints";

export function Detail({
  view,
  photos,
  loadPhotos,
  matches,
  open,
  busy,
  act,
  openPerson,
  children,
}: {
  view: ComplaintView;
  photos: string[];
  loadPhotos: () => Promise<void>;
  matches: PersonSummary[];
  /** Whether the complaint can still be linked, answered or forwarded here. */
  open: boolean;
  busy: boolean;
  act: Act;
  openPerson: (id: string) => void;
  /** The reply forms, while the complaint is open. */
  children: ComponentChildren;
}) {
  const r = view.record;
  return (
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

      <Person view={view} matches={matches} open={open} busy={busy} act={act} openPerson={openPerson} />

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

      {children}
    </div>
  );
}
