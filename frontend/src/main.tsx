import { QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import App from "./App";
import { queryClient } from "./api/query";
import { prefetchOnLinkClicks } from "./api/routeData";
import "./styles.css";
import { applyTheme, storedTheme } from "./ui/theme";

applyTheme(storedTheme());
prefetchOnLinkClicks(queryClient);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
