//! The commands the UI calls. Each one translates between the UI's types and the station's
//! API and back; the rules live in `station`.

use crate::error::UiError;
use crate::state::AppState;
use crate::updates::UpdateView;
use crate::views::{
    AppStatus, CertificateView, ChangePasswordRequest, EditRequest, EnrollRequest,
    ExportListRequest, ImportApplyRequest, ImportFileRequest, ImportPreviewView,
    InitialPasswordRequest, MergeRequest, NewStaffRequest, RecordDoseRequest,
    RegisterCertificateView, RestoreRequest, SessionView, SetupRequest, SignInRequest, SignInStep,
    SignRunRequest, StaffPasswordRequest, TokenView, VoidDoseRequest,
};
use station::{
    BacklogSummary, BackupSettings, BackupSummary, Credentials, DailyReport, DuplicatePair,
    ExportSummary, ImportSummary, ListPage, ListQuery, PersonInput, PersonRecord, PersonSummary,
    QrReading, SearchQuery, SigningBatchSummary, SigningPreview, SigningSelection, Station,
    SyncReport, TokenSigner,
};
use std::sync::Arc;
use sync_protocol::Vaccine;
use sync_protocol::auth::{AccountInfo, NewAccount, ResetRecord, SignInEvent};
use tauri::State;
use uuid::Uuid;

type Result<T> = std::result::Result<T, UiError>;
type App<'a> = State<'a, Arc<AppState>>;

fn uuid(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text.trim())
        .map_err(|_| UiError::new("invalid_id", format!("mã {what} không hợp lệ: {text}")))
}

/// The state of the app for the header and status bars.
#[tauri::command]
pub async fn app_status(app: App<'_>) -> Result<AppStatus> {
    // The UI asks for its first status once the window has loaded: the first screen follows.
    static FIRST: std::sync::Once = std::sync::Once::new();
    FIRST.call_once(|| {
        if let Some(started) = crate::STARTED.get() {
            tracing::info!(
                "first screen requested {} ms after start",
                started.elapsed().as_millis()
            );
        }
    });
    let station = app.station_if_open().await;
    let (facility, session, sync, progress, complaints) = match &station {
        Some(s) => (
            Some(s.facility()),
            s.session().as_ref().map(SessionView::from),
            s.sync_status().await.ok(),
            s.sync_progress(),
            // Refused (and so absent) for a role that reads no people's data.
            s.complaint_counts().await.ok(),
        ),
        None => (None, None, None, Default::default(), None),
    };
    Ok(AppStatus {
        version: env!("CARGO_PKG_VERSION").into(),
        setup_needed: station.is_none() && app.fatal().is_none(),
        fatal: app.fatal(),
        default_server: app.config.default_server.clone(),
        facility,
        session,
        online: app.online(),
        sync,
        progress,
        last_report: app.last_report(),
        update_available: app.update_view().await.available,
        complaints,
    })
}

/// First run: sets up this laptop as a station of the device token's facility.
#[tauri::command]
pub async fn setup_station(app: App<'_>, request: SetupRequest) -> Result<AppStatus> {
    app.set_up(&request.server_url, &request.device_token)
        .await?;
    app_status(app).await
}

/// First run on a new laptop: rebuilds the station from a backup of the old one.
#[tauri::command]
pub async fn restore_station(app: App<'_>, request: RestoreRequest) -> Result<AppStatus> {
    app.restore(&request).await?;
    app_status(app).await
}

/// How this station backs up.
#[tauri::command]
pub async fn backup_settings(app: App<'_>) -> Result<BackupSettings> {
    Ok(app.station().await?.backup_settings().await?)
}

/// Sets the recovery passphrase (head of facility).
#[tauri::command]
pub async fn set_recovery_passphrase(app: App<'_>, passphrase: String) -> Result<BackupSettings> {
    let station = app.station().await?;
    station.set_recovery_passphrase(&passphrase).await?;
    Ok(station.backup_settings().await?)
}

/// Chooses the folder of the daily backups (empty: none).
#[tauri::command]
pub async fn set_backup_folder(app: App<'_>, folder: String) -> Result<BackupSettings> {
    let station = app.station().await?;
    let folder = folder.trim();
    station
        .set_backup_folder((!folder.is_empty()).then(|| std::path::Path::new(folder)))
        .await?;
    Ok(station.backup_settings().await?)
}

