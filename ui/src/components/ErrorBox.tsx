import type { UiError } from "../bindings/UiError";

/** An error in plain Vietnamese, with what to do next (the station's message says it). */
export function ErrorBox({ error, onClose }: { error: UiError | null; onClose?: () => void }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert" data-testid="error-box" data-code={error.code}>
      <div class="error-message">{error.message}</div>
      {error.fields.length > 1 ? (
        <ul>
          {error.fields.map((f) => (
            <li key={f.field}>{f.message}</li>
          ))}
        </ul>
      ) : null}
      {onClose ? (
        <button type="button" class="link" onClick={onClose}>
          ✕
        </button>
      ) : null}
    </div>
  );
}

/** The field errors of a UiError, by field name, for the form to show next to each input. */
export function fieldErrors(error: UiError | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of error?.fields ?? []) out[f.field] = f.message;
  return out;
}
