import { lazy, Suspense, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { logout } from "./api/allauth";
import { queryClient } from "./api/query";
import { prefetchHome } from "./pages/home-data";
import { config, isPublicHost } from "./config";
import { AppLayout } from "./layout/AppLayout";
import { LoginPage, PasswordResetKeyPage, PasswordResetPage, AuthShell, VerifyEmailPage } from "./pages/auth";
import { InvitationAcceptPage, LandingPage, SignupPage } from "./pages/public";
import { SessionProvider, useSession } from "./session";
import { ErrorMessage, Loading } from "./ui";
import { ToastProvider } from "./ui/toast";
import { AssistantsPage, AssistantEditPage } from "./pages/assistants";
import { ChatPage } from "./pages/chat";
import { CollectionPage, KnowledgePage, SearchPage } from "./pages/knowledge";
import { MembersPage } from "./pages/members";
import { HistoryPage } from "./conversations/HistoryPage";
import { ImportPage } from "./conversations/ImportPage";
import { ApiKeysPage } from "./pages/apikeys";
import { IntegrationsPage } from "./pages/integrations";
import { WebhooksPage } from "./pages/webhooks";
import { WidgetsPage } from "./pages/widgets";
import { CredentialsPage } from "./pages/credentials";
import { AuditPage } from "./pages/audit";
import { FeedbackPage } from "./pages/feedback";
import { BillingPage } from "./pages/billing";
import { SecurityPage } from "./pages/security";
import { PromptEditPage, PromptsPage } from "./pages/prompts";
import { WorkflowEditPage, WorkflowsPage } from "./pages/workflows";

// The chart library is the heaviest dependency: only the home page loads it.
// Its requests start with the chunk's download, not after it (pages/home-data.ts).
const loadHome = () => import("./pages/home");
const HomePage = lazy(() => {
  prefetchHome(queryClient, config.me?.role === "admin");
  return loadHome();
});
// A member who arrived on another page (a chat link, a bookmark) would otherwise fetch,
// parse and compile the chunk (~110 KiB gzipped) only when they first open home: load it
// once the browser is idle after the first page, so that click renders at once.
if (!isPublicHost && config.user.member) {
  const idle = window.requestIdleCallback ?? ((callback: () => void) => window.setTimeout(callback, 1500));
  window.addEventListener("load", () => idle(() => void loadHome().catch(() => undefined)), { once: true });
}

// The evaluation page draws its figures with the same chart library: its own chunk.
const EvaluationPage = lazy(() => import("./pages/evaluation"));

function NotFound() {
  return (
    <div className="empty">
      <h1>Page not found</h1>
      <p className="muted" style={{ marginTop: 8 }}>
        There is nothing at this address. <a href="/">Go home</a>.
      </p>
    </div>
  );
}

/** Member-only pages: anonymous visitors go to the login page, outsiders are told. */
function RequireMember({ children }: { children: ReactNode }) {
  const { state, clear } = useSession();
  const location = useLocation();
  if (state.status === "loading") return <Loading />;
  if (state.status === "anonymous") {
    const next = location.pathname + location.search;
    return <Navigate to={next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`} replace />;
  }
  if (state.status === "outsider") {
    return (
      <AuthShell title="Not a member" lead={`Your account is not a member of ${config.organization?.name ?? "this organization"}.`}>
        <div className="stack">
          <p className="muted">Ask one of its admins for an invitation, or log in with another account.</p>
          <button
            type="button"
            className="btn btn-primary btn-block"
            onClick={async () => {
              await logout().catch(() => undefined);
              clear();
            }}
          >
            Log out
          </button>
        </div>
      </AuthShell>
    );
  }
  if (state.status === "error") {
    return (
      <div className="content">
        <ErrorMessage error={state.error} />
      </div>
    );
  }
  // The organization requires two-factor authentication and this person has none: the
  // API refuses everything else (403 two_factor_required) until it is set up.
  if (state.me.two_factor_setup_required && location.pathname !== "/security") return <Navigate to="/security" replace />;
  return <>{children}</>;
}

function PublicRoutes() {
  return (
    <Routes>
      <Route path="/" element={<LandingPage />} />
      <Route path="/signup" element={<SignupPage />} />
      <Route path="/login" element={<LoginPage />} />
      <Route path="/password/reset" element={<PasswordResetPage />} />
      <Route path="/password/reset/key/:resetKey" element={<PasswordResetKeyPage />} />
      <Route path="/verify-email/:verifyKey" element={<VerifyEmailPage />} />
      <Route path="*" element={<NotFound />} />
    </Routes>
  );
}

function OrganizationRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/password/reset" element={<PasswordResetPage />} />
      <Route path="/password/reset/key/:resetKey" element={<PasswordResetKeyPage />} />
      <Route path="/invitations/accept" element={<InvitationAcceptPage />} />
      <Route path="/verify-email/:verifyKey" element={<VerifyEmailPage />} />
      <Route
        element={
          <RequireMember>
            <AppLayout fullWidth />
          </RequireMember>
        }
      >
        <Route path="/chat" element={<ChatPage />} />
        <Route path="/chat/:sessionId" element={<ChatPage />} />
      </Route>
      <Route
        element={
          <RequireMember>
            <AppLayout />
          </RequireMember>
        }
      >
        <Route
          path="/"
          element={
            <Suspense fallback={<Loading />}>
              <HomePage />
            </Suspense>
          }
        />
        <Route path="/assistants" element={<AssistantsPage />} />
        <Route path="/assistants/new" element={<AssistantEditPage />} />
        <Route path="/assistants/:assistantId" element={<AssistantEditPage />} />
        <Route path="/knowledge" element={<KnowledgePage />} />
        <Route path="/knowledge/:collectionId" element={<CollectionPage />} />
        <Route
          path="/knowledge/:collectionId/evaluation"
          element={
            <Suspense fallback={<Loading />}>
              <EvaluationPage />
            </Suspense>
          }
        />
        <Route path="/search" element={<SearchPage />} />
        <Route path="/history" element={<HistoryPage />} />
        <Route path="/import" element={<ImportPage />} />
        <Route path="/members" element={<MembersPage />} />
        <Route path="/api-keys" element={<ApiKeysPage />} />
        <Route path="/integrations" element={<IntegrationsPage />} />
        <Route path="/webhooks" element={<WebhooksPage />} />
        <Route path="/widgets" element={<WidgetsPage />} />
        <Route path="/credentials" element={<CredentialsPage />} />
        <Route path="/audit" element={<AuditPage />} />
        <Route path="/feedback" element={<FeedbackPage />} />
        <Route path="/billing" element={<BillingPage />} />
        <Route path="/security" element={<SecurityPage />} />
        <Route path="/prompts" element={<PromptsPage />} />
        <Route path="/prompts/:templateId" element={<PromptEditPage />} />
        <Route path="/workflows" element={<WorkflowsPage />} />
        <Route path="/workflows/:workflowId" element={<WorkflowEditPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

export default function App() {
  return (
    <BrowserRouter>
      <ToastProvider>
        <SessionProvider>{isPublicHost ? <PublicRoutes /> : <OrganizationRoutes />}</SessionProvider>
      </ToastProvider>
    </BrowserRouter>
  );
}
