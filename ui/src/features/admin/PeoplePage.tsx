import { FolderPlus, KeyRound, Pencil, Trash2, UserPlus, X } from "lucide-react";
import { useState } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Dialog } from "../../components/Dialog";
import { useAuthStore } from "../../lib/authStore";
import { Timestamp, formatTimestamp } from "../../lib/time";
import {
  useAddMember,
  useChangeUserRole,
  useCreateProject,
  useCreateUser,
  useDeleteProject,
  useDeleteUser,
  useProjects,
  useRemoveMember,
  useRenameProject,
  useResetPassword,
  useUsers,
} from "./hooks/usePeople";
import { USER_ROLES } from "./types";
import type { AdminUser, Project, UserRole } from "./types";

const ROLE_TITLES: Record<UserRole, string> = { admin: "Admin", creator: "Creator" };

/** The message of a failed request (the API's own wording for API errors). */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="form-error" role="alert">
      {messageOf(error)}
    </p>
  );
}

function CreateUserForm() {
  const create = useCreateUser();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<UserRole>("creator");
  const [password, setPassword] = useState("");
  const [created, setCreated] = useState<string | null>(null);

  return (
    <form
      className="people-form"
      aria-label="Create user"
      onSubmit={(e) => {
        e.preventDefault();
        setCreated(null);
        create.mutate(
          { email: email.trim(), role, password },
          {
            onSuccess: (user) => {
              setCreated(user.email);
              setEmail("");
              setPassword("");
            },
          },
        );
      }}
    >
      <label className="field">
        <span>Email</span>
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" required />
      </label>
      <label className="field">
        <span>Role</span>
        <select value={role} onChange={(e) => setRole(e.target.value as UserRole)}>
          {USER_ROLES.map((r) => (
            <option key={r} value={r}>
              {ROLE_TITLES[r]}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Password</span>
        <input
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          autoComplete="new-password"
          required
        />
      </label>
      <button type="submit" className="btn btn-primary" disabled={!email.trim() || !password || create.isPending}>
        <UserPlus size={14} aria-hidden /> {create.isPending ? "Creating…" : "Create user"}
      </button>
      <div className="people-form-status">
        <ErrorMessage error={create.error} />
        {created && (
          <p className="ok" role="status">
            Created {created}.
          </p>
        )}
      </div>
    </form>
  );
}

function RoleDialog({ user, onClose }: { user: AdminUser; onClose: () => void }) {
  const change = useChangeUserRole();
  const role: UserRole = user.role === "admin" ? "creator" : "admin";
  return (
    <ConfirmDialog
      title={`Make ${user.email} ${role === "admin" ? "an admin" : "a creator"}?`}
      onClose={onClose}
      onConfirm={() => change.mutate({ id: user.id, role }, { onSuccess: onClose })}
      confirmLabel={role === "admin" ? "Make admin" : "Make creator"}
      pending={change.isPending}
      tone="primary"
    >
      <p>
        {role === "admin"
          ? "Admins see every entry and manage people, projects, tokens and settings."
          : "Creators see only their own entries, their projects' entries and system entries."}{" "}
        The change applies from their next request.
      </p>
      <ErrorMessage error={change.error} />
    </ConfirmDialog>
  );
}

function PasswordDialog({ user, onClose }: { user: AdminUser; onClose: () => void }) {
  const reset = useResetPassword();
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const formId = `reset-password-${user.id}`;
  return (
    <Dialog
      title={`Reset the password of ${user.email}`}
      onClose={onClose}
      footer={
        done ? (
          <button type="button" className="btn btn-primary" onClick={onClose} data-autofocus>
            Done
          </button>
        ) : (
          <>
            <button type="button" className="btn" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" form={formId} className="btn btn-primary" disabled={!password || reset.isPending}>
              Set password
            </button>
          </>
        )
      }
    >
      {done ? (
        <p className="ok" role="status">
          The password of {user.email} is changed. Give them the new one.
        </p>
      ) : (
        <form
          id={formId}
          onSubmit={(e) => {
            e.preventDefault();
            reset.mutate({ id: user.id, password }, { onSuccess: () => setDone(true) });
          }}
        >
          <label className="field">
            <span>New password</span>
            <input
              type="password"
              value={password}
              onChange={(e) => {
                reset.reset();
                setPassword(e.target.value);
              }}
              autoComplete="new-password"
              data-autofocus
            />
          </label>
          <ErrorMessage error={reset.error} />
        </form>
      )}
    </Dialog>
  );
}

function DeleteUserDialog({ user, onClose }: { user: AdminUser; onClose: () => void }) {
  const remove = useDeleteUser();
  return (
    <ConfirmDialog
      title={`Delete ${user.email}?`}
      onClose={onClose}
      onConfirm={() => remove.mutate(user.id, { onSuccess: onClose })}
      confirmLabel="Delete user"
      pendingLabel="Deleting…"
      pending={remove.isPending}
    >
      <p>
        <strong>{user.email}</strong> will no longer be able to sign in, and leaves every project. Their log entries
        stay.
      </p>
      <ErrorMessage error={remove.error} />
    </ConfirmDialog>
  );
}

type UserAction = { kind: "role" | "password" | "delete"; user: AdminUser };

function UsersSection() {
  const { data: users, isLoading, error } = useUsers();
  const me = useAuthStore((s) => s.user);
  const [action, setAction] = useState<UserAction | null>(null);
  const close = () => setAction(null);

  return (
    <section className="card" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <CreateUserForm />
      {isLoading && <p className="muted">Loading users…</p>}
      <ErrorMessage error={error} />
      {users && (
        <div className="people-table-wrap">
          <table className="history-table people-table" aria-label="Users">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => {
                const isMe = u.id === me?.id;
                return (
                  <tr key={u.id}>
                    <td className="people-email">
                      {u.email}
                      {isMe && <span className="muted"> (you)</span>}
                    </td>
                    <td>
                      <span className={`role-badge role-${u.role}`}>{ROLE_TITLES[u.role]}</span>
                    </td>
                    <td className="people-created">
                      <time dateTime={u.created_at} title={formatTimestamp(u.created_at)}>
                        <Timestamp value={u.created_at} format="date" />
                      </time>
                    </td>
                    <td>
                      <div className="people-actions">
                        <button
                          type="button"
                          className="btn btn-small"
                          onClick={() => setAction({ kind: "role", user: u })}
                          aria-label={`${u.role === "admin" ? "Make creator" : "Make admin"}: ${u.email}`}
                        >
                          {u.role === "admin" ? "Make creator" : "Make admin"}
                        </button>
                        <button
                          type="button"
                          className="btn btn-small"
                          onClick={() => setAction({ kind: "password", user: u })}
                          aria-label={`Reset password: ${u.email}`}
                        >
                          <KeyRound size={14} aria-hidden /> Reset password
                        </button>
                        <button
                          type="button"
                          className="btn btn-small btn-danger"
                          onClick={() => setAction({ kind: "delete", user: u })}
                          disabled={isMe}
                          title={isMe ? "You cannot delete your own account; another admin can." : undefined}
                          aria-label={`Delete user ${u.email}`}
                        >
                          <Trash2 size={14} aria-hidden /> Delete
                        </button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {action?.kind === "role" && <RoleDialog user={action.user} onClose={close} />}
      {action?.kind === "password" && <PasswordDialog user={action.user} onClose={close} />}
      {action?.kind === "delete" && <DeleteUserDialog user={action.user} onClose={close} />}
    </section>
  );
}

function RenameProjectDialog({ project, onClose }: { project: Project; onClose: () => void }) {
  const rename = useRenameProject();
  const [name, setName] = useState(project.name);
  const formId = `rename-project-${project.id}`;
  return (
    <Dialog
      title={`Rename ${project.name}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            form={formId}
            className="btn btn-primary"
            disabled={!name.trim() || name.trim() === project.name || rename.isPending}
          >
            Rename
          </button>
        </>
      }
    >
      <form
        id={formId}
        onSubmit={(e) => {
          e.preventDefault();
          rename.mutate({ id: project.id, name: name.trim() }, { onSuccess: onClose });
        }}
      >
        <label className="field">
          <span>Project name</span>
          <input
            value={name}
            onChange={(e) => {
              rename.reset();
              setName(e.target.value);
            }}
            data-autofocus
          />
        </label>
        <ErrorMessage error={rename.error} />
      </form>
    </Dialog>
  );
}

function DeleteProjectDialog({ project, onClose }: { project: Project; onClose: () => void }) {
  const remove = useDeleteProject();
  const members = project.member_ids.length;
  return (
    <ConfirmDialog
      title={`Delete project ${project.name}?`}
      onClose={onClose}
      onConfirm={() => remove.mutate(project.id, { onSuccess: onClose })}
      confirmLabel="Delete project"
      pendingLabel="Deleting…"
      pending={remove.isPending}
    >
      <p>
        <strong>{project.name}</strong> and its {members} {members === 1 ? "membership" : "memberships"} will be
        deleted. Its log entries stay, visible to admins only.
      </p>
      <ErrorMessage error={remove.error} />
    </ConfirmDialog>
  );
}

function ProjectMembers({ project, users }: { project: Project; users: AdminUser[] }) {
  const add = useAddMember();
  const removeMember = useRemoveMember();
  const [userId, setUserId] = useState("");
  const byId = new Map(users.map((u) => [u.id, u]));
  const candidates = users.filter((u) => !project.member_ids.includes(u.id));
  const selectId = `add-member-${project.id}`;

  return (
    <div className="project-members">
      <ul className="member-list" aria-label={`Members of ${project.name}`}>
        {project.member_ids.length === 0 && <li className="muted">No members yet.</li>}
        {project.member_ids.map((id) => {
          const email = byId.get(id)?.email ?? `user ${id}`;
          return (
            <li key={id} className="member-chip">
              <span>{email}</span>
              <button
                type="button"
                className="icon-button"
                aria-label={`Remove ${email} from ${project.name}`}
                disabled={removeMember.isPending}
                onClick={() => removeMember.mutate({ projectId: project.id, userId: id })}
              >
                <X size={14} aria-hidden />
              </button>
            </li>
          );
        })}
      </ul>
      <form
        className="filter-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!userId) return;
          add.mutate({ projectId: project.id, userId: Number(userId) }, { onSuccess: () => setUserId("") });
        }}
      >
        <label className="visually-hidden" htmlFor={selectId}>
          User to add to {project.name}
        </label>
        <select id={selectId} value={userId} onChange={(e) => setUserId(e.target.value)}>
          <option value="">Add a user…</option>
          {candidates.map((u) => (
            <option key={u.id} value={u.id}>
              {u.email}
              {u.role === "admin" ? " (admin)" : ""}
            </option>
          ))}
        </select>
        <button type="submit" className="btn btn-small" disabled={!userId || add.isPending}>
          Add member
        </button>
      </form>
      <ErrorMessage error={add.error ?? removeMember.error} />
    </div>
  );
}

type ProjectAction = { kind: "rename" | "delete"; project: Project };

function ProjectsSection() {
  const { data: projects, isLoading, error } = useProjects();
  const { data: users } = useUsers();
  const create = useCreateProject();
  const [name, setName] = useState("");
  const [action, setAction] = useState<ProjectAction | null>(null);
  const close = () => setAction(null);

  return (
    <section className="card" aria-labelledby="projects-title">
      <h2 id="projects-title">Projects</h2>
      <p className="muted">Creators see the entries of the projects they are members of (admins see everything).</p>
      <form
        className="people-form"
        aria-label="Create project"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return;
          create.mutate(name.trim(), { onSuccess: () => setName("") });
        }}
      >
        <label className="field">
          <span>Project name</span>
          <input
            value={name}
            onChange={(e) => {
              create.reset();
              setName(e.target.value);
            }}
          />
        </label>
        <button type="submit" className="btn btn-primary" disabled={!name.trim() || create.isPending}>
          <FolderPlus size={14} aria-hidden /> Create project
        </button>
        <div className="people-form-status">
          <ErrorMessage error={create.error} />
        </div>
      </form>
      {isLoading && <p className="muted">Loading projects…</p>}
      <ErrorMessage error={error} />
      {projects && projects.length === 0 && <p className="muted">No projects yet.</p>}
      {projects && projects.length > 0 && (
        <ul className="project-list" aria-label="Projects">
          {projects.map((p) => (
            <li key={p.id} className="project-item">
              <div className="project-header">
                <h3 id={`project-${p.id}-name`}>{p.name}</h3>
                <div className="people-actions">
                  <button
                    type="button"
                    className="btn btn-small"
                    onClick={() => setAction({ kind: "rename", project: p })}
                    aria-label={`Rename project ${p.name}`}
                  >
                    <Pencil size={14} aria-hidden /> Rename
                  </button>
                  <button
                    type="button"
                    className="btn btn-small btn-danger"
                    onClick={() => setAction({ kind: "delete", project: p })}
                    aria-label={`Delete project ${p.name}`}
                  >
                    <Trash2 size={14} aria-hidden /> Delete
                  </button>
                </div>
              </div>
              <ProjectMembers project={p} users={users ?? []} />
            </li>
          ))}
        </ul>
      )}
      {action?.kind === "rename" && <RenameProjectDialog project={action.project} onClose={close} />}
      {action?.kind === "delete" && <DeleteProjectDialog project={action.project} onClose={close} />}
    </section>
  );
}

/** Admin-only: users (create, role, password, delete), projects and their members. */
export function PeoplePage() {
  return (
    <div className="page settings-page people-page">
      <header className="page-header">
        <h1>People</h1>
      </header>
      <UsersSection />
      <ProjectsSection />
    </div>
  );
}
