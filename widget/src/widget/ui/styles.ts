/**
 * The widget's only stylesheet, inside its shadow root. The host element resets every
 * property with ``all: initial !important``: inside a shadow tree's context, important
 * declarations win over the page's important ones (CSS Cascade 4, section 6.1 "Context"),
 * so no page rule can hide, shrink or restyle the widget; inherited properties stop there.
 * Sizes are in px, never rem, because rem follows the page's root font size.
 */
export const CSS = `
:host {
  all: initial !important;
  display: block !important;
  position: fixed !important;
  right: 0 !important;
  bottom: 0 !important;
  width: 0 !important;
  height: 0 !important;
  overflow: visible !important;
  z-index: 2147483000 !important;
  visibility: visible !important;
  opacity: 1 !important;
  transform: none !important;
  filter: none !important;
  pointer-events: auto !important;
}
.root {
  --brand: #1f4fd1;
  --brand-dark: #173ca3;
  --ink: #14213d;
  --soft: #4b5670;
  --line: #d3d9e8;
  --wash: #f4f6fb;
  font: 400 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink);
  text-align: left;
  letter-spacing: normal;
  word-spacing: normal;
  text-transform: none;
  -webkit-font-smoothing: antialiased;
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
:focus { outline: none; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
button, select, input { font: inherit; color: inherit; margin: 0; }
button { cursor: pointer; }
.icon { width: 22px; height: 22px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; flex: none; }
.icon.filled { fill: currentColor; stroke: none; }
.icon-hangUp { width: 32px; height: 32px; }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }

.launcher {
  position: fixed; right: 20px; bottom: 20px;
  display: inline-flex; align-items: center; gap: 10px;
  height: 56px; padding: 0 22px 0 18px; border: 0; border-radius: 28px;
  background: var(--brand); color: #fff; font-size: 16px; font-weight: 600; line-height: 1;
  box-shadow: 0 6px 20px rgba(20, 33, 61, 0.28);
}
.launcher:hover { background: var(--brand-dark); }
.launcher .badge { display: inline-block; width: 10px; height: 10px; border-radius: 50%; background: #34d399; box-shadow: 0 0 0 3px rgba(52, 211, 153, 0.35); }

.panel {
  position: fixed; right: 20px; bottom: 20px;
  width: 384px; max-height: calc(100vh - 40px);
  display: flex; flex-direction: column;
  background: #fff; border-radius: 16px; overflow: hidden;
  box-shadow: 0 16px 48px rgba(20, 33, 61, 0.32), 0 0 0 1px rgba(20, 33, 61, 0.06);
}
.panel.wide { width: 480px; }
.head { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 12px 10px 12px 20px; background: var(--brand); color: #fff; flex: none; }
.head h2 { margin: 0; font-size: 16px; font-weight: 600; line-height: 1.3; }
.close { width: 40px; height: 40px; flex: none; border: 0; border-radius: 50%; background: transparent; color: #fff; display: grid; place-items: center; }
.close:hover { background: rgba(255, 255, 255, 0.16); }
.body { padding: 18px 20px 20px; overflow-y: auto; flex: 1 1 auto; }
h3 { margin: 0 0 6px; font-size: 20px; line-height: 1.25; font-weight: 650; }
p { margin: 0 0 12px; }
.muted { color: var(--soft); }
a { color: var(--brand); font-weight: 600; }

.preview { position: relative; aspect-ratio: 16 / 9; background: #0f172a; border-radius: 12px; overflow: hidden; margin: 14px 0; }
.preview.small { width: 45%; aspect-ratio: 4 / 3; margin: 0 0 16px; }
.preview video { display: block; width: 100%; height: 100%; object-fit: cover; transform: scaleX(-1); }
.preview .overlay { position: absolute; inset: 0; display: grid; place-items: center; padding: 16px; text-align: center; color: #e2e8f0; font-size: 14px; }
.notice { border-radius: 10px; padding: 10px 12px; margin: 0 0 14px; font-size: 14px; background: #fff4e5; color: #6b3500; border: 1px solid #f0c184; }
.notice.error { background: #fdecec; color: #861b1b; border-color: #efb0b0; }
.notice .btn { margin-top: 8px; min-height: 40px; }

.fields { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 0 12px; align-items: end; }
.field { display: block; margin: 0 0 14px; font-size: 14px; font-weight: 600; min-width: 0; }
.field .value { display: flex; align-items: center; height: 46px; margin-top: 6px; font-weight: 400; font-size: 15px; }
select { display: block; width: 100%; height: 46px; margin-top: 6px; padding: 0 12px; font-size: 15px; font-weight: 400; border: 1px solid #aeb8cf; border-radius: 10px; background: #fff; }
.consent { border: 1px solid var(--line); border-radius: 12px; padding: 12px 14px; margin: 0 0 16px; background: var(--wash); }
.consent h4 { margin: 0 0 6px; font-size: 14px; }
.consent .text { margin: 0 0 10px; max-height: 100px; overflow-y: auto; font-size: 13px; line-height: 1.5; color: #38425c; }
.check { display: flex; gap: 10px; align-items: flex-start; font-size: 14px; font-weight: 600; cursor: pointer; }
.check input { width: 20px; height: 20px; margin: 0; flex: none; accent-color: var(--brand); }

.btn { display: inline-flex; align-items: center; justify-content: center; gap: 8px; min-height: 48px; padding: 0 20px; border-radius: 12px; border: 1px solid transparent; font-size: 16px; font-weight: 600; line-height: 1.2; }
.btn.block { width: 100%; }
.btn.primary { background: var(--brand); color: #fff; }
.btn.primary:hover { background: var(--brand-dark); }
.btn.primary:disabled { background: #9aa6c4; cursor: not-allowed; }
.btn.secondary { background: #fff; color: var(--ink); border-color: #aeb8cf; }
.btn.secondary:hover { background: var(--wash); }
.btn + .btn { margin-top: 10px; }

.place { display: flex; align-items: center; gap: 16px; margin: 16px 0; padding: 16px 18px; border-radius: 14px; background: #eef3ff; }
.place .number { min-width: 64px; height: 64px; border-radius: 50%; display: grid; place-items: center; background: var(--brand); color: #fff; font-size: 28px; font-weight: 700; }
.place .lines p { margin: 0; }
.place .lines p + p { margin-top: 4px; color: var(--soft); font-size: 14px; }
.dots { display: inline-flex; gap: 5px; margin-left: 4px; vertical-align: middle; }
.dots i { width: 6px; height: 6px; border-radius: 50%; background: currentColor; animation: pulse 1.2s infinite ease-in-out; }
.dots i:nth-child(2) { animation-delay: 0.2s; }
.dots i:nth-child(3) { animation-delay: 0.4s; }
@keyframes pulse { 0%, 80%, 100% { opacity: 0.25; } 40% { opacity: 1; } }

.stage { position: relative; aspect-ratio: 4 / 3; background: #0b1020; border-radius: 12px; overflow: hidden; }
.stage .remote { display: block; width: 100%; height: 100%; object-fit: cover; }
.stage .self { position: absolute; right: 10px; bottom: 10px; width: 28%; aspect-ratio: 4 / 3; object-fit: cover; border-radius: 8px; border: 2px solid rgba(255, 255, 255, 0.85); background: #1e293b; transform: scaleX(-1); }
.stage .state { position: absolute; inset: 0; display: grid; place-items: center; padding: 16px; text-align: center; color: #e2e8f0; background: rgba(11, 16, 32, 0.55); font-size: 15px; }
.stage.sharing { aspect-ratio: 16 / 10; }
/* The shared screen, large: the panel widens while the adviser shares (Chromium, Safari, Firefox 121+). */
.panel.wide:has(.stage.sharing) { width: min(760px, calc(100vw - 16px)); }
.stage.sharing .remote { object-fit: contain; }
.stage.sharing .self { width: 20%; }
.stage .play { position: absolute; inset: 0; margin: auto; width: max-content; height: max-content; }
.rec { position: absolute; left: 10px; top: 10px; display: flex; align-items: center; gap: 8px; padding: 4px 4px 4px 10px; border-radius: 999px; background: #c62828; color: #fff; font-size: 13px; font-weight: 700; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.3); }
.rec .dot { width: 10px; height: 10px; border-radius: 50%; background: #fff; animation: pulse 1.4s infinite; }
.rec button { border: 1px solid rgba(255, 255, 255, 0.7); background: transparent; color: #fff; border-radius: 999px; padding: 3px 10px; font-size: 12px; font-weight: 600; }
.rec button:hover { background: rgba(255, 255, 255, 0.18); }
.who { margin: 12px 0 0; font-weight: 600; text-align: center; }
.controls { display: flex; justify-content: center; gap: 14px; margin-top: 12px; }
.round { width: 54px; height: 54px; border-radius: 50%; border: 1px solid #c3cbe0; background: #fff; color: var(--ink); display: grid; place-items: center; }
.round:hover { background: var(--wash); }
.round[aria-pressed="true"] { background: var(--ink); border-color: var(--ink); color: #fff; }
.round.end { width: 72px; border-radius: 27px; background: #c62828; border-color: #c62828; color: #fff; }
.round.end:hover { background: #a31f1f; }

.chat { margin-top: 14px; padding-top: 12px; border-top: 1px solid var(--line); }
.chat-title { margin: 0 0 6px; font-size: 14px; font-weight: 600; }
.chat-log { list-style: none; margin: 0 0 8px; padding: 0; max-height: 168px; overflow-y: auto; display: flex; flex-direction: column; gap: 6px; }
.chat-log:empty { display: none; }
.line { max-width: 86%; padding: 6px 10px; border-radius: 10px; background: var(--wash); font-size: 14px; overflow-wrap: anywhere; white-space: pre-wrap; }
.line.mine { align-self: flex-end; background: #e3e9fb; }
.line .from { display: block; font-size: 12px; color: var(--soft); }
.chat-image { display: block; max-width: 100%; max-height: 160px; margin-top: 4px; border-radius: 6px; }
.chat-problem { color: #b42318; font-size: 14px; margin: 0 0 6px; }
.chat-form { display: flex; gap: 8px; }
.chat-input { flex: 1; min-width: 0; min-height: 44px; resize: none; padding: 10px 12px; border: 1px solid #c3cbe0; border-radius: 10px; font: inherit; color: inherit; background: #fff; }
.chat-send { flex: none; min-height: 44px; }

.reference { display: flex; align-items: center; justify-content: space-between; gap: 10px; margin: 6px 0 10px; padding: 12px 12px 12px 16px; border-radius: 12px; background: var(--wash); border: 1px solid var(--line); }
.reference code { font: 700 24px/1.2 ui-monospace, "SF Mono", Menlo, Consolas, monospace; letter-spacing: 1px; color: var(--ink); }
.reference code.key { font-size: 15px; letter-spacing: 0; word-break: break-all; }
.reference .btn { min-height: 40px; padding: 0 14px; font-size: 14px; }
.label { margin: 16px 0 0; font-size: 14px; font-weight: 600; }
.help { font-size: 14px; color: var(--soft); }
.rating { margin: 16px 0 18px; padding-top: 16px; border-top: 1px solid var(--line); }
.rating p { margin-bottom: 6px; font-weight: 600; }
.stars { display: flex; gap: 4px; }
.star { width: 44px; height: 44px; border: 0; border-radius: 8px; background: transparent; color: #b5bfd6; display: grid; place-items: center; }
.star .icon { width: 30px; height: 30px; }
.star.lit { color: #f0a30a; }
.star:hover { background: var(--wash); }

@media (max-width: 520px) {
  .launcher { right: 12px; bottom: 12px; }
  .panel, .panel.wide { left: 8px; right: 8px; bottom: 8px; width: auto; max-height: calc(100vh - 16px); }
  .body { padding: 16px; }
}
@media (prefers-reduced-motion: reduce) {
  .dots i, .rec .dot { animation: none; }
}
`;

/**
 * A constructed stylesheet where the browser has them: unlike a ``<style>`` element it is
 * not blocked by a page's Content-Security-Policy without ``style-src 'unsafe-inline'``.
 */
export function adoptStyles(root: ShadowRoot): void {
  if ("adoptedStyleSheets" in root && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement("style");
    style.textContent = CSS;
    root.append(style);
  }
}