/// Writes a backup into the chosen folder now.
#[tauri::command]
pub async fn backup_now(app: App<'_>) -> Result<BackupSummary> {
    Ok(app.station().await?.backup_now(None).await?)
}

/// What the app knows of updates.
#[tauri::command]
pub async fn update_status(app: App<'_>) -> Result<UpdateView> {
    Ok(app.update_view().await)
}

/// Asks the server for a newer release.
#[tauri::command]
pub async fn check_update(app: App<'_>) -> Result<UpdateView> {
    app.check_update().await
}

/// Downloads the newer release and verifies its signature.
#[tauri::command]
pub async fn download_update(app: App<'_>) -> Result<UpdateView> {
    app.download_update().await
}

/// Installs the verified release and restarts (refused while changes wait to be synced).
#[tauri::command]
pub async fn install_update(app: App<'_>) -> Result<()> {
    app.install_update().await
}

/// Signs in: online when the server answers, else offline on the laptop.
#[tauri::command]
pub async fn sign_in(app: App<'_>, request: SignInRequest) -> Result<SignInStep> {
    let station = app.station().await?;
    let client = app.client();
    let step = station
        .sign_in(
            &Credentials {
                username: request.username,
                password: request.password,
                otp: request.otp,
            },
            client.as_deref(),
        )
        .await;
    if let (Ok(station::SignIn::Done { session }), Some(_)) = (&step, &client) {
        app.set_online(session.online);
    }
    Ok(step?.into())
}

/// Confirms a first login's authenticator with its first code.
#[tauri::command]
pub async fn complete_enrollment(app: App<'_>, request: EnrollRequest) -> Result<SignInStep> {
    let station = app.station().await?;
    let client = app.require_client()?;
    Ok(station
        .complete_enrollment(&client, &request.challenge, &request.otp, &request.password)
        .await?
        .into())
}

/// Sets a first login's new password.
#[tauri::command]
pub async fn change_initial_password(
    app: App<'_>,
    request: InitialPasswordRequest,
) -> Result<SignInStep> {
    let station = app.station().await?;
    let client = app.require_client()?;
    Ok(station
        .change_initial_password(&client, &request.challenge, &request.new_password)
        .await?
        .into())
}

/// Signs out (on the server too when it answers).
#[tauri::command]
pub async fn sign_out(app: App<'_>) -> Result<()> {
    let station = app.station().await?;
    station.sign_out(app.client().as_deref()).await?;
    Ok(())
}

/// Changes the signed-in user's password (online).
#[tauri::command]
pub async fn change_password(app: App<'_>, request: ChangePasswordRequest) -> Result<()> {
    let station = app.station().await?;
    let client = app.require_client()?;
    station
        .change_password(
            &client,
            &request.old_password,
            &request.otp,
            &request.new_password,
        )
        .await?;
    Ok(())
}

/// The vaccines that can be recorded.
#[tauri::command]
pub async fn catalogue(app: App<'_>) -> Result<Vec<Vaccine>> {
    Ok(app.station().await?.catalogue().vaccines.clone())
}

/// Finds people by full name with a phone or an ID number.
#[tauri::command]
pub async fn find_people(app: App<'_>, query: SearchQuery) -> Result<Vec<PersonSummary>> {
    Ok(app.station().await?.find(&query).await?)
}

/// The registration form filled from a scanned CCCD QR code.
#[tauri::command]
pub async fn read_cccd_qr(text: String) -> Result<QrReading> {
    Ok(Station::read_qr(&text)?)
}

/// Registers a person; returns their record.
#[tauri::command]
pub async fn register_person(app: App<'_>, input: PersonInput) -> Result<PersonRecord> {
    let station = app.station().await?;
    let person = station.register_person(input).await?;
    Ok(station.show(person.id).await?)
}

/// A person's record: details, doses, warnings, conflicts.
#[tauri::command]
pub async fn show_person(app: App<'_>, person_id: String) -> Result<PersonRecord> {
    Ok(app
        .station()
        .await?
        .show(uuid(&person_id, "người")?)
        .await?)
}

/// A person's vaccine passports (the valid one and earlier ones).
#[tauri::command]
pub async fn passport_status(app: App<'_>, person_id: String) -> Result<station::PassportStatus> {
    Ok(app
        .station()
        .await?
        .passport_status(uuid(&person_id, "người")?)
        .await?)
}

