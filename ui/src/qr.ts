// A CCCD QR code read by a keyboard-wedge scanner arrives as typed text in whatever field has
// the focus: `id|old id|name|ddmmyyyy|gender|address|ddmmyyyy` (or six fields without the old
// id). These helpers find it in a field's text so the app can act on the scan and give the
// field back its own text. Reading the fields is the station's job.

const QR7 = /(\d{12})\|([^|]*)\|([^|]+)\|(\d{8})\|([^|]+)\|([^|]*)\|(\d{8})/;
const QR6_START = /\d{12}\|[^|]+\|\d{8}\|[^|]+\|/;

/**
 * A complete 7-field CCCD QR text inside `text`, with the text around it. Fields a newer card
 * adds after the seventh (or a trailing separator) belong to the code: up to the end of the text.
 */
export function findCompleteQr(text: string): { qr: string; rest: string } | null {
  const m = QR7.exec(text);
  if (!m) return null;
  let end = m.index + m[0].length;
  if (text[end] === "|") end = text.length;
  return { qr: text.slice(m.index, end), rest: (text.slice(0, m.index) + text.slice(end)).trim() };
}

/** On Enter: a 7-field QR, or a 6-field one (its last field, the address, ends at Enter). */
export function findQrAtEnter(text: string): { qr: string; rest: string } | null {
  const complete = findCompleteQr(text);
  if (complete) return complete;
  const m = QR6_START.exec(text);
  if (!m) return null;
  const qr = text.slice(m.index).trim();
  // Six fields, or more when a newer card adds some after the address.
  if (qr.split("|").length < 6) return null;
  return { qr, rest: text.slice(0, m.index).trim() };
}
