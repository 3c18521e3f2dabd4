// Dates and times as Vietnamese users read them: dd/mm/yyyy, clock at +07:00 whatever the
// laptop's time zone, no seconds.

import type { VaccineEntry } from "./bindings/VaccineEntry";

const VN_OFFSET_MINUTES = 7 * 60;

function pad(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** The wall-clock parts of an instant at +07:00. */
function vnParts(d: Date) {
  const t = new Date(d.getTime() + VN_OFFSET_MINUTES * 60_000);
  return {
    year: t.getUTCFullYear(),
    month: t.getUTCMonth() + 1,
    day: t.getUTCDate(),
    hour: t.getUTCHours(),
    minute: t.getUTCMinutes(),
  };
}

/** `dd/mm/yyyy` of an RFC 3339 time (or `yyyy-mm-dd` date), at +07:00; the text itself if unreadable. */
export function formatDate(text: string | null | undefined): string {
  if (!text) return "";
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (dateOnly) return `${dateOnly[3]}/${dateOnly[2]}/${dateOnly[1]}`;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text;
  const p = vnParts(d);
  return `${pad(p.day)}/${pad(p.month)}/${p.year}`;
}

/** `dd/mm/yyyy hh:mm` of an RFC 3339 time, at +07:00. */
export function formatDateTime(text: string | null | undefined): string {
  if (!text) return "";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text;
  const p = vnParts(d);
  return `${pad(p.day)}/${pad(p.month)}/${p.year} ${pad(p.hour)}:${pad(p.minute)}`;
}

/** A birth date as stored (`yyyy-mm-dd` or `yyyy`) for reading: `dd/mm/yyyy` or `yyyy`. */
export function formatBirthDate(text: string): string {
  return /^\d{4}$/.test(text) ? text : formatDate(text);
}

/** Today's date at +07:00 as `yyyy-mm-dd` (the report's day). */
export function todayIso(now: Date = new Date()): string {
  const p = vnParts(now);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** The day before or after a `yyyy-mm-dd` date. */
export function shiftDay(iso: string, days: number): string {
  const [y, m, d] = iso.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

/** A stored phone (`0912345678`) grouped for reading: `0912 345 678`. */
export function formatPhone(phone: string | null | undefined): string {
  if (!phone) return "";
  const p = phone.replace(/\s+/g, "");
  if (/^0\d{9}$/.test(p)) return `${p.slice(0, 4)} ${p.slice(4, 7)} ${p.slice(7)}`;
  return p;
}

/** A count with Vietnamese thousands separators: 12.345. */
export function formatCount(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ".");
}

/** How long ago an instant was, in words ("5 phút trước"), for the sync bar. */
export function ago(text: string | null | undefined, now: Date, lang: "vi" | "en"): string {
  if (!text) return lang === "vi" ? "chưa bao giờ" : "never";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text;
  const minutes = Math.max(0, Math.floor((now.getTime() - d.getTime()) / 60_000));
  if (minutes < 1) return lang === "vi" ? "vừa xong" : "just now";
  if (minutes < 60) return lang === "vi" ? `${minutes} phút trước` : `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return lang === "vi" ? `${hours} giờ trước` : `${hours} h ago`;
  return formatDateTime(text);
}

/** A vaccine's name from its code. */
export function vaccineName(catalogue: VaccineEntry[], code: string): string {
  return catalogue.find((v) => v.code === code)?.name ?? code;
}

/** Text folded for matching as people type it: lower case, no diacritics, đ as d. */
export function foldText(text: string): string {
  return text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/đ/g, "d")
    .replace(/Đ/g, "d")
    .toLowerCase()
    .trim();
}