/// Prints a person's valid passport to a PDF in the export folder and says where.
#[tauri::command]
pub async fn print_passport(
    app: App<'_>,
    person_id: String,
    paper: station::Paper,
) -> Result<crate::views::PrintedPassport> {
    let station = app.station().await?;
    let (pdf, name) = station
        .passport_pdf(uuid(&person_id, "người")?, paper)
        .await?;
    let dir = &app.config.export_dir;
    let io = |source| station::StationError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(name);
    station::files::replace(&path, &pdf)?;
    Ok(crate::views::PrintedPassport {
        path: path.display().to_string(),
        bytes: pdf.len() as u64,
    })
}

/// Checks a scanned or pasted passport offline against the kept trust list.
#[tauri::command]
pub async fn check_passport(app: App<'_>, text: String) -> Result<station::PassportCheck> {
    Ok(app.station().await?.check_passport(&text).await?)
}

/// The complaints inbox: those to answer (by deadline), or all.
#[tauri::command]
pub async fn complaints(
    app: App<'_>,
    filter: station::ComplaintFilter,
) -> Result<Vec<station::ComplaintSummary>> {
    Ok(app.station().await?.complaints(filter).await?)
}

/// Opens a complaint (audited).
#[tauri::command]
pub async fn open_complaint(app: App<'_>, id: String) -> Result<station::ComplaintView> {
    Ok(app.station().await?.complaint(&id).await?)
}

/// The people a complaint may be about (its name with its phone or ID number).
#[tauri::command]
pub async fn complaint_matches(app: App<'_>, id: String) -> Result<Vec<PersonSummary>> {
    Ok(app.station().await?.complaint_matches(&id).await?)
}

/// Links a complaint to a person (or undoes the link).
#[tauri::command]
pub async fn link_complaint(
    app: App<'_>,
    id: String,
    person_id: Option<String>,
) -> Result<station::ComplaintView> {
    let person = person_id.as_deref().map(|p| uuid(p, "người")).transpose()?;
    Ok(app.station().await?.link_complaint(&id, person).await?)
}

/// Answers a complaint; sent at once when the server answers, else at the next sync.
#[tauri::command]
pub async fn answer_complaint(
    app: App<'_>,
    id: String,
    status: sync_protocol::complaints::ComplaintStatus,
    text: String,
) -> Result<station::ComplaintView> {
    let station = app.station().await?;
    let client = app.client();
    Ok(station
        .answer_complaint(client.as_deref(), &id, status, &text)
        .await?)
}

/// Forwards a complaint to another facility with the reason; sent like an answer.
#[tauri::command]
pub async fn forward_complaint(
    app: App<'_>,
    id: String,
    to: String,
    reason: String,
) -> Result<station::ComplaintView> {
    let station = app.station().await?;
    let client = app.client();
    Ok(station
        .forward_complaint(client.as_deref(), &id, &to, &reason)
        .await?)
}

/// Where a complaint can be forwarded (from the server, or the list kept from the last time).
#[tauri::command]
pub async fn complaint_destinations(
    app: App<'_>,
) -> Result<Vec<sync_protocol::complaints::FacilityChoice>> {
    let station = app.station().await?;
    let client = app.client();
    Ok(station.complaint_destinations(client.as_deref()).await?)
}

/// Photo `n` of a complaint as a `data:` URL (the page may show no other outside image).
#[tauri::command]
pub async fn complaint_photo(app: App<'_>, id: String, n: u32) -> Result<String> {
    use base64::Engine;
    let station = app.station().await?;
    let client = app.client();
    let jpeg = station.complaint_photo(client.as_deref(), &id, n).await?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}

/// Edits a person (a fresh code when the change needs step-up); returns the record.
#[tauri::command]
pub async fn edit_person(app: App<'_>, request: EditRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let id = uuid(&request.person_id, "người")?;
    let otp = request.otp.filter(|o| !o.trim().is_empty());
    // The server checks the code of an edit that needs one (another facility's person).
    let client = app.client();
    let step_up = otp.as_deref().map(|otp| station::StepUp {
        otp,
        server: client.as_deref(),
    });
    station.edit_person(id, request.edit, step_up).await?;
    Ok(station.show(id).await?)
}

/// Records a dose; returns the person's record.
#[tauri::command]
pub async fn record_dose(app: App<'_>, request: RecordDoseRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let id = uuid(&request.person_id, "người")?;
    station.record_dose(id, request.dose).await?;
    Ok(station.show(id).await?)
}

