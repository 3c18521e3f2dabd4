// Form checks that help the nurse before anything is sent: required fields and the shape of
// what was typed. The rules themselves (CCCD province and century digits, phone networks, dose
// numbers) are the station's, which answers with the field and the reason.

import { LIMITS } from "./bindings/currentLimits";

export type FieldErrors = Record<string, string>;

/** Messages in both languages; the form shows the current one. */
const MESSAGES = {
  required: { vi: "Bắt buộc nhập", en: "Required" },
  birthDate: { vi: "Nhập ngày/tháng/năm (vd 17/05/1990) hoặc chỉ năm sinh", en: "Type dd/mm/yyyy or the year only" },
  phone: { vi: "Số điện thoại chỉ gồm chữ số (vd 0912 345 678)", en: "Digits only (e.g. 0912 345 678)" },
  idNumber: { vi: "CCCD 12 số, CMND 9 hoặc 12 số", en: "CCCD: 12 digits, CMND: 9 or 12" },
  passport: { vi: "Hộ chiếu gồm chữ và số, 6–12 ký tự", en: "Passport: 6–12 letters and digits" },
  givenAt: { vi: "Nhập ngày/tháng/năm giờ:phút (vd 20/11/2026 09:30) hoặc để trống là bây giờ", en: "Type dd/mm/yyyy hh:mm, or leave empty for now" },
  doseNumber: { vi: `Mũi số từ 1 đến ${LIMITS.dose_number_max}`, en: `Dose number 1 to ${LIMITS.dose_number_max}` },
  recoveryPassphrase: {
    vi: `Mật khẩu khôi phục ít nhất ${LIMITS.recovery_passphrase_min} ký tự (một câu ngắn dễ nhớ)`,
    en: `A recovery passphrase of at least ${LIMITS.recovery_passphrase_min} characters (a short sentence)`,
  },
  passphraseMismatch: { vi: "Hai lần nhập không giống nhau", en: "The two entries differ" },
  reason: { vi: `Ghi rõ lý do huỷ (ít nhất ${LIMITS.void_reason_min} ký tự)`, en: `Give the reason (at least ${LIMITS.void_reason_min} characters)` },
  searchName: { vi: "Nhập họ tên", en: "Type the full name" },
  searchOther: { vi: "Nhập số điện thoại hoặc số giấy tờ", en: "Type a phone or an ID number" },
  otp: { vi: "Mã xác thực gồm 6 chữ số", en: "The code has 6 digits" },
  passwordMatch: { vi: "Hai lần nhập mật khẩu mới không khớp", en: "The new passwords differ" },
  url: { vi: "Địa chỉ máy chủ bắt đầu bằng http:// hoặc https://", en: "The address starts with http:// or https://" },
} as const;

export type Lang = "vi" | "en";
type Key = keyof typeof MESSAGES;

function msg(key: Key, lang: Lang): string {
  return MESSAGES[key][lang];
}

const blank = (s: string | null | undefined) => !s || s.trim() === "";

/** The message of a required field left empty. */
export function requiredMessage(lang: Lang): string {
  return msg("required", lang);
}

