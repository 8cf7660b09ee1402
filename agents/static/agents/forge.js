// The Forge page, progressively enhanced. Without this script the form posts, the browser is
// redirected to the run's page and the answer streams in there (a reload shows the record).
// With it: the answer streams into this page, Stop aborts the request (the server closes the
// provider's stream), Copy copies the answer, and the history refreshes without a reload.
// The server renders and sanitizes the answer (Markdown or the critic's card); this script only
// inserts that HTML. While a Markdown answer streams, the server sends now and then a `rendered`
// event (the answer so far, sanitized); the text that arrives after it shows as plain text until
// the next one. The box never shrinks meanwhile (min-height), so the page does not jump.
(function () {
  "use strict";
  var form = document.getElementById("forge-form");
  if (!form || !window.fetch || !window.ReadableStream || !window.TextDecoder || !window.AbortController) return;
  var live = document.getElementById("live"), meta = document.getElementById("live-meta"),
      answer = document.getElementById("live-answer"), summary = document.getElementById("live-summary"),
      errorBox = document.getElementById("live-error"), runButton = document.getElementById("run-button"),
      stopButton = document.getElementById("stop-button"), copyButton = document.getElementById("copy-button"),
      history = document.getElementById("history");
  var controller = null, raw = "", fallbacks = [], tail = null, renderedUpTo = 0;

  // Keep the box at least as tall as it is now, so the page below does not jump up when shorter
  // rendered HTML replaces the text (a CSSOM property: allowed under the strict CSP).
  function keepHeight() { answer.style.minHeight = answer.offsetHeight + "px"; }

  function fail(text) { errorBox.hidden = false; errorBox.textContent = text; }

  function refreshHistory() {
    fetch(form.dataset.historyUrl, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) { if (html !== null) history.innerHTML = html; }).catch(function () {});
  }

  function handle(ev) {
    if (ev.kind === "candidate") {
      var prefix = fallbacks.length ? fallbacks.join(" ") + " Now answering: " : "Answering: ";
      meta.textContent = prefix + ev.provider_name + " · " + ev.model + " (" + ev.tier + " tier" + (ev.source === "platform" ? ", platform" : "") + ")…";
    } else if (ev.kind === "delta") {
      raw += ev.text;
      if (tail) tail.textContent = raw.slice(renderedUpTo).replace(/^\s+/, "");
      else answer.textContent = raw;
    } else if (ev.kind === "rendered") {
      // The HTML covers every delta received so far (the server sends it right after them) but
      // the unfinished last line, which it sends back as `tail` and which stays plain text.
      renderedUpTo = raw.length - ev.tail.length;
      keepHeight();
      answer.innerHTML = ev.html;
      tail = document.createElement("span"); tail.className = "answer-tail";
      tail.textContent = ev.tail;
      answer.appendChild(tail); answer.classList.add("rendered");
    } else if (ev.kind === "fallback") {
      fallbacks.push((ev.provider_name || ev.provider) + " (" + ev.model + ") failed: " + ev.reason + ".");
    } else if (ev.kind === "done" || ev.kind === "error") {
      if (ev.html) {
        keepHeight();
        answer.innerHTML = ev.html; answer.classList.add("rendered"); tail = null;
      }
      if (ev.summary_html) summary.innerHTML = ev.summary_html;
      if (ev.kind === "done") {
        meta.textContent = "Done in " + (ev.latency_ms / 1000).toFixed(1) + " s." + (ev.cache_hit ? " From the cache: no provider call." : "");
        copyButton.hidden = !raw;
      } else {
        meta.textContent = "";
        fail(ev.message + " ");
        if (ev.settings_url) {
          var a = document.createElement("a"); a.href = ev.settings_url; a.textContent = "Set up a provider"; errorBox.appendChild(a);
        }
      }
    }
  }

  function finish() {
    controller = null;
    runButton.disabled = false;
    stopButton.hidden = true;
    answer.setAttribute("aria-busy", "false");
    refreshHistory();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (controller) return;
    live.hidden = false; raw = ""; fallbacks = []; tail = null; renderedUpTo = 0;
    answer.textContent = ""; answer.classList.remove("rendered"); answer.style.minHeight = ""; summary.textContent = "";
    errorBox.hidden = true; errorBox.textContent = ""; copyButton.hidden = true;
    meta.textContent = "Starting…";
    answer.setAttribute("aria-busy", "true");
    runButton.disabled = true; stopButton.hidden = false;
    controller = new AbortController();
    var signal = controller.signal;
    fetch(form.dataset.streamUrl, {method: "POST", body: new FormData(form), credentials: "same-origin", signal: signal}).then(function (resp) {
      if (!resp.ok) {
        return resp.json().then(function (body) {
          var msgs = [];
          for (var k in (body.errors || {})) msgs.push(body.errors[k].join(" "));
          fail(msgs.join(" ") || body.message || ("The request failed (HTTP " + resp.status + ")."));
          meta.textContent = "";
        });
      }
      var reader = resp.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (r) {
          buffer += decoder.decode(r.value || new Uint8Array(), {stream: !r.done});
          var i;
          while ((i = buffer.indexOf("\n")) >= 0) {
            var line = buffer.slice(0, i); buffer = buffer.slice(i + 1);
            if (line) handle(JSON.parse(line));
          }
          if (!r.done) return pump();
        });
      }
      return pump();
    }).catch(function (err) {
      if (signal.aborted) {
        meta.textContent = "Stopped. The partial answer stays below; the run is in your history.";
        copyButton.hidden = !raw;
      } else {
        fail("The connection was lost. Your run is in the history below.");
      }
    }).then(finish);
  });

  stopButton.addEventListener("click", function () { if (controller) controller.abort(); });

  copyButton.addEventListener("click", function () {
    if (!navigator.clipboard) { meta.textContent = "Copying needs a secure (https) page."; return; }
    navigator.clipboard.writeText(raw).then(function () {
      meta.textContent = "Copied the answer to the clipboard.";
    }, function () { meta.textContent = "The browser did not allow copying."; });
  });
})();
