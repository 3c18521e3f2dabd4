import { describe, expect, it } from "vitest";
import { ago, foldText, formatBirthDate, formatCount, formatDate, formatDateTime, formatPhone, shiftDay, todayIso } from "./format";

describe("dates at +07:00", () => {
  it("shows a time stored in any offset as the Vietnamese calendar day", () => {
    // 18:30 UTC on the 19th is 01:30 on the 20th in Vietnam.
    expect(formatDate("2026-11-19T18:30:00Z")).toBe("20/11/2026");
    expect(formatDateTime("2026-11-19T18:30:00Z")).toBe("20/11/2026 01:30");
    expect(formatDateTime("2026-11-20T09:05:00+07:00")).toBe("20/11/2026 09:05");
  });

  it("reads stored dates and years of birth", () => {
    expect(formatDate("1990-05-17")).toBe("17/05/1990");
    expect(formatBirthDate("1990-05-17")).toBe("17/05/1990");
    expect(formatBirthDate("1962")).toBe("1962");
    expect(formatDate("")).toBe("");
    expect(formatDate("không phải ngày")).toBe("không phải ngày");
  });

  it("takes today at +07:00 even when UTC is still yesterday", () => {
    expect(todayIso(new Date("2026-11-22T17:30:00Z"))).toBe("2026-11-23");
    expect(todayIso(new Date("2026-11-22T16:59:00Z"))).toBe("2026-11-22");
  });

  it("moves a report's day across month and year ends", () => {
    expect(shiftDay("2026-12-31", 1)).toBe("2027-01-01");
    expect(shiftDay("2024-03-01", -1)).toBe("2024-02-29");
  });

  it("says how long ago the last sync was", () => {
    const now = new Date("2026-11-23T10:00:00+07:00");
    expect(ago(null, now, "vi")).toBe("chưa bao giờ");
    expect(ago("2026-11-23T09:59:40+07:00", now, "vi")).toBe("vừa xong");
    expect(ago("2026-11-23T09:45:00+07:00", now, "vi")).toBe("15 phút trước");
    expect(ago("2026-11-23T07:00:00+07:00", now, "en")).toBe("3 h ago");
    expect(ago("2026-11-20T07:00:00+07:00", now, "vi")).toBe("20/11/2026 07:00");
  });
});

describe("numbers", () => {
  it("groups phones and counts the Vietnamese way", () => {
    expect(formatPhone("0912345678")).toBe("0912 345 678");
    expect(formatPhone(null)).toBe("");
    expect(formatCount(12345)).toBe("12.345");
    expect(formatCount(999)).toBe("999");
  });
});

describe("folding for search", () => {
  it("finds a facility typed without diacritics or with đ as d", () => {
    expect(foldText("Trạm Y tế xã Đức Hòa")).toBe("tram y te xa duc hoa");
    expect(foldText("  TYT-TANTUC ")).toBe("tyt-tantuc");
    expect(foldText("Tân Túc").includes(foldText("tan tuc"))).toBe(true);
  });
});
