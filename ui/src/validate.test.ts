import { LIMITS } from "./bindings/currentLimits";
import { describe, expect, it } from "vitest";
import {
  checkDoseForm,
  checkNewPassword,
  checkOtp,
  checkPersonForm,
  checkSearch,
  checkRecoveryPassphrase,
  checkRestore,
  checkSetup,
  checkVoidReason,
  classifySearchTerm,
  isBirthDateShape,
} from "./validate";
import { findCompleteQr, findQrAtEnter } from "./qr";

const person = {
  full_name: "Nguyễn Thị Mai",
  gender: "nu",
  birth_date: "17/05/1990",
  id_kind: "cccd",
  id_number: "079190123456",
  phone: "0912 345 678",
};

describe("the registration form", () => {
  it("accepts a complete Vietnamese record", () => {
    expect(checkPersonForm(person, "vi")).toEqual({});
  });

  it("takes a newborn with no name yet when the mother's name is given", () => {
    const newborn = { ...person, full_name: "", id_kind: "none", id_number: "", phone: "" };
    expect(checkPersonForm(newborn, "vi").full_name).toBeDefined();
    expect(checkPersonForm({ ...newborn, caregiver_name: "Nguyễn Thị Lan" }, "vi")).toEqual({});
  });

  it("names each missing required field", () => {
    const e = checkPersonForm({ ...person, full_name: " ", gender: "", birth_date: "" }, "vi");
    expect(Object.keys(e).sort()).toEqual(["birth_date", "full_name", "gender"]);
    expect(e.full_name).toBe("Bắt buộc nhập");
  });

  it("takes a birth date as dd/mm/yyyy, ISO or the year alone, and refuses impossible days", () => {
    expect(isBirthDateShape("17/05/1990")).toBe(true);
    expect(isBirthDateShape("1/5/1990")).toBe(true);
    expect(isBirthDateShape("1990-05-17")).toBe(true);
    expect(isBirthDateShape("1962")).toBe(true);
    expect(isBirthDateShape("31/02/1990")).toBe(false);
    expect(isBirthDateShape("29/02/2023")).toBe(false);
    expect(isBirthDateShape("29/02/2024")).toBe(true);
    expect(checkPersonForm({ ...person, birth_date: "17.05.90" }, "en").birth_date).toContain("dd/mm/yyyy");
  });

  it("checks the shape of phone and ID numbers, not their meaning", () => {
    expect(checkPersonForm({ ...person, phone: "09123abc" }, "vi").phone).toBeDefined();
    expect(checkPersonForm({ ...person, id_number: "07919012345" }, "vi").id_number).toBeDefined();
    expect(checkPersonForm({ ...person, id_kind: "cmnd", id_number: "025123456" }, "vi")).toEqual({});
    expect(checkPersonForm({ ...person, id_kind: "passport", id_number: "C1234567" }, "vi")).toEqual({});
    expect(checkPersonForm({ ...person, id_kind: "none", id_number: "" }, "vi")).toEqual({});
  });
});

describe("the dose, void and account forms", () => {
  it("needs vaccine, lot and a dose number, and an optional time as dd/mm/yyyy hh:mm", () => {
    const ok = { vaccine: "EU/1/21/1529", lot: "AZ2107", dose_number: "2", given_at: "" };
    expect(checkDoseForm(ok, "vi")).toEqual({});
    expect(checkDoseForm({ ...ok, given_at: "20/11/2026 09:30" }, "vi")).toEqual({});
    expect(Object.keys(checkDoseForm({ vaccine: "", lot: "", dose_number: "0", given_at: "hôm qua" }, "vi")).sort()).toEqual([
      "dose_number",
      "given_at",
      "lot",
      "vaccine",
    ]);
  });

  it("numbers a routine dose by its series and lets a dose given elsewhere lack a lot but not where and when", () => {
    const routine = { vaccine: "bcg", lot: "BCG0324", dose_number: "tự động", given_at: "", routine: true };
    expect(checkDoseForm(routine, "vi")).toEqual({});
    const history = { vaccine: "hepb", lot: "", dose_number: "", given_at: "12/10/2026 08:00", routine: true, elsewhere: true, place: "Bệnh viện Hùng Vương" };
    expect(checkDoseForm(history, "vi")).toEqual({});
    expect(Object.keys(checkDoseForm({ ...history, given_at: "", place: " " }, "vi")).sort()).toEqual(["given_at", "place"]);
    expect(checkDoseForm({ ...history, elsewhere: false }, "vi").lot).toBeDefined();
  });

  it("wants a real reason to void a dose, as long as the station's rule says", () => {
    expect(checkVoidReason("sai", "vi").reason).toContain(String(LIMITS.void_reason_min));
    expect(checkVoidReason("Ghi nhầm người", "vi")).toEqual({});
    // The bound is the station's exactly.
    const justEnough = "x".repeat(LIMITS.void_reason_min);
    expect(checkVoidReason(justEnough, "vi")).toEqual({});
    expect(checkVoidReason(justEnough.slice(1), "vi").reason).toBeDefined();
    expect(checkDoseForm({ vaccine: "v", lot: "l", dose_number: String(LIMITS.dose_number_max + 1), given_at: "" }, "vi").dose_number).toBeDefined();
  });

  it("checks codes, repeated passwords and the setup form", () => {
    expect(checkOtp("123456", "vi")).toEqual({});
    expect(checkOtp("12345", "vi").otp).toBeDefined();
    expect(checkNewPassword("Tiem@chung2024", "Tiem@chung2025", "vi").confirm).toBeDefined();
    expect(checkNewPassword("Tiem@chung2024", "Tiem@chung2024", "vi")).toEqual({});
    expect(checkSetup("127.0.0.1:8787", "", "vi")).toHaveProperty("server_url");
    expect(checkSetup("http://127.0.0.1:8787", "stk_abc", "vi")).toEqual({});
  });
});

