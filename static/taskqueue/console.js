/* The console's own script (no inline script anywhere: the CSP forbids it).
 *
 * - Live updates: the ws extension keeps the WebSocket open (and reconnects); this file
 *   shows "live / reconnecting", and tells the server which live elements the page
 *   shows (every [data-live] marker) whenever the socket opens or the page changes.
 * - "Select all" checkboxes, dismissable panels, and a message when a request fails.
 */
(function () {
  "use strict";

  var socket = null;
  var RECONNECT_CODES = [1006, 1011, 1012, 1013];

  function indicator(state, text) {
    var el = document.getElementById("live");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  function watchList() {
    var items = [];
    document.querySelectorAll("[data-live]").forEach(function (el) {
      items.push(el.getAttribute("data-live"));
    });
    return items;
  }

  var lastSent = null;

  function sendWatch(force) {
    if (!socket) return;
    var message = JSON.stringify({ watch: watchList() });
    if (message === lastSent && !force) return;
    lastSent = message;
    socket.send(message);
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail.socketWrapper;
    indicator("live", "live");
    sendWatch(true);
  });

  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail.event && evt.detail.event.code;
    indicator("reconnecting", "reconnecting…");
    var wrapper = evt.detail.socketWrapper;
    socket = null;
    // The ws extension retries abnormal closes by itself; a server going away
    // cleanly (1001, a restart) is retried here, after a short pause.
    if (wrapper && RECONNECT_CODES.indexOf(code) < 0 && document.getElementById("live")) {
      setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 2000);
    }
  });

  document.addEventListener("htmx:wsConnecting", function () {
    if (!socket) indicator("reconnecting", "connecting…");
  });

  // After htmx swapped a listing (a page, a filter, a tab), watch what is shown now.
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.detail && evt.detail.requestConfig) sendWatch();
  });

  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    var form = box.closest("form");
    if (!form) return;
    form.querySelectorAll('input[type="checkbox"][name="ids"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-dismiss]");
    if (!button) return;
    var panel = document.getElementById(button.getAttribute("data-dismiss"));
    if (panel) panel.replaceChildren();
  });

  function problem(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message error";
    p.textContent = text;
    box.replaceChildren(p);
  }

  document.addEventListener("htmx:responseError", function (evt) {
    problem("The server answered " + evt.detail.xhr.status + ": the action may not have completed. Reload the page to see the current state.");
  });
  document.addEventListener("htmx:sendError", function () {
    problem("Could not reach the server. Check the connection and try again.");
  });
})();
