/**
 * Loket's widget, embedded with one tag on a customer's website:
 *
 *   <script src="https://LOKET_HOST/widget.js" data-key="WIDGET_KEY" async></script>
 *
 * It adds one element whose shadow root holds all of its UI, and ``window.Loket``:
 * ``open()``, ``close()`` and ``on(event, listener)`` for ``call:accepted`` and ``call:ended``
 * (``on`` returns a function that removes the listener).
 */
import { readConfig } from "./config";
import { Emitter, type PublicEvent, type PublicEvents } from "./emitter";
import { widgetLanguage } from "./i18n";
import { Widget } from "./widget";

export interface LoketApi {
  open(): void;
  close(): void;
  on<E extends PublicEvent>(event: E, listener: (data: PublicEvents[E]) => void): () => void;
}

declare global {
  interface Window {
    Loket?: LoketApi;
  }
}

function boot(): void {
  if (window.Loket) return; // the snippet is on the page twice
  const config = readConfig();
  if (!config) {
    console.error('Loket: add data-key="WIDGET_KEY" to the widget\'s <script> tag');
    return;
  }
  const emitter = new Emitter();
  const widget = new Widget(config, widgetLanguage(config.lang), emitter);
  window.Loket = Object.freeze({
    open: () => widget.open(),
    close: () => widget.close(),
    on: <E extends PublicEvent>(event: E, listener: (data: PublicEvents[E]) => void) => emitter.on(event, listener),
  });
  const mount = () => widget.mount();
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
}

boot();
