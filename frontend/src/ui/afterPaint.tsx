// Heavy drawings (charts) after the page's first paint: a page switch then paints its
// heading, figures and tables in the click's task, and the SVG is drawn in a later task
// instead of holding that first frame back.
import { type ReactNode, useEffect, useState } from "react";

/** False on the first render, true once the browser has painted that render. */
export function useAfterPaint(): boolean {
  const [painted, setPainted] = useState(false);
  useEffect(() => {
    let timer = 0;
    // The frame callback runs before that frame's paint; the timer after it.
    const frame = window.requestAnimationFrame(() => {
      timer = window.setTimeout(() => setPainted(true), 0);
    });
    return () => {
      window.cancelAnimationFrame(frame);
      window.clearTimeout(timer);
    };
  }, []);
  return painted;
}

/** A box of the drawing's size (no layout shift) that draws its children after paint. */
export function AfterPaint({ height, testId, children }: { height: number; testId?: string; children: ReactNode }) {
  const painted = useAfterPaint();
  return (
    <div style={{ width: "100%", height }} data-testid={testId} aria-busy={!painted}>
      {painted ? children : null}
    </div>
  );
}
