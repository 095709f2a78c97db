// Entry point of the privacy page (served by loket at its path; see build.mjs). Filled in by the
// browser issue: until then the page only says what it is.
const root = document.getElementById("app");
if (root) root.textContent = "Loket privacy";
export {};
