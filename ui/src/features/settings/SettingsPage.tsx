import { useQuery } from "@tanstack/react-query";
import { Copy, KeyRound, Save, Trash2 } from "lucide-react";
import { useEffect, useState } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EntryCount } from "../../components/EntryCount";
import { ApiError, apiJson } from "../../lib/api";
import { Timestamp, useTimeZone, zoneLabel } from "../../lib/time";
import {
  useActivityLogSettings,
  useCreateIngestToken,
  useIngestTokens,
  usePurgeActivityLogs,
  useRevokeIngestToken,
  useUpdateActivityLogSettings,
} from "../activity-console/hooks/useActivityLogHistory";
import { LEVEL_TITLES } from "../activity-console/constants";
import { ACTIVITY_LOG_LEVELS } from "../activity-console/types";
import type { ActivityLogLevel, ActivityLogSettingsUpdate, CreatedIngestToken, IngestToken, RowEstimate } from "../activity-console/types";
import { limitText, settingLimit } from "./settingLimits";
import { fromLocalInput, toLocalInput } from "../activity-console/urlFilters";

type SettingKey = keyof ActivityLogSettingsUpdate;

const SETTING_FIELDS: { key: SettingKey; label: string; unit: string }[] = [
  { key: "retention_days_debug", label: "Debug retention", unit: "days" },
  { key: "retention_days_info", label: "Info retention", unit: "days" },
  { key: "retention_days_warn", label: "Warn retention", unit: "days" },
  { key: "retention_days_error", label: "Error retention", unit: "days" },
  { key: "batch_size", label: "Batch size", unit: "entries" },
  { key: "flush_interval_ms", label: "Flush interval", unit: "ms" },
];

/**
 * Splits an API validation message into per-field messages. The API reports pydantic errors as
 * `field: problem; other: problem`.
 */
function fieldErrors(error: ApiError): { byField: Partial<Record<SettingKey, string>>; rest: string[] } {
  const byField: Partial<Record<SettingKey, string>> = {};
  const rest: string[] = [];
  const known = new Set<string>(SETTING_FIELDS.map((f) => f.key));
  for (const part of error.message.split(/;\s*/)) {
    const m = /^([a-z_]+)\s*:\s*(.+)$/.exec(part.trim());
    if (m && known.has(m[1]!)) byField[m[1] as SettingKey] = m[2]!;
    else {
      const named = SETTING_FIELDS.find((f) => part.includes(f.key));
      if (named && !byField[named.key]) byField[named.key] = part.trim();
      else if (part.trim()) rest.push(part.trim());
    }
  }
  return { byField, rest };
}

function SettingsForm() {
  const { data, isLoading, error: loadError } = useActivityLogSettings();
  const update = useUpdateActivityLogSettings();
  const [values, setValues] = useState<Record<SettingKey, string> | null>(null);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (data) setValues(Object.fromEntries(SETTING_FIELDS.map((f) => [f.key, String(data[f.key])])) as Record<SettingKey, string>);
  }, [data]);

  const apiError = update.error instanceof ApiError ? update.error : null;
  const errors = apiError ? fieldErrors(apiError) : { byField: {}, rest: [] as string[] };

  // Partial update: only what changed is sent; with nothing changed there is nothing to save
  // (the API refuses an empty update).
  const patch: ActivityLogSettingsUpdate = {};
  if (values && data) {
    for (const f of SETTING_FIELDS) {
      const n = Number(values[f.key]);
      if (values[f.key] !== String(data[f.key])) patch[f.key] = Number.isFinite(n) ? n : (values[f.key] as unknown as number);
    }
  }
  const changed = Object.keys(patch).length > 0;

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (!changed) return;
    setSaved(false);
    update.mutate(patch, { onSuccess: () => setSaved(true) });
  };

  if (isLoading || !values) return <p className="muted">{loadError ? (loadError as Error).message : "Loading settings…"}</p>;

  return (
    <form className="settings-form" onSubmit={submit} noValidate aria-label="Retention and batching">
      <div className="settings-grid">
        {SETTING_FIELDS.map((f) => {
          const message = errors.byField[f.key];
          const invalid = message != null;
          const errorId = `${f.key}-error`;
          const helpId = `${f.key}-help`;
          const limit = settingLimit(f.key);
          return (
            <label key={f.key} className="field">
              <span>{f.label}</span>
              <span className="input-with-unit">
                <input
                  name={f.key}
                  type="number"
                  inputMode="numeric"
                  value={values[f.key]}
                  min={limit?.min}
                  max={limit?.max}
                  aria-invalid={invalid || undefined}
                  aria-describedby={[limit ? helpId : "", invalid ? errorId : ""].filter(Boolean).join(" ") || undefined}
                  onChange={(e) => {
                    setSaved(false);
                    update.reset();
                    setValues({ ...values, [f.key]: e.target.value });
                  }}
                />
                <span className="unit">{f.unit}</span>
              </span>
              {limit && (
                <span className="field-help muted" id={helpId}>
                  {limitText(limit, f.unit)}
                </span>
              )}
              {invalid && (
                <span className="field-error" id={errorId} role="alert">
                  {message}
                </span>
              )}
            </label>
          );
        })}
      </div>
      {update.error && !apiError && (
        <p className="form-error" role="alert">
          {(update.error as Error).message}
        </p>
      )}
      {errors.rest.length > 0 && (
        <p className="form-error" role="alert">
          {errors.rest.join("; ")}
        </p>
      )}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={!changed || update.isPending}>
          <Save size={14} aria-hidden /> {update.isPending ? "Saving…" : "Save settings"}
        </button>
        {saved && <span className="ok" role="status">Saved. The batch writer picks it up without a restart.</span>}
      </div>
    </form>
  );
}

