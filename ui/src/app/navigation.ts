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
