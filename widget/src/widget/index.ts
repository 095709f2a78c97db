/**
 * Loket's widget, embedded with one tag on a customer's website:
 *
 *   <script src="https://LOKET_HOST/widget.js" data-key="WIDGET_KEY" async></script>
 *
 * It adds one element whose shadow root holds all of its UI, and ``window.Loket`` (typed in
 * ``public.ts``, shipped as ``dist/loket.d.ts``): ``open({context?})``, ``close()`` and
 * ``on(event, listener)`` for ``ready``, ``open``, ``close``, ``queued``, ``accepted``,
 * ``transferred`` and ``ended`` (``on`` returns a function that removes the listener).
 * Once ``window.Loket`` exists, ``loket:ready`` is dispatched on ``window`` too.
 */
import { readConfig } from "./config";
import { Emitter } from "./emitter";
import { widgetLanguage } from "./i18n";
import type { LoketApi, LoketEvent, LoketEvents, LoketOpenOptions } from "./public";
import { Widget } from "./widget";

export type { LoketApi } from "./public";

function boot(): void {
  if (window.Loket) return; // the snippet is on the page twice
  const config = readConfig();
  if (!config) {
    console.error('Loket: add data-key="WIDGET_KEY" to the widget\'s <script> tag');
    return;
  }
  const emitter = new Emitter();
  const widget = new Widget(config, widgetLanguage(config.lang), emitter);
  const api: LoketApi = Object.freeze({
    open: (options?: LoketOpenOptions) => widget.open(options),
    close: () => widget.close(),
    on: <E extends LoketEvent>(event: E, listener: (data: LoketEvents[E]) => void) => emitter.on(event, listener),
  });
  window.Loket = api;
  const mount = () => {
    widget.mount();
    emitter.emit("ready", {});
    window.dispatchEvent(new CustomEvent("loket:ready", { detail: api }));
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
}

boot();
