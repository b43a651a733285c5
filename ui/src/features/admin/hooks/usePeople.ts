import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { apiJson } from "../../../lib/api";
import type {
  AdminUser,
  AdminUserList,
  DeletedProject,
  DeletedUser,
  Membership,
  MembershipRemoved,
  NewUser,
  Project,
  ProjectList,
  UserRole,
} from "../types";

const USERS_KEY = ["admin", "users"] as const;
const PROJECTS_KEY = ["admin", "projects"] as const;

export function useUsers() {
  return useQuery({
    queryKey: USERS_KEY,
    queryFn: async ({ signal }) => (await apiJson<AdminUserList>("/admin/users", { signal })).data,
  });
}

/** `enabled: false` until the list is needed (the views menu asks only when an admin opens it). */
export function useProjects({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: PROJECTS_KEY,
    queryFn: async ({ signal }) => (await apiJson<ProjectList>("/admin/projects", { signal })).data,
    enabled,
  });
}

/** Mutations that change users refresh both lists: a deleted user also leaves every project. */
function useRefreshPeople() {
  const client = useQueryClient();
  return () =>
    Promise.all([
      client.invalidateQueries({ queryKey: USERS_KEY }),
      client.invalidateQueries({ queryKey: PROJECTS_KEY }),
      // The signed-in admin's own role may have changed.
      client.invalidateQueries({ queryKey: ["auth", "me"] }),
    ]);
}

export function useCreateUser() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: (user: NewUser) => apiJson<AdminUser>("/admin/users", { method: "POST", body: user }),
    onSuccess: refresh,
  });
}

export function useChangeUserRole() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: ({ id, role }: { id: AdminUser["id"]; role: UserRole }) =>
      apiJson<AdminUser>(`/admin/users/${id}`, { method: "PATCH", body: { role } }),
    onSuccess: refresh,
  });
}

export function useResetPassword() {
  return useMutation({
    mutationFn: ({ id, password }: { id: AdminUser["id"]; password: string }) =>
      apiJson<AdminUser>(`/admin/users/${id}/password`, { method: "PUT", body: { password } }),
  });
}

export function useDeleteUser() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: (id: AdminUser["id"]) => apiJson<DeletedUser>(`/admin/users/${id}`, { method: "DELETE" }),
    onSuccess: refresh,
  });
}

export function useCreateProject() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: (name: string) => apiJson<Project>("/admin/projects", { method: "POST", body: { name } }),
    onSuccess: refresh,
  });
}

export function useRenameProject() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: ({ id, name }: { id: Project["id"]; name: string }) =>
      apiJson<Project>(`/admin/projects/${id}`, { method: "PATCH", body: { name } }),
    onSuccess: refresh,
  });
}

export function useDeleteProject() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: (id: Project["id"]) => apiJson<DeletedProject>(`/admin/projects/${id}`, { method: "DELETE" }),
    onSuccess: refresh,
  });
}

export function useAddMember() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: ({ projectId, userId }: { projectId: Project["id"]; userId: AdminUser["id"] }) =>
      apiJson<Membership>(`/admin/projects/${projectId}/members`, { method: "POST", body: { user_id: userId } }),
    onSuccess: refresh,
  });
}

export function useRemoveMember() {
  const refresh = useRefreshPeople();
  return useMutation({
    mutationFn: ({ projectId, userId }: { projectId: Project["id"]; userId: AdminUser["id"] }) =>
      apiJson<MembershipRemoved>(`/admin/projects/${projectId}/members/${userId}`, { method: "DELETE" }),
    onSuccess: refresh,
  });
}
