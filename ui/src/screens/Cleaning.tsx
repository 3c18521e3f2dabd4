import { useState } from "preact/hooks";
import { t } from "../i18n";
import { Duplicates } from "./cleaning/Duplicates";
import { Import } from "./cleaning/Import";
import { Lists } from "./cleaning/Lists";

type Tab = "lists" | "import" | "duplicates";

/** The data-cleaning loop: lists to correct and export, the corrected list back, duplicates. */
export function Cleaning({ changed, refreshKey, openPerson }: { changed: () => void; refreshKey: number; openPerson: (id: string) => void }) {
  const [tab, setTab] = useState<Tab>("lists");
  return (
    <main class="cleaning" data-testid="cleaning">
      <div class="tabs" role="tablist">
        {(["lists", "import", "duplicates"] as Tab[]).map((k) => (
          <button type="button" role="tab" key={k} aria-selected={tab === k} class={tab === k ? "current" : ""} data-testid={`tab-${k}`} onClick={() => setTab(k)}>
            {t(k === "lists" ? "tabLists" : k === "import" ? "tabImport" : "tabDuplicates")}
          </button>
        ))}
      </div>
      {tab === "lists" ? <Lists refreshKey={refreshKey} openPerson={openPerson} /> : tab === "import" ? <Import changed={changed} /> : <Duplicates changed={changed} refreshKey={refreshKey} />}
    </main>
  );
}
