// A tiny observable value, so that a language switch re-renders the whole app.

export interface Signal<T> {
  get(): T;
  set(v: T): void;
  subscribe(f: () => void): () => void;
}

export function signal<T>(initial: T): Signal<T> {
  let value = initial;
  const subscribers = new Set<() => void>();
  return {
    get: () => value,
    set(v: T) {
      value = v;
      subscribers.forEach((f) => f());
    },
    subscribe(f) {
      subscribers.add(f);
      return () => subscribers.delete(f);
    },
  };
}
