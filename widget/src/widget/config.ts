/** Where the widget came from and how the page configured it, read from its own ``<script>``. */
export interface WidgetConfig {
  /** Loket's base URL (the script's URL without ``/widget.js``), e.g. ``https://loket.example``. */
  base: string;
  key: string;
  lang: string | null;
  /** ``data-context-KEY="value"`` attributes: context for the adviser (checked on the server). */
  context: Record<string, string>;
}

const CONTEXT_PREFIX = "data-context-";

function ownScript(): HTMLScriptElement | null {
  // currentScript is set while a classic script (async included) runs its top level.
  const current = document.currentScript;
  if (current instanceof HTMLScriptElement && current.src) return current;
  const scripts = document.querySelectorAll<HTMLScriptElement>("script[src][data-key]");
  for (const script of Array.from(scripts)) {
    if (new URL(script.src, location.href).pathname.endsWith("/widget.js")) return script;
  }
  return null;
}

export function readConfig(): WidgetConfig | null {
  const script = ownScript();
  const key = script?.dataset["key"];
  if (!script || !key) return null;
  const url = new URL(script.src, location.href);
  const path = url.pathname.replace(/\/widget\.js$/, "");
  const context: Record<string, string> = {};
  for (const attribute of Array.from(script.attributes)) {
    if (attribute.name.startsWith(CONTEXT_PREFIX)) context[attribute.name.slice(CONTEXT_PREFIX.length)] = attribute.value;
  }
  return { base: url.origin + path, key, lang: script.dataset["lang"] ?? null, context };
}