/** `dd/mm/yyyy`, `d/m/yyyy`, `yyyy-mm-dd` or `yyyy`, and a real calendar day. */
export function isBirthDateShape(text: string): boolean {
  const t = text.trim();
  if (/^\d{4}$/.test(t)) return true;
  let m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(t);
  let [day, month, year] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  if (!m) {
    m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
    if (!m) return false;
    [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  }
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

/** Digits once spaces, dots and dashes are gone. */
export function digitsOnly(text: string): string {
  return text.replace(/[\s.\-()]/g, "");
}

export interface PersonForm {
  full_name: string;
  gender: string;
  birth_date: string;
  id_kind: string;
  id_number: string;
  phone: string;
  caregiver_name?: string;
}

/** What is missing or mis-shaped in a registration or edit form. */
export function checkPersonForm(f: PersonForm, lang: Lang): FieldErrors {
  const e: FieldErrors = {};
  // A newborn without a name yet goes by the caregiver's name ("Con bà …").
  if (blank(f.full_name) && blank(f.caregiver_name ?? "")) e.full_name = msg("required", lang);
  if (blank(f.gender)) e.gender = msg("required", lang);
  if (blank(f.birth_date)) e.birth_date = msg("required", lang);
  else if (!isBirthDateShape(f.birth_date)) e.birth_date = msg("birthDate", lang);
  if (!blank(f.phone) && !/^\+?\d{9,12}$/.test(digitsOnly(f.phone))) e.phone = msg("phone", lang);
  const id = f.id_number.trim();
  if (f.id_kind !== "none" && id !== "") {
    if ((f.id_kind === "cccd" || f.id_kind === "cmnd") && !/^\d{9}$|^\d{12}$/.test(digitsOnly(id))) e.id_number = msg("idNumber", lang);
    if (f.id_kind === "passport" && !/^[A-Za-z0-9]{6,12}$/.test(id)) e.id_number = msg("passport", lang);
  }
  return e;
}

export interface DoseForm {
  vaccine: string;
  lot: string;
  dose_number: string;
  given_at: string;
  /** Given elsewhere: history needs where and when; the lot may be unknown. */
  elsewhere?: boolean;
  place?: string;
  /** A routine product: the station numbers the dose by its series. */
  routine?: boolean;
}

/** What is missing or mis-shaped in the record-a-dose form. */
export function checkDoseForm(f: DoseForm, lang: Lang): FieldErrors {
  const e: FieldErrors = {};
  if (blank(f.vaccine)) e.vaccine = msg("required", lang);
  if (blank(f.lot) && !f.elsewhere) e.lot = msg("required", lang);
  const n = Number(f.dose_number);
  if (!f.routine && (!Number.isInteger(n) || n < 1 || n > LIMITS.dose_number_max)) e.dose_number = msg("doseNumber", lang);
  if (!blank(f.given_at) && !/^\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}$/.test(f.given_at.trim())) e.given_at = msg("givenAt", lang);
  if (f.elsewhere && blank(f.given_at)) e.given_at = msg("required", lang);
  if (f.elsewhere && blank(f.place ?? "")) e.place = msg("required", lang);
  return e;
}

/** A void needs a reason a reader can act on. */
export function checkVoidReason(reason: string, lang: Lang): FieldErrors {
  // Counted in code points as the station counts them (not UTF-16 units).
  return [...reason.trim()].length < LIMITS.void_reason_min ? { reason: msg("reason", lang) } : {};
}

/** A one-time code: 6 digits. */
export function checkOtp(otp: string, lang: Lang): FieldErrors {
  return /^\d{6}$/.test(otp.trim()) ? {} : { otp: msg("otp", lang) };
}

/** The new password typed twice the same (the policy itself is checked by the station). */
export function checkNewPassword(password: string, confirm: string, lang: Lang): FieldErrors {
  if (blank(password)) return { new_password: msg("required", lang) };
  return password === confirm ? {} : { confirm: msg("passwordMatch", lang) };
}

/** The first-run form. */
export function checkSetup(url: string, token: string, lang: Lang): FieldErrors {
  const e: FieldErrors = {};
  if (!/^https?:\/\/\S+$/.test(url.trim())) e.server_url = msg("url", lang);
  if (blank(token)) e.device_token = msg("required", lang);
  return e;
}

/** The recovery passphrase form: long enough, typed twice alike. */
export function checkRecoveryPassphrase(passphrase: string, confirm: string, lang: Lang): FieldErrors {
  const e: FieldErrors = {};
  if ([...passphrase.trim()].length < LIMITS.recovery_passphrase_min) e.passphrase = msg("recoveryPassphrase", lang);
  else if (passphrase !== confirm) e.confirm = msg("passphraseMismatch", lang);
  return e;
}

/** The restore form: the backup file and its passphrase, and what a setup needs. */
export function checkRestore(file: string, passphrase: string, url: string, token: string, lang: Lang): FieldErrors {
  const e = checkSetup(url, token, lang);
  if (blank(file)) e.backup_file = msg("required", lang);
  if (blank(passphrase)) e.passphrase = msg("required", lang);
  return e;
}

/** What the second search field holds: a phone (10–11 digits, or +84) or an ID number. */
export function classifySearchTerm(text: string): { phone: string | null; id_number: string | null } {
  const t = text.trim();
  const d = digitsOnly(t);
  if (/^\+84\d{9,10}$/.test(d) || /^0\d{9,10}$/.test(d)) return { phone: d, id_number: null };
  return { phone: null, id_number: t === "" ? null : d.length === t.replace(/\s/g, "").length ? d : t };
}

/** A search needs a name and a phone or ID number: never one field alone. */
export function checkSearch(name: string, other: string, lang: Lang): FieldErrors {
  const e: FieldErrors = {};
  if (blank(name)) e.full_name = msg("searchName", lang);
  if (blank(other)) e.other = msg("searchOther", lang);
  return e;
}
