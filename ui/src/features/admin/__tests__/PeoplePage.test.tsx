import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { mockFetch, renderWithProviders, resetStores } from "../../../test/utils";
import { PeoplePage } from "../PeoplePage";
import type { AdminUser, Project } from "../types";

const CREATED = "2026-11-20T10:00:00Z";

/** A small in-memory stand-in for the admin endpoints; `fail` answers one method and path with an API error. */
function peopleApi(fail?: { method: string; path: string; status: number; message: string }) {
  const users: AdminUser[] = [
    { id: 1, email: "admin@localhost", role: "admin", created_at: CREATED },
    { id: 2, email: "ada@example.com", role: "creator", created_at: CREATED },
  ];
  const projects: Project[] = [{ id: 10, name: "Film", created_at: CREATED, member_ids: [2] }];
  const fetchMock = mockFetch((url, init) => {
    const method = init?.method ?? "GET";
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    const path = url.pathname;
    if (fail && fail.method === method && fail.path === path) {
      return { status: fail.status, body: { error: { code: "conflict", message: fail.message } } };
    }
    if (path === "/api/v1/admin/users" && method === "GET") return { body: { data: users } };
    if (path === "/api/v1/admin/users" && method === "POST") {
      const user = { id: 3, email: body.email, role: body.role, created_at: CREATED };
      users.push(user);
      return { status: 201, body: user };
    }
    const userMatch = /^\/api\/v1\/admin\/users\/(\d+)(\/password)?$/.exec(path);
    if (userMatch) {
      const index = users.findIndex((u) => u.id === Number(userMatch[1]));
      const user = users[index]!;
      if (method === "PATCH") {
        users[index] = { ...user, role: body.role };
        return { body: users[index] };
      }
      if (method === "PUT") return { body: user };
      if (method === "DELETE") {
        users.splice(index, 1);
        return { body: { id: user.id, email: user.email, deleted: true } };
      }
    }
    if (path === "/api/v1/admin/projects" && method === "GET") return { body: { data: projects } };
    if (path === "/api/v1/admin/projects" && method === "POST") {
      const project = { id: 11, name: body.name, created_at: CREATED, member_ids: [] };
      projects.push(project);
      return { status: 201, body: project };
    }
    const projectMatch = /^\/api\/v1\/admin\/projects\/(\d+)(?:\/members(?:\/(\d+))?)?$/.exec(path);
    if (projectMatch) {
      const index = projects.findIndex((p) => p.id === Number(projectMatch[1]));
      const project = projects[index]!;
      if (path.endsWith("/members") && method === "POST") {
        project.member_ids = [...project.member_ids, body.user_id];
        return { status: 201, body: { project_id: project.id, user_id: body.user_id, created_at: CREATED } };
      }
      if (projectMatch[2] && method === "DELETE") {
        const userId = Number(projectMatch[2]);
        project.member_ids = project.member_ids.filter((id) => id !== userId);
        return { body: { project_id: project.id, user_id: userId, removed: true } };
      }
      if (method === "PATCH") {
        projects[index] = { ...project, name: body.name };
        return { body: projects[index] };
      }
      if (method === "DELETE") {
        projects.splice(index, 1);
        return { body: { id: project.id, name: project.name, deleted: true } };
      }
    }
    return undefined;
  });
  const calls = (method: string, path: string) =>
    fetchMock.mock.calls
      .filter((c) => (c[1]?.method ?? "GET") === method && new URL(String(c[0]), "http://localhost").pathname === path)
      .map((c) => (c[1]?.body ? JSON.parse(String(c[1].body)) : undefined));
  return { calls, users, projects };
}

