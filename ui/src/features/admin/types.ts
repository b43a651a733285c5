/**
 * The People admin's names for the API's wire types: aliases of the types generated from the
 * server's OpenAPI document (src/api/schema.ts, `npm run gen:api`), so that a change in the
 * contract fails typecheck here.
 */
import type { components } from "../../api/schema";

type Schemas = components["schemas"];

/** `GET /api/v1/admin/users` rows; also what creating, role changes and password resets return. */
export type AdminUser = Schemas["User"];
export type AdminUserList = Schemas["UserList"];
export type UserRole = AdminUser["role"];
/** `POST /api/v1/admin/users`. */
export type NewUser = Schemas["NewUser"];
/** `PATCH /api/v1/admin/users/{user_id}`. */
export type RoleChange = Schemas["RoleChange"];
/** `PUT /api/v1/admin/users/{user_id}/password`. */
export type PasswordReset = Schemas["PasswordReset"];
export type DeletedUser = Schemas["DeletedUser"];

export type Project = Schemas["Project"];
export type ProjectList = Schemas["ProjectList"];
export type NewProject = Schemas["NewProject"];
export type ProjectRename = Schemas["ProjectRename"];
export type DeletedProject = Schemas["DeletedProject"];
export type Membership = Schemas["Membership"];
export type MembershipRemoved = Schemas["MembershipRemoved"];

export const USER_ROLES: readonly UserRole[] = ["creator", "admin"];
