import { field, h, uid } from "../shared/dom";
import { createRequest, normalisePrivacyKey, PrivacyApiError, type CreatedRequest, type RequestKind } from "./api";
import { describeError } from "./errors";
import type { PrivacyTexts } from "./texts";

/** The new-request form: the privacy key, export or erasure (each explained), send. */
export function requestForm(
  t: PrivacyTexts,
  initialKey: string,
  onCreated: (created: CreatedRequest) => void,
): HTMLElement {
  const privacyKey = h("input", {
    name: "privacy_key",
    autocomplete: "off",
    autocapitalize: "characters",
    spellcheck: "false",
    inputmode: "text",
    maxlength: 60,
    class: "mono",
    required: true,
  });
  privacyKey.value = initialKey;
  const group = uid("kind");
  const option = (kind: RequestKind, title: string, text: string) => {
    const id = uid(`kind-${kind}`);
    const input = h("input", { type: "radio", name: group, value: kind, id, "aria-describedby": `${id}-text` });
    return {
      input,
      element: h(
        "div",
        { class: `choice choice-${kind}` },
        input,
        h("label", { for: id }, h("strong", {}, title)),
        h("p", { class: "help", id: `${id}-text` }, text),
      ),
    };
  };
  const exportChoice = option("export", t.exportTitle, t.exportText);
  const eraseChoice = option("erase", t.eraseTitle, t.eraseText);
  exportChoice.input.checked = true;
  const confirm = h("input", { type: "checkbox", name: "confirm" });
  const confirmRow = h("div", { class: "confirm", hidden: true }, h("label", {}, confirm, " ", t.eraseConfirm));
  const problem = h("p", { class: "problem", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn primary" }, t.submit);

  const chosen = (): RequestKind => (eraseChoice.input.checked ? "erase" : "export");
  for (const input of [exportChoice.input, eraseChoice.input]) {
    input.addEventListener("change", () => {
      confirmRow.hidden = chosen() !== "erase";
    });
  }

  const form = h(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "new-request-title" },
    h("h2", { id: "new-request-title" }, t.newRequest),
    field(t.keyLabel, privacyKey, t.keyHelp),
    h("fieldset", { class: "choices" }, h("legend", {}, t.kindLegend), exportChoice.element, eraseChoice.element),
    confirmRow,
    problem,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.textContent = "";
    const key = normalisePrivacyKey(privacyKey.value);
    if (!key) {
      problem.textContent = t.badKey;
      privacyKey.setAttribute("aria-invalid", "true");
      privacyKey.focus();
      return;
    }
    privacyKey.removeAttribute("aria-invalid");
    privacyKey.value = key;
    const kind = chosen();
    if (kind === "erase" && !confirm.checked) {
      problem.textContent = t.needConfirm;
      confirm.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t.sending;
    createRequest(key, kind).then(onCreated, (error: unknown) => {
      submit.disabled = false;
      submit.textContent = t.submit;
      problem.textContent = error instanceof PrivacyApiError ? describeError(t, error) : String(error);
    });
  });
  return form;
}

/** The returning visitor's form: request number + secret. */
export function checkForm(t: PrivacyTexts, onCheck: (requestId: string, secret: string) => void): HTMLElement {
  const requestId = h("input", { name: "request_id", autocomplete: "off", spellcheck: "false", class: "mono", required: true });
  const secret = h("input", {
    name: "secret",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    class: "mono",
    required: true,
  });
  const problem = h("p", { class: "problem", role: "alert" });
  const form = h(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "check-title" },
    h("h2", { id: "check-title" }, t.checkTitle),
    h("p", { class: "muted" }, t.checkIntro),
    field(t.requestIdLabel, requestId),
    field(t.secretLabel, secret),
    problem,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, t.check)),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = requestId.value.trim();
    const key = secret.value.trim();
    if (!id || !key) {
      problem.textContent = t.unknownRequest;
      (id ? secret : requestId).focus();
      return;
    }
    problem.textContent = "";
    onCheck(id, key);
  });
  return form;
}
