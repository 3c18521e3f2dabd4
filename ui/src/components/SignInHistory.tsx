import type { SignInEvent } from "../bindings/SignInEvent";
import { formatDateTime } from "../format";
import { t, type TextKey } from "../i18n";

const OUTCOMES: Record<string, TextKey> = {
  success: "outcomeSuccess",
  failure: "outcomeFailure",
  enrollment_started: "outcomeEnrollmentStarted",
  otp_enrolled: "outcomeEnrolled",
  password_change_required: "outcomePasswordChangeRequired",
  password_changed: "outcomePasswordChanged",
  sign_out: "outcomeSignOut",
};

/** A list of sign-ins: when, online or on the laptop alone, what happened, from which device. */
export function SignInHistory({ events, testId }: { events: SignInEvent[]; testId: string }) {
  if (events.length === 0) return <p class="muted" data-testid={`${testId}-empty`}>{t("noSignIns")}</p>;
  return (
    <table class="list" data-testid={testId}>
      <thead>
        <tr>
          <th>{t("signInAt")}</th>
          <th>{t("signInWhere")}</th>
          <th>{t("signInOutcome")}</th>
          <th>{t("signInDevice")}</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e, i) => (
          <tr key={`${e.at}-${i}`} data-testid={`${testId}-row`} class={e.outcome === "failure" ? "warn" : ""}>
            <td>{formatDateTime(e.at)}</td>
            <td>{t(e.online ? "signInOnline" : "signInOffline")}</td>
            <td>
              {OUTCOMES[e.outcome] ? t(OUTCOMES[e.outcome]) : e.outcome}
              {e.detail ? <span class="muted"> ({e.detail})</span> : null}
            </td>
            <td class="muted">{e.device_id ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