describe("backups", () => {
  it("asks for a recovery passphrase as long as the station requires, typed twice alike", () => {
    const short = "a".repeat(LIMITS.recovery_passphrase_min - 1);
    const enough = "Sổ khôi phục cất ở tủ hồ sơ";
    expect(checkRecoveryPassphrase(short, short, "vi")).toHaveProperty("passphrase");
    expect(checkRecoveryPassphrase(enough, enough + "x", "vi")).toHaveProperty("confirm");
    expect(checkRecoveryPassphrase(enough, enough, "vi")).toEqual({});
  });
  it("needs the backup file and its passphrase besides the server and token to restore", () => {
    const e = checkRestore(" ", "", "http://127.0.0.1:8787", "stk_abc", "vi");
    expect(Object.keys(e).sort()).toEqual(["backup_file", "passphrase"]);
  });
});

describe("search", () => {
  it("needs the name and a phone or ID", () => {
    expect(Object.keys(checkSearch("nguyen van an", "", "vi"))).toEqual(["other"]);
    expect(checkSearch("nguyen van an", "0912345678", "vi")).toEqual({});
  });

  it("tells a phone from an ID number by its shape", () => {
    expect(classifySearchTerm("0912 345 678")).toEqual({ phone: "0912345678", id_number: null });
    expect(classifySearchTerm("+84912345678")).toEqual({ phone: "+84912345678", id_number: null });
    expect(classifySearchTerm("079190123456")).toEqual({ phone: null, id_number: "079190123456" });
    expect(classifySearchTerm("025123456")).toEqual({ phone: null, id_number: "025123456" });
    expect(classifySearchTerm("C1234567")).toEqual({ phone: null, id_number: "C1234567" });
  });
});

describe("a CCCD QR code typed by a scanner", () => {
  const qr = "079190123456|025123456|Nguyễn Thị Mai|17051990|Nữ|12 Nguyễn Trãi, Xã Tân Nhựt, TP Hồ Chí Minh|01072021";

  it("is found complete in a field, and the field keeps what it had", () => {
    expect(findCompleteQr(qr)).toEqual({ qr, rest: "" });
    expect(findCompleteQr(`0912${qr}`)).toEqual({ qr, rest: "0912" });
    expect(findCompleteQr(qr.slice(0, -1))).toBeNull();
    // A newer card's extra fields and a trailing separator stay with the code.
    expect(findCompleteQr(`${qr}|A2|2031`)).toEqual({ qr: `${qr}|A2|2031`, rest: "" });
    expect(findCompleteQr(`0912${qr}|`)).toEqual({ qr: `${qr}|`, rest: "0912" });
  });

  it("in its six-field form is taken at Enter", () => {
    const six = "079190123456|Nguyễn Thị Mai|17051990|Nữ|12 Nguyễn Trãi, Tân Nhựt|01072021";
    expect(findQrAtEnter(six)?.qr).toBe(six);
    expect(findQrAtEnter(`${six}|A2`)?.qr).toBe(`${six}|A2`);
    const noIssue = "079190123456|Nguyễn Thị Mai|17051990|Nữ|12 Nguyễn Trãi";
    expect(findQrAtEnter(`Mai ${noIssue}`)).toBeNull();
    expect(findQrAtEnter("Nguyễn Thị Mai")).toBeNull();
  });
});
