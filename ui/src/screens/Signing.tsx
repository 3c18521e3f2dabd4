import type { VaccineEntry } from "../bindings/VaccineEntry";
import { ErrorBox } from "../components/ErrorBox";
import { PreviewForm } from "./signing/PreviewForm";
import { RunHistory, SignedSummary } from "./signing/Runs";
import { SelectionForm } from "./signing/SelectionForm";
import { TokenStep } from "./signing/TokenStep";
import { useSigning } from "./signing/useSigning";

/** The head of a facility signs the selected doses with the USB token: one PIN for the whole
 * selection, one token signature per run of at most 1,000 people / 3,000 doses. */
export function Signing({ catalogue, changed, refreshKey }: { catalogue: VaccineEntry[]; changed: () => void; refreshKey: number }) {
  const s = useSigning(changed, refreshKey);
  return (
    <main class="report" data-testid="signing">
      <TokenStep choice={s.choice} setChoice={s.setChoice} busy={s.busy} setBusy={s.setBusy} errors={s.errors} setErrors={s.setErrors} setError={s.setError} />
      <SelectionForm fields={s.fields} setFields={s.setFields} errors={s.errors} onSubmit={s.showPreview} />
      <ErrorBox error={s.error} />
      {s.preview ? (
        <PreviewForm
          preview={s.preview}
          catalogue={catalogue}
          page={s.page}
          setPage={s.setPage}
          setTicked={s.setTicked}
          pin={s.pin}
          setPin={s.setPin}
          pinError={s.errors.pin}
          busy={s.busy}
          chosen={!!s.choice}
          progress={s.progress}
          onSubmit={s.sign}
        />
      ) : null}
      {s.done ? <SignedSummary done={s.done} /> : null}
      <RunHistory runs={s.runs} />
    </main>
  );
}