describe("PeoplePage", () => {
  beforeEach(resetStores);

  it("lists users and creates one with email, role and password", async () => {
    const user = userEvent.setup();
    const api = peopleApi();
    renderWithProviders(<PeoplePage />);
    const table = await screen.findByRole("table", { name: "Users" });
    expect(within(table).getByText("ada@example.com")).toBeInTheDocument();
    expect(within(table).getByText("(you)")).toBeInTheDocument();

    const form = screen.getByRole("form", { name: "Create user" });
    await user.type(within(form).getByLabelText("Email"), "new@example.com");
    await user.selectOptions(within(form).getByLabelText("Role"), "admin");
    await user.type(within(form).getByLabelText("Password"), "a long passphrase");
    await user.click(within(form).getByRole("button", { name: "Create user" }));
    expect(await within(table).findByText("new@example.com")).toBeInTheDocument();
    expect(api.calls("POST", "/api/v1/admin/users")).toEqual([
      { email: "new@example.com", role: "admin", password: "a long passphrase" },
    ]);
    expect(within(form).getByRole("status")).toHaveTextContent("Created new@example.com.");
  });

  it("shows the API's message inline when creating fails", async () => {
    const user = userEvent.setup();
    peopleApi({ method: "POST", path: "/api/v1/admin/users", status: 409, message: "a user with email 'ada@example.com' already exists" });
    renderWithProviders(<PeoplePage />);
    const form = screen.getByRole("form", { name: "Create user" });
    await user.type(within(form).getByLabelText("Email"), "ada@example.com");
    await user.type(within(form).getByLabelText("Password"), "a long passphrase");
    await user.click(within(form).getByRole("button", { name: "Create user" }));
    expect(await within(form).findByRole("alert")).toHaveTextContent("a user with email 'ada@example.com' already exists");
  });

  it("deletes a user only after a confirmation that names them, and never offers to delete yourself", async () => {
    const user = userEvent.setup();
    const api = peopleApi();
    renderWithProviders(<PeoplePage />);
    const table = await screen.findByRole("table", { name: "Users" });
    expect(within(table).getByRole("button", { name: "Delete user admin@localhost" })).toBeDisabled();
    await user.click(within(table).getByRole("button", { name: "Delete user ada@example.com" }));
    const dialog = screen.getByRole("dialog", { name: "Delete ada@example.com?" });
    expect(api.calls("DELETE", "/api/v1/admin/users/2")).toHaveLength(0);
    await user.click(within(dialog).getByRole("button", { name: "Delete user" }));
    await waitFor(() => expect(within(table).queryByText("ada@example.com")).not.toBeInTheDocument());
    expect(api.calls("DELETE", "/api/v1/admin/users/2")).toHaveLength(1);
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("keeps the dialog open with the API's reason when a role change is refused", async () => {
    const user = userEvent.setup();
    const api = peopleApi({
      method: "PATCH",
      path: "/api/v1/admin/users/1",
      status: 409,
      message: "admin@localhost is the last admin and cannot be demoted; make another user admin first",
    });
    renderWithProviders(<PeoplePage />);
    const table = await screen.findByRole("table", { name: "Users" });
    await user.click(within(table).getByRole("button", { name: "Make creator: admin@localhost" }));
    const dialog = screen.getByRole("dialog", { name: "Make admin@localhost a creator?" });
    await user.click(within(dialog).getByRole("button", { name: "Make creator" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("is the last admin and cannot be demoted");
    expect(api.calls("PATCH", "/api/v1/admin/users/1")).toEqual([{ role: "creator" }]);

    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    await user.click(within(table).getByRole("button", { name: "Make admin: ada@example.com" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Make admin" }));
    await waitFor(() =>
      expect(within(table).getByRole("button", { name: "Make creator: ada@example.com" })).toBeInTheDocument(),
    );
    expect(api.calls("PATCH", "/api/v1/admin/users/2")).toEqual([{ role: "admin" }]);
  });

  it("resets a password, showing a refusal inline", async () => {
    const user = userEvent.setup();
    const api = peopleApi({
      method: "PUT",
      path: "/api/v1/admin/users/2/password",
      status: 400,
      message: "password: must be at least 12 characters long",
    });
    renderWithProviders(<PeoplePage />);
    const table = await screen.findByRole("table", { name: "Users" });
    await user.click(within(table).getByRole("button", { name: "Reset password: ada@example.com" }));
    const dialog = screen.getByRole("dialog", { name: "Reset the password of ada@example.com" });
    await user.type(within(dialog).getByLabelText("New password"), "short{Enter}");
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("must be at least 12 characters long");
    expect(api.calls("PUT", "/api/v1/admin/users/2/password")).toEqual([{ password: "short" }]);
  });

  it("creates, renames and deletes projects and adds and removes members", async () => {
    const user = userEvent.setup();
    const api = peopleApi();
    renderWithProviders(<PeoplePage />);
    const members = await screen.findByRole("list", { name: "Members of Film" });
    expect(within(members).getByText("ada@example.com")).toBeInTheDocument();

    const form = screen.getByRole("form", { name: "Create project" });
    await user.type(within(form).getByLabelText("Project name"), "Music{Enter}");
    expect(await screen.findByRole("heading", { name: "Music" })).toBeInTheDocument();
    expect(api.calls("POST", "/api/v1/admin/projects")).toEqual([{ name: "Music" }]);

    await user.selectOptions(screen.getByLabelText("User to add to Music"), "ada@example.com");
    await user.click(within(screen.getByRole("heading", { name: "Music" }).closest("li")!).getByRole("button", { name: "Add member" }));
    const musicMembers = await screen.findByRole("list", { name: "Members of Music" });
    await within(musicMembers).findByText("ada@example.com");
    expect(api.calls("POST", "/api/v1/admin/projects/11/members")).toEqual([{ user_id: 2 }]);

    await user.click(within(members).getByRole("button", { name: "Remove ada@example.com from Film" }));
    await within(members).findByText("No members yet.");
    expect(api.calls("DELETE", "/api/v1/admin/projects/10/members/2")).toHaveLength(1);

    await user.click(screen.getByRole("button", { name: "Rename project Film" }));
    const rename = screen.getByRole("dialog", { name: "Rename Film" });
    const name = within(rename).getByLabelText("Project name");
    await user.clear(name);
    await user.type(name, "Feature film{Enter}");
    expect(await screen.findByRole("heading", { name: "Feature film" })).toBeInTheDocument();
    expect(api.calls("PATCH", "/api/v1/admin/projects/10")).toEqual([{ name: "Feature film" }]);

    await user.click(screen.getByRole("button", { name: "Delete project Feature film" }));
    const confirm = screen.getByRole("dialog", { name: "Delete project Feature film?" });
    expect(confirm).toHaveTextContent("its 0 memberships will be deleted");
    expect(api.calls("DELETE", "/api/v1/admin/projects/10")).toHaveLength(0);
    await user.click(within(confirm).getByRole("button", { name: "Delete project" }));
    await waitFor(() => expect(screen.queryByRole("heading", { name: "Feature film" })).not.toBeInTheDocument());
    expect(api.calls("DELETE", "/api/v1/admin/projects/10")).toHaveLength(1);
  });
});
