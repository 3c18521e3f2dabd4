// The shell's commands, typed with the declarations generated from Rust (src/bindings).

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { SIGNING_PROGRESS_EVENT, SYNC_PROGRESS_EVENT } from "./bindings/events";
import type { SigningProgress } from "./bindings/SigningProgress";
import type { SyncProgress } from "./bindings/SyncProgress";
import type { AccountInfo } from "./bindings/AccountInfo";
import type { AppStatus } from "./bindings/AppStatus";
import type { BackupSettings } from "./bindings/BackupSettings";
import type { BackupSummary } from "./bindings/BackupSummary";
import type { RestoreRequest } from "./bindings/RestoreRequest";
import type { UpdateView } from "./bindings/UpdateView";
import type { NewStaffRequest } from "./bindings/NewStaffRequest";
import type { SignInEvent } from "./bindings/SignInEvent";
import type { ResetRecord } from "./bindings/ResetRecord";
import type { StaffPasswordRequest } from "./bindings/StaffPasswordRequest";
import type { ChangePasswordRequest } from "./bindings/ChangePasswordRequest";
import type { DailyReport } from "./bindings/DailyReport";
import type { EditRequest } from "./bindings/EditRequest";
import type { EnrollRequest } from "./bindings/EnrollRequest";
import type { InitialPasswordRequest } from "./bindings/InitialPasswordRequest";
import type { PersonInput } from "./bindings/PersonInput";
import type { PersonRecord } from "./bindings/PersonRecord";
import type { Paper } from "./bindings/Paper";
import type { PassportCheck } from "./bindings/PassportCheck";
import type { ComplaintFilter } from "./bindings/ComplaintFilter";
import type { ComplaintSummary } from "./bindings/ComplaintSummary";
import type { ComplaintView } from "./bindings/ComplaintView";
import type { ComplaintStatus } from "./bindings/ComplaintStatus";
import type { FacilityChoice } from "./bindings/FacilityChoice";
import type { PassportStatus } from "./bindings/PassportStatus";
import type { PrintedFile } from "./bindings/PrintedFile";
import type { PersonSummary } from "./bindings/PersonSummary";
import type { QrReading } from "./bindings/QrReading";
import type { RecordDoseRequest } from "./bindings/RecordDoseRequest";
import type { SearchQuery } from "./bindings/SearchQuery";
import type { SetupRequest } from "./bindings/SetupRequest";
import type { SignInRequest } from "./bindings/SignInRequest";
import type { SignInStep } from "./bindings/SignInStep";
import type { SyncReport } from "./bindings/SyncReport";
import type { UiError } from "./bindings/UiError";
import type { VaccineEntry } from "./bindings/VaccineEntry";
import type { CohortCoverage } from "./bindings/CohortCoverage";
import type { DueEntry } from "./bindings/DueEntry";
import type { PersonSchedule } from "./bindings/PersonSchedule";
import type { Defaulter } from "./bindings/Defaulter";
import type { PlanSessionRequest } from "./bindings/PlanSessionRequest";
import type { SessionDay } from "./bindings/SessionDay";
import type { SessionTally } from "./bindings/SessionTally";
import type { TraceRequest } from "./bindings/TraceRequest";
import type { RemindView } from "./bindings/RemindView";
import type { VoidDoseRequest } from "./bindings/VoidDoseRequest";
import type { SignRunRequest } from "./bindings/SignRunRequest";
import type { BacklogSummary } from "./bindings/BacklogSummary";
import type { SigningBatchSummary } from "./bindings/SigningBatchSummary";
import type { SigningPreview } from "./bindings/SigningPreview";
import type { SigningSelection } from "./bindings/SigningSelection";
import type { TokenView } from "./bindings/TokenView";
import type { DuplicatePair } from "./bindings/DuplicatePair";
import type { ExportListRequest } from "./bindings/ExportListRequest";
import type { ExportSummary } from "./bindings/ExportSummary";
import type { ImportApplyRequest } from "./bindings/ImportApplyRequest";
import type { ImportFileRequest } from "./bindings/ImportFileRequest";
import type { ImportPreviewView } from "./bindings/ImportPreviewView";
import type { ImportSummary } from "./bindings/ImportSummary";
import type { ListPage } from "./bindings/ListPage";
import type { ListQuery } from "./bindings/ListQuery";
import type { MergeRequest } from "./bindings/MergeRequest";
import type { RegisterCertificateView } from "./bindings/RegisterCertificateView";

