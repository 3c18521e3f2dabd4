// Who a complaint is about: the record it is linked to, or the people it may match, each to open or link.
import { api } from "../../api";
import type { ComplaintView } from "../../bindings/ComplaintView";
import type { PersonSummary } from "../../bindings/PersonSummary";
import { formatBirthDate } from "../../format";
import { t } from "../../i18n";
import type { Act } from "./useComplaints";

export function Person({
  view,
  matches,
  open,
  busy,
  act,
  openPerson,
}: {
  view: ComplaintView;
  matches: PersonSummary[];
  open: boolean;
  busy: boolean;
  act: Act;
  openPerson: (id: string) => void;
}) {
  const r = view.record;
  return (
    <>
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
    </>
  );
}
