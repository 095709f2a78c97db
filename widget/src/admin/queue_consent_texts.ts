/**
 * The admin console's texts for queue closing days and maximum wait, the consent-text editor
 * and the statistics download (issue 13, items 7, 8 and C), kept in one object so they can
 * move into the console's language catalogues as they are.
 */
export const QUEUE_CONSENT_TEXTS = {
  queues: {
    maxWaitHeading: "Maximum wait",
    noLimit: "No limit",
    minutes: (n: number) => `${n} min`,
    closingDaysCount: (n: number) => (n === 1 ? "1 closing day" : `${n} closing days`),
    closingDaysLabel: "Closing days",
    closingDaysHelp: "Holidays and other days the queue is closed all day, one date per line (2026-12-25), in the queue's time zone.",
    closingDaysError: (line: string) => `Closing days: "${line}" is not a date like 2026-12-25`,
    maxWaitLabel: "Maximum wait (minutes)",
    maxWaitHelp: "Past it the visitor is told when to try again (the next opening period) and leaves the queue. Empty: no limit.",
    maxWaitError: "Maximum wait: a number of minutes from 1 to 1440, or empty",
  },
  consent: {
    title: "Consent texts",
    intro:
      "The words a visitor reads before agreeing to a recorded call, per language. Saving publishes a new version; " +
      "earlier versions stay, and each visitor's consent keeps the version and the SHA-256 of the words they were shown.",
    caption: "Consent texts shown now",
    headings: ["Language", "Version", "Text", "SHA-256"],
    builtIn: "built-in",
    historyCaption: "Published versions",
    historyHeadings: ["Language", "Version", "Published", "By", "SHA-256"],
    noVersions: "No versions published yet: visitors see Loket's built-in text.",
    languageLabel: "Language",
    languageHelp: "Two-letter code, such as nl.",
    textLabel: "Consent text",
    publish: "Publish new version",
    published: (language: string, version: number) => `Version ${version} of the ${language} text is published.`,
    edit: (language: string) => `Edit the ${language} text`,
  },
  statistics: {
    download: "Download CSV",
    downloadHelp: "The figures of the period shown, one row per day and a totals row; each download is in the audit log.",
  },
};
