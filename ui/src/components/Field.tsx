import type { ComponentChildren, Ref } from "preact";

interface Props {
  id: string;
  label: string;
  value: string;
  onInput: (v: string) => void;
  error?: string;
  hint?: string;
  type?: string;
  placeholder?: string;
  autoFocus?: boolean;
  autoComplete?: string;
  inputMode?: "text" | "numeric" | "tel";
  inputRef?: Ref<HTMLInputElement>;
  required?: boolean;
  disabled?: boolean;
}

/** The label above a control and its error (announced to screen readers) or hint below. */
function Frame(p: { id: string; label: string; required?: boolean; error?: string; hint?: string; children: ComponentChildren }) {
  return (
    <div class={`field${p.error ? " field-error" : ""}`}>
      <label for={p.id}>
        {p.label}
        {p.required ? <span class="required" aria-hidden="true"> *</span> : null}
      </label>
      {p.children}
      {p.error ? (
        <div class="error-text" id={`${p.id}-error`} role="alert">
          {p.error}
        </div>
      ) : p.hint ? (
        <div class="hint" id={`${p.id}-hint`}>
          {p.hint}
        </div>
      ) : null}
    </div>
  );
}

/** A labelled text input with its error under it. */
export function Field(p: Props) {
  const describedBy = p.error ? `${p.id}-error` : p.hint ? `${p.id}-hint` : undefined;
  return (
    <Frame id={p.id} label={p.label} required={p.required} error={p.error} hint={p.hint}>
      <input
        id={p.id}
        data-testid={p.id}
        type={p.type ?? "text"}
        value={p.value}
        placeholder={p.placeholder}
        autoFocus={p.autoFocus}
        autoComplete={p.autoComplete ?? "off"}
        inputMode={p.inputMode}
        ref={p.inputRef}
        disabled={p.disabled}
        aria-invalid={p.error ? true : undefined}
        aria-describedby={describedBy}
        onInput={(e) => p.onInput((e.currentTarget as HTMLInputElement).value)}
      />
    </Frame>
  );
}

interface SelectProps {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
  error?: string;
  required?: boolean;
  selectRef?: Ref<HTMLSelectElement>;
}

/** A labelled select with its error. */
export function Select(p: SelectProps) {
  return (
    <Frame id={p.id} label={p.label} required={p.required} error={p.error}>
      <select
        id={p.id}
        data-testid={p.id}
        value={p.value}
        ref={p.selectRef}
        aria-invalid={p.error ? true : undefined}
        onChange={(e) => p.onChange((e.currentTarget as HTMLSelectElement).value)}
      >
        {p.options.map((o) => (
          <option value={o.value} key={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Frame>
  );
}