/** How many entries a purge would delete now (admin only); asked while its confirmation is open. */
function usePurgeEstimate(before: string | undefined, level: "" | ActivityLogLevel, enabled: boolean) {
  const params = { before, ...(level ? { level: [level] } : {}) };
  return useQuery({
    queryKey: ["admin", "purge-estimate", params],
    queryFn: ({ signal }) => apiJson<RowEstimate>("/admin/activity-logs/purge-estimate", { params, signal }),
    enabled: enabled && !!before,
    staleTime: 0,
  });
}

function purgeCountText(estimate: RowEstimate): string {
  const n = estimate.rows.toLocaleString("en-US");
  const noun = estimate.rows === 1 ? "entry" : "entries";
  if (estimate.rows === 0) return "No entries match: nothing will be deleted.";
  return estimate.exact ? `${n} ${noun} will be deleted.` : `About ${n} ${noun} will be deleted (an estimate).`;
}

function PurgeSection() {
  const purge = usePurgeActivityLogs();
  const [before, setBefore] = useState("");
  const [level, setLevel] = useState<"" | ActivityLogLevel>("");
  const [confirming, setConfirming] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const beforeIso = fromLocalInput(before);
  const estimate = usePurgeEstimate(beforeIso, level, confirming);
  const zone = useTimeZone();

  const run = () => {
    if (!beforeIso) return;
    purge.mutate(
      { before: beforeIso, ...(level ? { level: [level] } : {}) },
      {
        onSuccess: (n) => setResult(`Deleted ${n.toLocaleString()} ${n === 1 ? "entry" : "entries"}.`),
        onSettled: () => setConfirming(false),
      },
    );
  };

  return (
    <section className="card" aria-labelledby="purge-title">
      <h2 id="purge-title">Manual purge</h2>
      <p className="muted">Deletes stored entries older than a date. This cannot be undone.</p>
      <div className="filter-row">
        <label className="field">
          <span>Older than</span>
          <input type="datetime-local" value={before} onChange={(e) => setBefore(e.target.value)} />
        </label>
        <label className="field">
          <span>Level</span>
          <select value={level} onChange={(e) => setLevel(e.target.value as "" | ActivityLogLevel)}>
            <option value="">All levels</option>
            {ACTIVITY_LOG_LEVELS.map((l) => (
              <option key={l} value={l}>
                {LEVEL_TITLES[l]}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="btn btn-danger" disabled={!beforeIso} onClick={() => { setResult(null); setConfirming(true); }}>
          <Trash2 size={14} aria-hidden /> Purge…
        </button>
      </div>
      {result && <p className="ok" role="status">{result}</p>}
      {purge.error && !confirming && <p className="form-error" role="alert">{(purge.error as Error).message}</p>}
      {confirming && beforeIso && (
        <ConfirmDialog
          title="Delete stored entries?"
          onClose={() => setConfirming(false)}
          onConfirm={run}
          confirmLabel="Delete permanently"
          pendingLabel="Deleting…"
          pending={purge.isPending}
        >
          <p>
            Every {level ? <strong>{LEVEL_TITLES[level].toLowerCase()}</strong> : null} entry logged before{" "}
            <strong>
              {toLocalInput(beforeIso, zone).replace("T", " ")} ({zoneLabel(zone, Date.parse(beforeIso))})
            </strong>{" "}
            will be deleted permanently.
          </p>
          <p className="purge-count" data-testid="purge-count">
            <EntryCount count={estimate} counting="Counting the entries…">
              {(data) => <strong>{purgeCountText(data)}</strong>}
            </EntryCount>
          </p>
          {purge.error && <p className="form-error" role="alert">{(purge.error as Error).message}</p>}
        </ConfirmDialog>
      )}
    </section>
  );
}

function TokensSection() {
  const { data: tokens, isLoading, error } = useIngestTokens();
  const create = useCreateIngestToken();
  const revoke = useRevokeIngestToken();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<CreatedIngestToken | null>(null);
  const [revoking, setRevoking] = useState<IngestToken | null>(null);
  const [copied, setCopied] = useState(false);

  return (
    <section className="card" aria-labelledby="tokens-title">
      <h2 id="tokens-title">Ingest tokens</h2>
      <p className="muted">Services send OTLP logs with <code>Authorization: Bearer &lt;token&gt;</code>.</p>
      <form
        className="filter-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return;
          create.mutate(name.trim(), {
            onSuccess: (t) => {
              setCreated(t);
              setCopied(false);
              setName("");
            },
          });
        }}
      >
        <label className="field">
          <span>Token name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. worker-eu-1" />
        </label>
        <button type="submit" className="btn btn-primary" disabled={!name.trim() || create.isPending}>
          <KeyRound size={14} aria-hidden /> Create token
        </button>
      </form>
      {create.error && <p className="form-error" role="alert">{(create.error as Error).message}</p>}
      {created && (
        <div className="token-once" role="status">
          <p>
            <strong>Copy the token for “{created.name}” now.</strong> It will not be shown again.
          </p>
          <div className="token-value">
            <code>{created.token}</code>
            <button
              type="button"
              className="btn btn-small"
              onClick={() => {
                void navigator.clipboard?.writeText(created.token).then(() => setCopied(true));
              }}
            >
              <Copy size={14} aria-hidden /> {copied ? "Copied" : "Copy"}
            </button>
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      {isLoading && <p className="muted">Loading tokens…</p>}
      {error && <p className="form-error">{(error as Error).message}</p>}
      {tokens && (
        <table className="history-table" aria-label="Ingest tokens">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  No tokens yet.
                </td>
              </tr>
            )}
            {tokens.map((t) => (
              <tr key={t.id}>
                <td>
                  {t.name}
                  {t.token_prefix ? <code className="muted"> {t.token_prefix}…</code> : null}
                </td>
                <td>{t.created_at ? <Timestamp value={t.created_at} /> : "—"}</td>
                <td>{t.last_used_at ? <Timestamp value={t.last_used_at} /> : "never"}</td>
                <td>
                  {t.revoked_at ? (
                    <span className="muted">revoked <Timestamp value={t.revoked_at} format="date" /></span>
                  ) : (
                    <button
                      type="button"
                      className="btn btn-small btn-danger"
                      onClick={() => setRevoking(t)}
                      aria-label={`Revoke token ${t.name}`}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke “${revoking.name}”?`}
          onClose={() => setRevoking(null)}
          onConfirm={() => revoke.mutate(revoking.id, { onSettled: () => setRevoking(null) })}
          confirmLabel="Revoke"
        >
          <p>Services using this token will be rejected from now on.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** Admin-only: retention per level, batch writer tuning, manual purge, ingest tokens. */
export function SettingsPage() {
  return (
    <div className="page settings-page">
      <header className="page-header">
        <h1>Settings</h1>
      </header>
      <section className="card" aria-labelledby="retention-title">
        <h2 id="retention-title">Retention and batching</h2>
        <SettingsForm />
      </section>
      <PurgeSection />
      <TokensSection />
    </div>
  );
}