/** Any failure as a UiError (the shell's own, or the IPC layer's plain text). */
export function toUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as UiError;
  return {
    code: "internal",
    message: `Lỗi của ứng dụng: ${String(e)}. Dữ liệu đã nhập vẫn còn trên màn hình; thử lại hoặc báo cán bộ kỹ thuật.`,
    fields: [],
    existing_person: null,
    retryable: false,
  };
}

/** Calls `handler` with each payload of the shell's event `name`; returns the unsubscribe. */
function subscribe<T>(name: string, handler: (payload: T) => void): () => void {
  const stop = listen<T>(name, (e) => handler(e.payload));
  return () => void stop.then((unlisten) => unlisten(), () => undefined);
}

/** The progress the shell pushes as it changes (no polling). */
export const progressEvents = {
  sync: (handler: (p: SyncProgress) => void) => subscribe(SYNC_PROGRESS_EVENT, handler),
  signing: (handler: (p: SigningProgress) => void) => subscribe(SIGNING_PROGRESS_EVENT, handler),
};

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw toUiError(e);
  }
}

export const api = {
  appStatus: () => call<AppStatus>("app_status"),
  setupStation: (request: SetupRequest) => call<AppStatus>("setup_station", { request }),
  restoreStation: (request: RestoreRequest) => call<AppStatus>("restore_station", { request }),
  backupSettings: () => call<BackupSettings>("backup_settings"),
  setRecoveryPassphrase: (passphrase: string) => call<BackupSettings>("set_recovery_passphrase", { passphrase }),
  setBackupFolder: (folder: string) => call<BackupSettings>("set_backup_folder", { folder }),
  backupNow: () => call<BackupSummary>("backup_now"),
  updateStatus: () => call<UpdateView>("update_status"),
  checkUpdate: () => call<UpdateView>("check_update"),
  downloadUpdate: () => call<UpdateView>("download_update"),
  installUpdate: () => call<null>("install_update"),
  signIn: (request: SignInRequest) => call<SignInStep>("sign_in", { request }),
  completeEnrollment: (request: EnrollRequest) => call<SignInStep>("complete_enrollment", { request }),
  changeInitialPassword: (request: InitialPasswordRequest) => call<SignInStep>("change_initial_password", { request }),
  signOut: () => call<null>("sign_out"),
  changePassword: (request: ChangePasswordRequest) => call<null>("change_password", { request }),
  catalogue: () => call<VaccineEntry[]>("catalogue"),
  dueList: (date: string | null, hamlet: string | null) => call<DueEntry[]>("due_list", { date, hamlet }),
  coverage: (cohort: string, date: string | null) => call<CohortCoverage>("coverage", { cohort, date }),
  personSchedule: (personId: string) => call<PersonSchedule>("person_schedule", { personId }),
  planSession: (request: PlanSessionRequest) => call<SessionDay>("plan_session", { request }),
  sessionDays: () => call<SessionDay[]>("session_days"),
  printSessionSlips: (id: string) => call<PrintedFile>("print_session_slips", { id }),
  printSessionSheet: (id: string) => call<PrintedFile>("print_session_sheet", { id }),
  sessionTally: (id: string) => call<SessionTally>("session_tally", { id }),
  closeSession: (id: string) => call<Defaulter[]>("close_session", { id }),
  sessionDefaulters: (id: string) => call<Defaulter[]>("session_defaulters", { id }),
  traceDefaulter: (request: TraceRequest) => call<Defaulter>("trace_defaulter", { request }),
  remindSession: (id: string) => call<RemindView>("remind_session", { id }),
  findPeople: (query: SearchQuery) => call<PersonSummary[]>("find_people", { query }),
  readCccdQr: (text: string) => call<QrReading>("read_cccd_qr", { text }),
  registerPerson: (input: PersonInput) => call<PersonRecord>("register_person", { input }),
  showPerson: (personId: string) => call<PersonRecord>("show_person", { personId }),
  passportStatus: (personId: string) => call<PassportStatus>("passport_status", { personId }),
  printPassport: (personId: string, paper: Paper) => call<PrintedFile>("print_passport", { personId, paper }),
  checkPassport: (text: string) => call<PassportCheck>("check_passport", { text }),
  complaints: (filter: ComplaintFilter) => call<ComplaintSummary[]>("complaints", { filter }),
  openComplaint: (id: string) => call<ComplaintView>("open_complaint", { id }),
  complaintMatches: (id: string) => call<PersonSummary[]>("complaint_matches", { id }),
  linkComplaint: (id: string, personId: string | null) => call<ComplaintView>("link_complaint", { id, personId }),
  answerComplaint: (id: string, status: ComplaintStatus, text: string) => call<ComplaintView>("answer_complaint", { id, status, text }),
  forwardComplaint: (id: string, to: string, reason: string) => call<ComplaintView>("forward_complaint", { id, to, reason }),
  /** A photo of the paper card as a data: URL (fetched from the server the first time). */
  complaintPhoto: (id: string, n: number) => call<string>("complaint_photo", { id, n }),
  complaintDestinations: () => call<FacilityChoice[]>("complaint_destinations"),
  editPerson: (request: EditRequest) => call<PersonRecord>("edit_person", { request }),
  recordDose: (request: RecordDoseRequest) => call<PersonRecord>("record_dose", { request }),
  voidDose: (request: VoidDoseRequest) => call<PersonRecord>("void_dose", { request }),
  dailyReport: (date: string | null) => call<DailyReport>("daily_report", { date }),
  syncNow: () => call<SyncReport>("sync_now"),
  cancelSync: () => call<null>("cancel_sync"),
  signingTokens: () => call<TokenView[]>("signing_tokens"),
  signingPreview: (selection: SigningSelection) => call<SigningPreview>("signing_preview", { selection }),
  signRun: (request: SignRunRequest) => call<BacklogSummary>("sign_run", { request }),
  cancelSigning: () => call<null>("cancel_signing"),
  signingBatches: () => call<SigningBatchSummary[]>("signing_batches"),
  dataList: (query: ListQuery, offset: number, limit: number, otp: string | null = null) => call<ListPage>("data_list", { query, offset, limit, otp }),
  exportList: (request: ExportListRequest) => call<ExportSummary>("export_list", { request }),
  importPreview: (request: ImportFileRequest) => call<ImportPreviewView>("import_preview", { request }),
  importApply: (request: ImportApplyRequest) => call<ImportSummary>("import_apply", { request }),
  duplicateCandidates: () => call<DuplicatePair[]>("duplicate_candidates"),
  mergePeople: (request: MergeRequest) => call<PersonRecord>("merge_people", { request }),
  registerCertificate: (request: RegisterCertificateView) => call<string[]>("register_certificate", { request }),
  staffAccounts: () => call<AccountInfo[]>("staff_accounts"),
  createStaffAccount: (request: NewStaffRequest) => call<AccountInfo>("create_staff_account", { request }),
  revokeStaffAccount: (username: string) => call<null>("revoke_staff_account", { username }),
  resetStaffPassword: (request: StaffPasswordRequest) => call<ResetRecord>("reset_staff_password", { request }),
  resetStaffAuthenticator: (username: string) => call<ResetRecord>("reset_staff_authenticator", { username }),
  staffResets: () => call<ResetRecord[]>("staff_resets"),
  approveStaffReset: (id: string) => call<ResetRecord>("approve_staff_reset", { id }),
  acknowledgeResetNotices: () => call<null>("acknowledge_reset_notices"),
  staffSignIns: (username: string) => call<SignInEvent[]>("staff_sign_ins", { username }),
  ownSignIns: () => call<SignInEvent[]>("own_sign_ins"),
};