/// Voids a dose with a reason; returns the person's record.
#[tauri::command]
pub async fn void_dose(app: App<'_>, request: VoidDoseRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let person = uuid(&request.person_id, "người")?;
    let otp = request.otp.filter(|o| !o.trim().is_empty());
    // The server checks the code that voiding a signed dose needs.
    let client = app.client();
    let step_up = otp.as_deref().map(|otp| station::StepUp {
        otp,
        server: client.as_deref(),
    });
    station
        .void_dose_with(
            uuid(&request.dose_id, "mũi tiêm")?,
            &request.reason,
            step_up,
        )
        .await?;
    Ok(station.show(person).await?)
}

/// The report of one day (`yyyy-mm-dd`, today at +07:00 when absent).
#[tauri::command]
pub async fn daily_report(app: App<'_>, date: Option<String>) -> Result<DailyReport> {
    let day = match date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| {
                UiError::new(
                    "date_format",
                    format!("ngày {d} không hợp lệ: chọn ngày theo dạng ngày/tháng/năm"),
                )
            })?,
        None => sync_protocol::person::now().date(),
    };
    Ok(app.station().await?.daily_report(day).await?)
}

/// Syncs now; the UI follows progress through `app_status` and may call `cancel_sync`.
#[tauri::command]
pub async fn sync_now(app: App<'_>) -> Result<SyncReport> {
    app.sync().await
}

/// Asks the running sync to stop at its next step.
#[tauri::command]
pub async fn cancel_sync(app: App<'_>) -> Result<()> {
    app.station().await?.cancel_sync();
    Ok(())
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(sync_protocol::person::format_time)
        .unwrap_or_default()
}

/// The tokens present and their certificates, marked registered / valid for the signer.
#[tauri::command]
pub async fn signing_tokens(app: App<'_>) -> Result<Vec<TokenView>> {
    let station = app.station().await?;
    let account = station.session().map(|s| s.account);
    let module = app.token_module()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut out = Vec::new();
    for token in module.tokens().map_err(station::StationError::from)? {
        let certificates = module
            .certificates(token.slot)
            .map_err(station::StationError::from)?
            .into_iter()
            .map(|c| CertificateView {
                registered: account
                    .as_ref()
                    .is_some_and(|a| station::signing::is_registered(a, &c)),
                valid_now: c.not_before <= now && now <= c.not_after,
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                id: c.id,
                subject: c.subject,
                issuer: c.issuer,
                serial: c.serial,
            })
            .collect();
        out.push(TokenView {
            slot: token.slot,
            label: token.label,
            module: module.path.display().to_string(),
            certificates,
        });
    }
    Ok(out)
}

/// Exactly what a run over the selection would sign.
#[tauri::command]
pub async fn signing_preview(app: App<'_>, selection: SigningSelection) -> Result<SigningPreview> {
    Ok(app.station().await?.signing_preview(&selection).await?)
}

/// Signs the previewed doses: one PIN for the whole selection, one token signature per run of
/// at most 1,000 people / 3,000 doses, run after run until done or stopped.
#[tauri::command]
pub async fn sign_run(app: App<'_>, request: SignRunRequest) -> Result<BacklogSummary> {
    let station = app.station().await?;
    let module = app.token_module()?;
    let signer = TokenSigner::choose(
        module.as_ref(),
        request.slot,
        &request.certificate_id,
        request.pin,
    )?;
    Ok(station
        .sign_backlog(&request.selection, request.expected_doses as usize, &signer)
        .await?)
}

/// Stops signing after the run in progress (the runs signed are kept).
#[tauri::command]
pub async fn cancel_signing(app: App<'_>) -> Result<()> {
    app.station().await?.cancel_signing();
    Ok(())
}

/// Registers a certificate of the token on the signed-in signer's account (the token signs a
/// statement with the PIN; a fresh code is needed). Returns the serials now registered.
#[tauri::command]
pub async fn register_certificate(
    app: App<'_>,
    request: RegisterCertificateView,
) -> Result<Vec<String>> {
    Ok(register_certificate_on_account(app, request)
        .await?
        .into_iter()
        .map(|c| c.serial)
        .collect())
}

