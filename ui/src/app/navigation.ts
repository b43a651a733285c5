import { Settings, Terminal, Users } from "lucide-react";
import type { LucideIcon } from "lucide-react";
import type { Role } from "../lib/authStore";

interface NavItem {
  label: string;
  path: string;
  icon: LucideIcon;
  /** Roles that see the item; every signed-in user when absent. */
  roles?: Role[];
}

interface NavGroup {
  label: string;
  items: NavItem[];
}

export const NAVIGATION: NavGroup[] = [
  {
    label: "Tools",
    items: [{ label: "Activity Console", path: "/tools/activity-console", icon: Terminal }],
  },
  {
    label: "Admin",
    items: [
      { label: "People", path: "/admin/people", icon: Users, roles: ["admin"] },
      { label: "Settings", path: "/settings", icon: Settings, roles: ["admin"] },
    ],
  },
];

export const CONSOLE_PATH = "/tools/activity-console";

/** The navigation items a role sees. */
export function navigationFor(role: Role | undefined): NavGroup[] {
  return NAVIGATION.map((group) => ({
    ...group,
    items: group.items.filter((i) => !i.roles || (role !== undefined && i.roles.includes(role))),
  })).filter((group) => group.items.length > 0);
}

/**
 * Whether a role has a page besides the console: the docked console only helps there (on the
 * console page the live pane is built in). A creator has the console page alone.
 */
export function hasPagesBesideConsole(role: Role | undefined): boolean {
  return navigationFor(role).some((group) => group.items.some((i) => i.path !== CONSOLE_PATH));
}
