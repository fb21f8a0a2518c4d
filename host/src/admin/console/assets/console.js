// Refreshes the live parts of a console page (elements with `data-live`, the URL of their
// fragment) every few seconds, without reloading the page. The pages read fine without it.
"use strict";
(() => {
  const EVERY_MS = 2000;
  for (const part of document.querySelectorAll("[data-live]")) {
    let last = null;
    const refresh = async () => {
      if (!document.hidden) {
        try {
          const response = await fetch(part.dataset.live, { credentials: "same-origin", cache: "no-store" });
          if (response.status === 401) {
            // Signed out (elsewhere, or the session ended): the page itself goes to the sign-in.
            location.reload();
            return;
          }
          const html = response.ok ? await response.text() : null;
          if (html !== null && html !== last) {
            // Keep the keyboard where it was: focus the same link again after the update.
            const focused = part.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
            part.innerHTML = html;
            if (focused) part.querySelector(`[href="${CSS.escape(focused)}"]`)?.focus();
            last = html;
          }
          part.dataset.refreshed = String(Date.now());
        } catch (_) {
          // The host may be restarting: try again next time.
        }
      }
      setTimeout(refresh, EVERY_MS);
    };
    setTimeout(refresh, EVERY_MS);
  }
})();
