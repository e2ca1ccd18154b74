import type { components, operations } from "./schema";

type S = components["schemas"];

export type Me = S["MeOutput"];
export type Role = S["RoleEnum"];
export type Assistant = S["AssistantOutput"];
export type AssistantInput = S["AssistantInputRequest"];
export type AssistantTestReply = S["AssistantTestReply"];
export type AIModel = S["AIModel"];
export type Collection = S["CollectionOutput"];
export type DocumentItem = S["DocumentOutput"];
export type DocumentStatus = S["DocumentOutputStatusEnum"];
export type UploadResponse = S["UploadResponse"];
export type SitemapItem = S["SitemapOutput"];
export type FetchStatus = S["FetchStatusEnum"];
export type Hit = S["Hit"];
export type Chunk = S["ChunkOutput"];
export type SearchMode = S["ModeEnum"];
export type Session = S["SessionOutput"];
export type Message = S["MessageOutput"];
export type Source = S["Source"];
export type Member = S["MembershipOutput"];
export type Invitation = S["InvitationOutput"];
export type Credential = S["CredentialOutput"];
export type CredentialProvider = S["CredentialProviderEnum"];
export type Reranker = S["RerankerOutput"];
export type RerankerFormat = S["ApiFormatEnum"];
export type RerankOutcome = S["RerankOutcome"];
export type RetrievalMode = S["RetrievalModeEnum"];

export interface Page<T> {
  count: number;
  next?: string | null;
  previous?: string | null;
  results: T[];
}

export type ApiKey = S["APIKeyOutput"];
export type ApiKeyCreated = S["APIKeyCreated"];
export type ApiKeyScope = S["ScopesEnum"];
export const API_KEY_SCOPES: ApiKeyScope[] = [
  "chat:write",
  "sessions:read",
  "assistants:read",
  "assistants:write",
  "knowledge:read",
  "knowledge:write",
  "usage:read",
  "admin",
];
export type UsageReport = S["UsageReport"];
export type UsageGroupBy = NonNullable<NonNullable<operations["usage_retrieve"]["parameters"]["query"]>["group_by"]>;
export type Quotas = S["Quotas"];
export type AuditEvent = S["AuditEventOutput"];
export type AuditAction = S["ActionEnum"];
export type Integration = S["IntegrationOutput"];
export type IntegrationEvent = S["IntegrationEvent"];
export type EvaluationQuestion = S["EvaluationQuestionOutput"];
export type EvaluationRun = S["EvaluationRunOutput"];
export type EvaluationResult = S["EvaluationResultOutput"];
