// Members and invitations: roles are changed by admins; everyone sees who is here.
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { Member, Role } from "../api/types";
import { useMe, usePermissions } from "../session";
import { Badge, Empty, ErrorMessage, formatDate, Loading, PageHeader, Pager, SelectField, TextField } from "../ui";

const ROLES: Role[] = ["admin", "member", "viewer"];

function MemberRow({ member, isAdmin, self }: { member: Member; isAdmin: boolean; self: boolean }) {
  const change = useAction(
    async (role: Role) => {
      await unwrap(client.PATCH("/api/v1/members/{member_id}", { params: { path: { member_id: member.id } }, body: { role } }));
    },
    { invalidates: ["/api/v1/members"] },
  );
  const remove = useAction(
    async () => {
      if (!window.confirm(`Remove ${member.user.email} from the organization?`)) return;
      await unwrap(client.DELETE("/api/v1/members/{member_id}", { params: { path: { member_id: member.id } } }));
    },
    { invalidates: ["/api/v1/members"] },
  );
  return (
    <tr data-testid="member-row">
      <td>
        <strong>{member.user.name || member.user.email}</strong>
        {self ? (
          <span className="badge" style={{ marginLeft: 6 }}>
            you
          </span>
        ) : null}
        {member.user.name ? <div className="muted small">{member.user.email}</div> : null}
        {/* The last action's refusal (e.g. the last admin's 409), tied to the role control. */}
        <div id={`member-error-${member.id}`}>
          <ErrorMessage error={change.error ?? remove.error} />
        </div>
      </td>
      <td>
        {isAdmin ? (
          <>
            <label className="sr-only" htmlFor={`role-${member.id}`}>
              Role of {member.user.email}
            </label>
            <select
              id={`role-${member.id}`}
              className="select"
              style={{ width: 130 }}
              value={member.role}
              disabled={change.busy}
              aria-describedby={change.error || remove.error ? `member-error-${member.id}` : undefined}
              onChange={(event) => {
                remove.setError(null);
                void change.run(event.target.value as Role);
              }}
            >
              {ROLES.map((role) => (
                <option key={role} value={role}>
                  {role}
                </option>
              ))}
            </select>
          </>
        ) : (
          <Badge tone={member.role === "admin" ? "accent" : undefined}>{member.role}</Badge>
        )}
      </td>
      <td className="hide-sm muted small">{formatDate(member.created_at)}</td>
      <td className="num">
        {isAdmin ? (
          <button
            type="button"
            className="btn btn-sm btn-danger"
            disabled={remove.busy}
            onClick={() => {
              change.setError(null);
              void remove.run();
            }}
            aria-label={`Remove ${member.user.email}`}
          >
            Remove
          </button>
        ) : null}
      </td>
    </tr>
  );
}

function Invitations() {
  const invitations = $api.useQuery("get", "/api/v1/invitations", { params: { query: { page_size: 100 } } });
  const [sent, setSent] = useState("");
  const invite = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const formElement = event.currentTarget;
      const form = new FormData(formElement);
      const invitation = await unwrap(
        client.POST("/api/v1/invitations", { body: { email: String(form.get("email")), role: form.get("role") as Role } }),
      );
      setSent(invitation.email);
      formElement.reset();
    },
    { invalidates: ["/api/v1/invitations"] },
  );
  const revoke = useAction(
    async (id: string) => {
      await unwrap(client.DELETE("/api/v1/invitations/{invitation_id}", { params: { path: { invitation_id: id } } }));
    },
    { invalidates: ["/api/v1/invitations"] },
  );
  return (
    <section className="card" aria-labelledby="invitations-title">
      <div className="card-header">
        <h2 id="invitations-title">Invitations</h2>
      </div>
      <form className="card-body stack" onSubmit={invite.run} noValidate>
        <div className="row" style={{ alignItems: "flex-start" }}>
          <div className="grow">
            <TextField label="E-mail to invite" name="email" type="email" required error={invite.error} />
          </div>
          <div style={{ width: 160 }}>
            <SelectField label="Role" name="role" defaultValue="member" error={invite.error}>
              {ROLES.map((role) => (
                <option key={role} value={role}>
                  {role}
                </option>
              ))}
            </SelectField>
          </div>
          <div className="invite-submit" style={{ paddingTop: 26 }}>
            <button type="submit" className="btn btn-primary" disabled={invite.busy}>
              Send invitation
            </button>
          </div>
        </div>
        <ErrorMessage error={invite.error} />
        {sent && !invite.error ? (
          <div className="alert alert-success" role="status">
            Invitation sent to {sent}.
          </div>
        ) : null}
      </form>
      <ErrorMessage error={invitations.error ?? revoke.error} />
      {invitations.data?.results.length ? (
        <div className="table-wrap">
          <table className="table table-stack">
            <thead>
              <tr>
                <th>E-mail</th>
                <th>Role</th>
                <th>Status</th>
                <th className="hide-sm">Expires</th>
                <th className="num">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {invitations.data.results.map((invitation) => (
                <tr key={invitation.id} data-testid="invitation-row">
                  <td>{invitation.email}</td>
                  <td>{invitation.role}</td>
                  <td>
                    <Badge tone={invitation.status === "pending" ? "info" : invitation.status === "accepted" ? "success" : undefined}>
                      {invitation.status}
                    </Badge>
                  </td>
                  <td className="hide-sm muted small">{formatDate(invitation.expires_at)}</td>
                  <td className="num">
                    {invitation.status === "pending" ? (
                      <button
                        type="button"
                        className="btn btn-sm btn-danger"
                        onClick={() => void revoke.run(invitation.id)}
                        aria-label={`Revoke the invitation of ${invitation.email}`}
                      >
                        Revoke
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : invitations.data ? (
        <Empty title="No invitations" />
      ) : null}
    </section>
  );
}

export function MembersPage() {
  const me = useMe();
  const { isAdmin } = usePermissions();
  const [page, setPage] = useState(1);
  const members = $api.useQuery("get", "/api/v1/members", { params: { query: { page, page_size: 50 } } });
  return (
    <div className="stack-lg">
      <PageHeader
        title="Members"
        description={
          isAdmin ? "Who belongs to the organization, and what they may do." : "Who belongs to the organization. Admins manage roles."
        }
      />
      <section className="card" aria-label="Members">
        <ErrorMessage error={members.error} />
        {members.data ? (
          <div className="table-wrap">
            <table className="table table-stack">
              <thead>
                <tr>
                  <th>Member</th>
                  <th>Role</th>
                  <th className="hide-sm">Joined</th>
                  <th className="num">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {members.data.results.map((member) => (
                  <MemberRow key={member.id} member={member} isAdmin={isAdmin} self={member.user.id === me.user.id} />
                ))}
              </tbody>
            </table>
          </div>
        ) : members.isPending ? (
          <Loading />
        ) : null}
        {members.data ? <Pager page={page} count={members.data.count} pageSize={50} onPage={setPage} /> : null}
      </section>
      {isAdmin ? <Invitations /> : null}
      <p className="muted small">
        Roles: <strong>admin</strong> manages members, keys and credentials; <strong>member</strong> edits assistants and knowledge;{" "}
        <strong>viewer</strong> reads and chats.
      </p>
    </div>
  );
}
