import { Dialog } from "./Dialog";

interface ConfirmDialogProps {
  title: string;
  onClose: () => void;
  onConfirm: () => void;
  /** The confirm button's label. */
  confirmLabel: string;
  /** Shown instead of `confirmLabel` while `pending`. */
  pendingLabel?: string;
  /** Disables the confirm button (a request is running). */
  pending?: boolean;
  /** "danger" (default) for destructive actions, "primary" otherwise. */
  tone?: "danger" | "primary";
  children: React.ReactNode;
}

/** A yes/no dialog: Cancel (focused first) and one confirm button. */
export function ConfirmDialog({
  title,
  onClose,
  onConfirm,
  confirmLabel,
  pendingLabel,
  pending,
  tone = "danger",
  children,
}: ConfirmDialogProps) {
  return (
    <Dialog
      title={title}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose} data-autofocus>
            Cancel
          </button>
          <button type="button" className={`btn btn-${tone}`} disabled={pending} onClick={onConfirm}>
            {pending && pendingLabel ? pendingLabel : confirmLabel}
          </button>
        </>
      }
    >
      {children}
    </Dialog>
  );
}
