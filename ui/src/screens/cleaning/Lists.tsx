// The lists to correct: paged on screen (past the first rows only with a fresh code), exported
// to Excel for the commune police.

import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../../api";
import { LIMITS } from "../../bindings/currentLimits";
import type { DataList } from "../../bindings/DataList";
import type { ListPage } from "../../bindings/ListPage";
import type { ListQuery } from "../../bindings/ListQuery";
import type { UiError } from "../../bindings/UiError";
import { ErrorBox } from "../../components/ErrorBox";
import { Field, Select } from "../../components/Field";
import { formatBirthDate, formatCount, formatDate, formatDateTime, formatPhone } from "../../format";
import { t } from "../../i18n";
import { isBirthDateShape } from "../../validate";

/** Rows shown per page (the whole list goes to Excel). */
const PAGE_ROWS = LIMITS.screen_rows;
const LISTS: DataList[] = ["no_id", "invalid_id", "mismatched", "unsigned_doses", "due_next_dose"];

function listLabel(l: DataList): string {
  return t(l === "no_id" ? "listNoId" : l === "invalid_id" ? "listInvalidId" : l === "mismatched" ? "listMismatched" : l === "unsigned_doses" ? "listUnsigned" : "listDue");
}

export function Lists({ refreshKey, openPerson }: { refreshKey: number; openPerson: (id: string) => void }) {
  const [list, setList] = useState<DataList>("no_id");
  const [commune, setCommune] = useState("");
  const [facility, setFacility] = useState("");
  const [dueBy, setDueBy] = useState("");
  const [page, setPage] = useState<ListPage | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [otp, setOtp] = useState("");
  const [otpError, setOtpError] = useState<string | undefined>();
  const [exported, setExported] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // A page past the first rows waits for a fresh code (the station's rule: such reading is an export).
  const [pendingOffset, setPendingOffset] = useState<number | null>(null);
  const [browseOtp, setBrowseOtp] = useState("");
  const [browseOtpError, setBrowseOtpError] = useState<string | undefined>();

  const query = (): ListQuery => ({
    list,
    commune: commune.trim() || null,
    facility: facility.trim() || null,
    due_by: list === "due_next_dose" && dueBy.trim() ? dueBy.trim() : null,
  });

  async function load(offset = 0, code: string | null = null) {
    setError(null);
    if (list === "due_next_dose" && dueBy.trim() && !isBirthDateShape(dueBy)) {
      setError({ code: "invalid", message: t("dayFormat"), fields: [], existing_person: null, retryable: false });
      return;
    }
    try {
      setPage(await api.dataList(query(), Math.max(0, offset), PAGE_ROWS, code));
      setPendingOffset(null);
      setBrowseOtp("");
    } catch (e) {
      const err = e as UiError;
      setError(err);
      // Asked for a code (or given a wrong one): the page shown stays, the code is asked for.
      if (offset > 0 && (err.code === "step_up_required" || (code && err.code.startsWith("otp_")))) {
        setPendingOffset(offset);
        return;
      }
      setPage(null);
    }
  }

  function unlock(e: Event) {
    e.preventDefault();
    if (!/^\d{6}$/.test(browseOtp.trim())) {
      setBrowseOtpError(t("otpSixDigits"));
      return;
    }
    setBrowseOtpError(undefined);
    if (pendingOffset !== null) void load(pendingOffset, browseOtp.trim());
  }
  // A refresh (a sync, an edit) keeps the page being worked through; another list starts at the top.
  const shownList = useRef<DataList | null>(null);
  useEffect(() => {
    const sameList = shownList.current === list;
    shownList.current = list;
    void load(sameList ? (page?.offset ?? 0) : 0);
  }, [list, refreshKey]);

  async function exportList(e: Event) {
    e.preventDefault();
    setExported(null);
    setError(null);
    if (!/^\d{6}$/.test(otp.trim())) {
      setOtpError(t("otpSixDigits"));
      return;
    }
    setOtpError(undefined);
    setBusy(true);
    try {
      const done = await api.exportList({ query: query(), otp: otp.trim() });
      setExported(`${t("exportedRows")} ${formatCount(done.rows)} → ${done.path}`);
      setOtp("");
    } catch (err) {
      setError(err as UiError);
    } finally {
      setBusy(false);
    }
  }

  const doses = list === "unsigned_doses" || list === "due_next_dose";
  return (
    <section class="card" data-testid="lists">
      <form
        class="grid"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <Select id="list-kind" label={t("whichList")} value={list} onChange={(v) => setList(v as DataList)} options={LISTS.map((l) => ({ value: l, label: listLabel(l) }))} />
        <Field id="list-commune" label={t("commune")} value={commune} onInput={setCommune} />
        <Field id="list-facility" label={t("managingFacility")} value={facility} onInput={setFacility} />
        {list === "due_next_dose" ? <Field id="list-due-by" label={t("dueBy")} value={dueBy} onInput={setDueBy} placeholder="dd/mm/yyyy" /> : null}
        <div class="field">
          <label>&nbsp;</label>
          <button type="submit" data-testid="list-show">
            {t("show")}
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {page ? (
        <>
          <p>
            <strong data-testid="list-total">{formatCount(page.total)}</strong> {t("rows")}
            {page.total > page.rows.length && page.rows.length > 0 ? (
              <span data-testid="list-range">
                {" "}
                ({t("showingRows")} {formatCount(page.offset + 1)}–{formatCount(page.offset + page.rows.length)})
              </span>
            ) : null}
          </p>
          {page.total > 0 && page.rows.length === 0 ? <p class="muted">{t("pastTheEnd")}</p> : null}
          <table data-testid="list-table">
            <thead>
              <tr>
                <th>{t("fullName")}</th>
                <th>{t("birthDate")}</th>
                <th>{t("idNumber")}</th>
                <th>{t("phone")}</th>
                <th>{t("commune")}</th>
                {doses ? <th>{t("dose")}</th> : null}
                <th>{t("note")}</th>
              </tr>
            </thead>
            <tbody>
              {page.rows.map((r, i) => (
                <tr key={`${r.person_id}-${i}`}>
                  <td>
                    <button type="button" class="link" onClick={() => openPerson(r.person_id)}>
                      {r.full_name}
                    </button>
                  </td>
                  <td>{formatBirthDate(r.birth_date)}</td>
                  <td>{r.id_number ?? "—"}</td>
                  <td>{formatPhone(r.phone)}</td>
                  <td>{r.commune ?? ""}</td>
                  {doses ? (
                    <td>{r.dose ? `${t("doseNo")} ${r.dose.dose_number} · ${r.dose.vaccine} · ${formatDateTime(r.dose.given_at)}` : ""}</td>
                  ) : null}
                  <td>
                    {r.note}
                    {r.due_on ? ` · ${formatDate(r.due_on)}` : ""}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {page.total > page.rows.length ? (
            <div class="pager">
              <button type="button" data-testid="list-previous" disabled={page.offset === 0} onClick={() => void load(page.offset - PAGE_ROWS)}>
                {t("previousPage")}
              </button>
              <button type="button" data-testid="list-next" disabled={page.offset + page.rows.length >= page.total} onClick={() => void load(page.offset + PAGE_ROWS)}>
                {t("nextPage")}
              </button>
            </div>
          ) : null}
          {pendingOffset !== null ? (
            <form class="export" onSubmit={unlock} data-testid="browse-form">
              <p class="muted">{t("browseNeedsCode")}</p>
              <Field id="browse-otp" label={t("freshOtp")} value={browseOtp} onInput={setBrowseOtp} error={browseOtpError} inputMode="numeric" autoComplete="one-time-code" autoFocus />
              <button type="submit" data-testid="browse-unlock">
                {t("showMore")}
              </button>
            </form>
          ) : null}
          <form class="export" onSubmit={exportList}>
            <p class="muted">{t("exportHelp")}</p>
            <Field id="export-otp" label={t("freshOtp")} value={otp} onInput={setOtp} error={otpError} inputMode="numeric" autoComplete="one-time-code" />
            <button type="submit" disabled={busy || page.total === 0} data-testid="export-list">
              {t("exportXlsx")}
            </button>
            {exported ? (
              <p class="success" data-testid="export-done">
                {exported}
              </p>
            ) : null}
          </form>
        </>
      ) : null}
    </section>
  );
}
