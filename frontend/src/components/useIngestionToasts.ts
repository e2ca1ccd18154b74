// A toast when a document the page watched being ingested becomes ready (or fails):
// the upload list only says "uploaded"; this says when it can be searched.
import { useEffect, useRef } from "react";
import type { DocumentItem } from "../api/types";
import { useToast } from "../ui/toast";

const ACTIVE = new Set(["pending", "processing"]);

export function useIngestionToasts(documents: DocumentItem[] | undefined) {
  const toast = useToast();
  const seen = useRef(new Map<string, string>());
  useEffect(() => {
    if (!documents) return;
    for (const document of documents) {
      const status = document.status ?? "";
      const before = seen.current.get(document.id);
      if (before && ACTIVE.has(before) && !ACTIVE.has(status)) {
        if (document.status === "completed") toast(`“${document.title}” is ready: assistants can answer from it.`);
        else if (document.status === "failed")
          toast(`“${document.title}” could not be read${document.error ? `: ${document.error}` : "."}`, "error");
      }
      seen.current.set(document.id, status);
    }
  }, [documents, toast]);
}
