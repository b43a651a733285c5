import { Info } from "lucide-react";
import { useCurrentUser } from "../../../app/currentUser";
import { scopeNoteText } from "../scopeNote";

/** For creators: the short "What you can see" note above the console (admins see everything). */
export function ScopeNote() {
  const me = useCurrentUser();
  const user = me.data?.user;
  if (!user || user.role === "admin") return null;
  return (
    <aside className="scope-note" role="note" aria-label="What you can see">
      <Info size={14} aria-hidden />
      <strong>What you can see:</strong> <span>{scopeNoteText(user.projects.map((p) => p.name))}</span>
    </aside>
  );
}
