export { ActivityConsolePanel } from "./ActivityConsolePanel";
export { ConsoleFilterToolbar } from "./ConsoleFilterToolbar";
export { ActivityConsolePage } from "./ActivityConsolePage";
export { HistoryPane } from "./HistoryPane";
export { TracePage } from "./TracePage";
export { useActivityConsoleStore, selectStreamFilter } from "./stores/activityConsoleStore";
export type { ActivityConsoleState, PanelPosition } from "./stores/activityConsoleStore";
export { useActivityLogStream } from "./hooks/useActivityLogStream";
export {
  useActivityLogHistory,
  useActivityLogHistogram,
  useActivityLogContext,
  useTrace,
  useActivityLogSettings,
  useUpdateActivityLogSettings,
  usePurgeActivityLogs,
  useIngestTokens,
  useCreateIngestToken,
  useRevokeIngestToken,
  exportActivityLogs,
} from "./hooks/useActivityLogHistory";
export type * from "./types";