async fn register_certificate_on_account(
    app: App<'_>,
    request: RegisterCertificateView,
) -> Result<Vec<sync_protocol::auth::RegisteredCertificate>> {
    let station = app.station().await?;
    let client = app.require_client()?;
    let module = app.token_module()?;
    let signer = TokenSigner::choose(
        module.as_ref(),
        request.slot,
        &request.certificate_id,
        request.pin,
    )?;
    Ok(station
        .register_certificate(&client, &signer, &request.otp)
        .await?)
}

/// The signing runs made on this station.
#[tauri::command]
pub async fn signing_batches(app: App<'_>) -> Result<Vec<SigningBatchSummary>> {
    Ok(app.station().await?.signing_batches().await?)
}

/// Most rows one page of a list may ask for (the whole list goes to Excel instead).
const MAX_LIST_PAGE_ROWS: usize = 1_000;

/// One page of `limit` rows of a data-cleaning list, from row `offset` (from 0), and its total.
#[tauri::command]
pub async fn data_list(
    app: App<'_>,
    query: ListQuery,
    offset: usize,
    limit: usize,
    otp: Option<String>,
) -> Result<ListPage> {
    let station = app.station().await?;
    // Paging past the first rows needs a fresh code (the station's rule); given, it unlocks.
    if let Some(otp) = otp.filter(|o| !o.trim().is_empty()) {
        station.unlock_lists(&otp).await?;
    }
    Ok(station
        .data_list(&query, offset, limit.clamp(1, MAX_LIST_PAGE_ROWS))
        .await?)
}

