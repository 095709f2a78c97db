// The privacy-request page at /privacy/request: a visitor asks for a copy or the erasure of one
// call's data with the privacy key they were shown at the end of the call (not the reference
// code, which staff see too), keeps the request number and secret, and follows the request here.
// Nothing is stored in the browser.
import { h, replace } from "../shared/dom";
import { supportedLanguage } from "../shared/i18n";
import type { CreatedRequest } from "./api";
import { checkForm, requestForm } from "./form";
import { StatusView } from "./status";
import { CATALOGUES, pickTexts, type PrivacyTexts } from "./texts";

type View = { name: "forms" } | { name: "status"; requestId: string; secret: string; fresh: boolean };

class PrivacyPage {
  private t: PrivacyTexts;
  private view: View = { name: "forms" };
  private status: StatusView | null = null;
  private readonly privacyKey: string;

  constructor(private readonly root: HTMLElement) {
    const search = new URLSearchParams(location.search);
    this.t = pickTexts(search, navigator.languages ?? [navigator.language]);
    // The widget puts the key in the fragment (never sent to a server); read it once and drop
    // it from the address bar and history, where the next person at this computer would see it.
    const fragment = new URLSearchParams(location.hash.slice(1));
    this.privacyKey = fragment.get("key") ?? "";
    if (location.hash || search.has("reference")) {
      search.delete("reference");
      const query = search.toString();
      history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
    }
  }

  render(): void {
    const t = this.t;
    this.status?.stop();
    this.status = null;
    document.documentElement.lang = t.lang;
    document.title = t.title;
    const main = h("main", { id: "main", class: "content" });
    if (this.view.name === "status") {
      const { requestId, secret, fresh } = this.view;
      this.status = new StatusView(t, requestId, secret, fresh, () => this.show({ name: "forms" }));
      main.append(this.status.element);
    } else {
      main.append(
        requestForm(t, this.privacyKey, (created: CreatedRequest) =>
          this.show({ name: "status", requestId: created.request_id, secret: created.secret, fresh: true }),
        ),
        checkForm(t, (requestId, secret) => this.show({ name: "status", requestId, secret, fresh: false })),
      );
    }
    replace(
      this.root,
      h(
        "header",
        { class: "head" },
        h("div", {}, h("h1", {}, t.title), h("p", { class: "intro" }, t.intro)),
        this.languagePicker(),
      ),
      main,
      h("footer", { class: "foot help" }, t.noStorage),
    );
    this.status?.start();
  }

  private show(view: View): void {
    this.view = view;
    this.render();
  }

  private languagePicker(): HTMLElement {
    const select = h("select", { id: "language", "aria-label": this.t.languageLabel });
    for (const catalogue of Object.values(CATALOGUES)) {
      const option = h("option", { value: catalogue.lang }, catalogue.languageName);
      option.selected = catalogue.lang === this.t.lang;
      select.append(option);
    }
    select.addEventListener("change", () => {
      const language = supportedLanguage(select.value);
      if (!language) return;
      const chosen = CATALOGUES[language];
      this.t = chosen;
      const url = new URL(location.href);
      url.searchParams.set("lang", chosen.lang);
      history.replaceState(null, "", url);
      this.render();
      document.getElementById("language")?.focus();
    });
    return h("div", { class: "lang" }, select);
  }
}

const root = document.getElementById("app");
if (root) new PrivacyPage(root).render();
