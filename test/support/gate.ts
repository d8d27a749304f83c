/**
 * A gate a test opens: `wait()` blocks until `open()` is called, and `reached` resolves when the
 * code under test first arrives at it. Tests hold a dependency (an upload, an invoke, a commit)
 * at a known point instead of sleeping and hoping the timing works out.
 */
export function gate() {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const arrived = new Promise<void>((resolve) => {
    reached = resolve;
  });
  return {
    open,
    reached: arrived,
    wait: async () => {
      reached();
      await opened;
    },
  };
}
