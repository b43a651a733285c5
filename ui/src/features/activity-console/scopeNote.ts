/**
 * What a creator may read, in words (the server's scope: entries of their projects, entries about
 * themselves, and system entries, which carry neither a project nor a user; never the server's own
 * admin-only records).
 */
export function scopeNoteText(projectNames: readonly string[]): string {
  const projects =
    projectNames.length === 0
      ? "You are in no project yet, so you see"
      : `Entries of your ${projectNames.length === 1 ? "project" : "projects"} ${projectNames.join(", ")}, entries about you, and`;
  return `${projects} system entries (those of no project and no user). Other projects' entries are not shown.`;
}
