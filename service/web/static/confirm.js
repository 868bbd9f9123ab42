/** Asking before acting: a modal `<dialog>` that resolves true only when the action is confirmed. */

import { h } from "./dom.js";

let dialogCount = 0;

/**
 * Show a modal dialog titled `title` with `text`, an action button `confirm` and a button
 * `dismiss`; true when the action is chosen, false when dismissed (its button, or Escape).
 * Focus starts on `dismiss`, the harmless choice, and returns where it was afterwards.
 */
export function confirmAction({ title, text, confirm, dismiss }) {
  dialogCount += 1;
  const titleId = `dialog-${dialogCount}-title`;
  const textId = `dialog-${dialogCount}-text`;
  const keep = h("button", { type: "button", value: "dismiss" }, dismiss);
  const act = h("button", { type: "button", class: "danger", value: "confirm" }, confirm);
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId, "aria-describedby": textId },
    h("h2", { id: titleId }, title), h("p", { id: textId }, text),
    h("div", { class: "dialog-actions" }, keep, act));
  const before = document.activeElement;
  document.body.append(dialog);
  return new Promise((resolve) => {
    let chosen = false;
    keep.addEventListener("click", () => dialog.close());
    act.addEventListener("click", () => {
      chosen = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (before instanceof HTMLElement && before.isConnected) before.focus();
      resolve(chosen);
    });
    dialog.showModal();
    keep.focus();
  });
}