/// Exports a list to .xlsx in the export folder (fresh code; audited) and says where.
#[tauri::command]
pub async fn export_list(app: App<'_>, request: ExportListRequest) -> Result<ExportSummary> {
    let station = app.station().await?;
    let dir = &app.config.export_dir;
    std::fs::create_dir_all(dir).map_err(|source| station::StationError::Io {
        path: dir.clone(),
        source,
    })?;
    let stamp = time::OffsetDateTime::now_utc()
        .to_offset(sync_protocol::VIETNAM)
        .format(time::macros::format_description!(
            "[day]-[month]-[year]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let path = dir.join(format!("{}-{}.xlsx", request.query.list.title(), stamp));
    Ok(station
        .export_list(&request.query, &path, &request.otp)
        .await?)
}

/// The kept upload of `upload_id`, or a clear error.
fn kept_upload(app: &AppState, upload_id: &str) -> Result<crate::state::Upload> {
    app.upload(upload_id).ok_or_else(|| {
        UiError::new(
            "upload_missing",
            "không còn tệp đã chọn: chọn lại tệp rồi xem trước",
        )
    })
}

/// Keeps a chosen spreadsheet and shows what importing it would change.
#[tauri::command]
pub async fn import_preview(app: App<'_>, request: ImportFileRequest) -> Result<ImportPreviewView> {
    const MAX_BYTES: usize = 50 * 1024 * 1024;
    let station = app.station().await?;
    let ext = std::path::Path::new(&request.name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let ext = match ext.as_deref() {
        Some(e @ ("xlsx" | "csv")) => e.to_string(),
        _ => {
            return Err(UiError::new(
                "import_type",
                "chỉ nhập được tệp Excel (.xlsx) hoặc CSV (.csv); tệp .xls cũ hãy mở bằng Excel rồi lưu thành .xlsx",
            ));
        }
    };
    if request.content.len() > MAX_BYTES {
        return Err(UiError::new(
            "import_too_large",
            "tệp lớn hơn 50 MB: chia danh sách thành nhiều tệp",
        ));
    }
    // The name as chosen (errors name it); only its extension, checked above, decides the kind.
    let name = std::path::Path::new(&request.name).file_name().map_or_else(
        || format!("tep.{ext}"),
        |n| n.to_string_lossy().into_owned(),
    );
    let preview = station
        .import_preview_of(std::path::Path::new(&name), &request.content)
        .await?;
    // Kept in memory for the apply, never written to disk.
    let upload_id = app.keep_upload(name, request.content);
    Ok(ImportPreviewView { upload_id, preview })
}

/// Applies a previewed import (fresh code), then forgets the file.
#[tauri::command]
pub async fn import_apply(app: App<'_>, request: ImportApplyRequest) -> Result<ImportSummary> {
    let station = app.station().await?;
    let upload = kept_upload(&app, &request.upload_id)?;
    let client = app.client();
    let summary = station
        .import_apply_of(
            std::path::Path::new(&upload.name),
            &upload.bytes,
            request.expected_changes as usize,
            station::StepUp {
                otp: &request.otp,
                server: client.as_deref(),
            },
        )
        .await?;
    app.forget_upload(&request.upload_id);
    Ok(summary)
}

/// Pairs of records that may be the same person, with the rule that paired them.
#[tauri::command]
pub async fn duplicate_candidates(app: App<'_>) -> Result<Vec<DuplicatePair>> {
    Ok(app.station().await?.duplicate_candidates().await?)
}

/// Merges a reviewed pair and returns the record kept.
#[tauri::command]
pub async fn merge_people(app: App<'_>, request: MergeRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let keep = uuid(&request.keep, "hồ sơ giữ lại")?;
    let other = uuid(&request.other, "hồ sơ gộp")?;
    station.merge_people(keep, other).await?;
    Ok(station.show(keep).await?)
}

/// The client to the server as the signed-in user (online sessions only).
async fn as_user(app: &App<'_>) -> Result<Arc<station::SyncClient>> {
    let station = app.station().await?;
    let client = app.require_client()?;
    station::staff::as_user(station.session().as_ref(), &client)?;
    Ok(client)
}

/// The station's accounts, for its head.
#[tauri::command]
pub async fn staff_accounts(app: App<'_>) -> Result<Vec<AccountInfo>> {
    let client = as_user(&app).await?;
    Ok(station::staff::accounts(&client).await?)
}

/// Creates a vaccinator's or signer's account at the head's own facility.
#[tauri::command]
pub async fn create_staff_account(app: App<'_>, request: NewStaffRequest) -> Result<AccountInfo> {
    let client = as_user(&app).await?;
    let facility = app
        .station()
        .await?
        .session()
        .map(|s| s.account.facility.clone())
        .unwrap_or_default();
    let new = NewAccount {
        username: request.username,
        facility,
        role: request.role,
        full_name: request.full_name,
        gender: request.gender,
        position: request.position,
        email: None,
        phone: request.phone,
        initial_password: request.initial_password,
    };
    Ok(station::staff::create(&client, &new).await?)
}

/// Revokes one of the station's accounts.
#[tauri::command]
pub async fn revoke_staff_account(app: App<'_>, username: String) -> Result<()> {
    let client = as_user(&app).await?;
    Ok(station::staff::revoke(&client, &username).await?)
}

/// Gives one of the station's accounts a new initial password (or asks a second person to
/// approve it, when its authenticator was reset lately).
#[tauri::command]
pub async fn reset_staff_password(
    app: App<'_>,
    request: StaffPasswordRequest,
) -> Result<ResetRecord> {
    let client = as_user(&app).await?;
    Ok(
        station::staff::reset_password(&client, &request.username, &request.initial_password)
            .await?,
    )
}

/// Clears the authenticator of one of the station's accounts (re-enrolment at next sign-in), or
/// asks a second person to approve it.
#[tauri::command]
pub async fn reset_staff_authenticator(app: App<'_>, username: String) -> Result<ResetRecord> {
    let client = as_user(&app).await?;
    Ok(station::staff::reset_authenticator(&client, &username).await?)
}

/// The last 30 days' resets of the station's accounts.
#[tauri::command]
pub async fn staff_resets(app: App<'_>) -> Result<Vec<ResetRecord>> {
    let client = as_user(&app).await?;
    Ok(station::staff::resets(&client).await?)
}

/// Approves, as the second person, a reset another administrator asked for.
#[tauri::command]
pub async fn approve_staff_reset(app: App<'_>, id: String) -> Result<ResetRecord> {
    let client = as_user(&app).await?;
    Ok(station::staff::approve_reset(&client, &id).await?)
}

/// The signed-in user has read the resets shown at sign-in.
#[tauri::command]
pub async fn acknowledge_reset_notices(app: App<'_>) -> Result<()> {
    Ok(app.station().await?.acknowledge_reset_notices().await?)
}

/// The sign-ins of one of the station's accounts.
#[tauri::command]
pub async fn staff_sign_ins(app: App<'_>, username: String) -> Result<Vec<SignInEvent>> {
    let client = as_user(&app).await?;
    Ok(station::staff::sign_ins_of(&client, &username).await?)
}

/// The signed-in user's own sign-ins.
#[tauri::command]
pub async fn own_sign_ins(app: App<'_>) -> Result<Vec<SignInEvent>> {
    let client = as_user(&app).await?;
    Ok(station::staff::own_sign_ins(&client).await?)
}
