// The complaints screen's shared state: the inbox, the opened complaint with its people and photos, the nurse's draft reply.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../../api";
import type { ComplaintFilter } from "../../bindings/ComplaintFilter";
import type { ComplaintSummary } from "../../bindings/ComplaintSummary";
import type { ComplaintView } from "../../bindings/ComplaintView";
import type { FacilityChoice } from "../../bindings/FacilityChoice";
import type { PersonSummary } from "../../bindings/PersonSummary";
import type { UiError } from "../../bindings/UiError";

/** What the nurse typed for one complaint, kept while she goes to the record and back. */
export type Draft = { outcome: "resolved" | "rejected"; answer: string; forwardTo: string; reason: string };
const EMPTY_DRAFT: Draft = { outcome: "resolved", answer: "", forwardTo: "", reason: "" };
const drafts = new Map<string, Draft>();

/** Runs an action on the opened complaint; whether it succeeded. */
export type Act = (work: () => Promise<ComplaintView>) => Promise<boolean>;

/** The state the inbox, the opened complaint and its reply forms share, and what they do with it. */
export function useComplaints(openId: string | null, refreshKey: number) {
  const [filter, setFilter] = useState<ComplaintFilter>("open");
  const [inbox, setInbox] = useState<ComplaintSummary[] | null>(null);
  const [view, setView] = useState<ComplaintView | null>(null);
  const [matches, setMatches] = useState<PersonSummary[]>([]);
  const [photos, setPhotos] = useState<string[]>([]);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [draft, setDraftState] = useState<Draft>(EMPTY_DRAFT);
  const [reopen, setReopen] = useState(0);
  const [destinations, setDestinations] = useState<FacilityChoice[] | null>(null);
  const [destSearch, setDestSearch] = useState("");
  const current = useRef(openId);
  current.current = openId;
  const viewRef = useRef(view);
  viewRef.current = view;

  function setDraft(change: Partial<Draft>) {
    setDraftState((d) => {
      const next = { ...d, ...change };
      if (current.current) drafts.set(current.current, next);
      return next;
    });
  }

  /** The complaint was answered or forwarded: what was typed for it is done with. */
  function clearDraft(id: string) {
    drafts.delete(id);
    setDraftState(EMPTY_DRAFT);
  }

  async function loadInbox() {
    try {
      const rows = await api.complaints(filter);
      setInbox(rows);
      return rows;
    } catch (e) {
      setError(e as UiError);
      return null;
    }
  }

  // A sync may have changed the opened complaint (answered elsewhere, forwarded): it is opened
  // again only then, not at every refresh (each opening is a line of the audit log).
  useEffect(() => {
    void loadInbox().then((rows) => {
      const row = rows?.find((r) => r.id === current.current);
      const shown = viewRef.current;
      if (shown && row && row.state !== shown.summary.state) setReopen((n) => n + 1);
    });
  }, [filter, refreshKey]);

  useEffect(() => {
    setPhotos([]);
    setMatches([]);
    setView(null);
    setDraftState((openId && drafts.get(openId)) || EMPTY_DRAFT);
    if (!openId) return;
    let stale = false;
    (async () => {
      try {
        const v = await api.openComplaint(openId);
        if (stale) return;
        setView(v);
        setMatches(v.linked_person ? [] : await api.complaintMatches(openId));
      } catch (e) {
        if (!stale) setError(e as UiError);
      }
    })();
    return () => {
      stale = true;
    };
  }, [openId, reopen]);

  // Where a complaint can go: asked of the server once the screen has a complaint open (the
  // station keeps the last list for when it is offline).
  useEffect(() => {
    if (openId && destinations === null) {
      api.complaintDestinations().then(setDestinations, () => setDestinations([]));
    }
  }, [openId]);

  const act: Act = async (work) => {
    setBusy(true);
    setError(null);
    try {
      const v = await work();
      if (v.record.id === current.current) {
        setView(v);
        setMatches(v.linked_person ? [] : await api.complaintMatches(v.record.id));
      }
      await loadInbox();
      return true;
    } catch (e) {
      setError(e as UiError);
      return false;
    } finally {
      setBusy(false);
    }
  };

  async function loadPhotos() {
    if (!view) return;
    const id = view.record.id;
    setError(null);
    try {
      const out: string[] = [];
      for (let n = 0; n < view.record.photos; n++) out.push(await api.complaintPhoto(id, n));
      // Another complaint opened meanwhile: these are not its photos.
      if (current.current === id) setPhotos(out);
    } catch (e) {
      setError(e as UiError);
    }
  }

  return {
    filter,
    setFilter,
    inbox,
    view,
    matches,
    photos,
    error,
    setError,
    busy,
    draft,
    setDraft,
    clearDraft,
    destinations,
    destSearch,
    setDestSearch,
    act,
    loadPhotos,
  };
}
