// Progressive enhancement: stream the answer into this page. Without this script (or without
// fetch streams) the form posts normally and the answer page streams in on its own.
(function () {
  var form = document.getElementById("forge-form");
  if (!form || !window.fetch || !window.ReadableStream || !window.TextDecoder) return;
  var live = document.getElementById("live"), meta = document.getElementById("live-meta"),
      answer = document.getElementById("live-answer"), fallbacks = document.getElementById("live-fallbacks"),
      errorBox = document.getElementById("live-error");
  function li(text) { var el = document.createElement("li"); el.textContent = text; fallbacks.appendChild(el); }
  function handle(ev) {
    if (ev.kind === "candidate") {
      meta.textContent = "Answering: " + ev.provider_name + " · " + ev.model + " (" + ev.tier + " tier" + (ev.source === "platform" ? ", platform" : "") + ")";
    } else if (ev.kind === "delta") {
      answer.textContent += ev.text;
    } else if (ev.kind === "fallback") {
      li("Skipped " + ev.provider + " " + ev.model + ": " + ev.reason);
    } else if (ev.kind === "done") {
      meta.textContent = "Answered by " + (ev.provider_name || ev.provider) + " · " + ev.model + " (" + ev.tier + " tier) in " + ev.latency_ms +
        " ms; tokens " + (ev.input_tokens == null ? "–" : ev.input_tokens) + " in / " + (ev.output_tokens == null ? "–" : ev.output_tokens) + " out." + (ev.cache_hit ? " From the cache: no provider call." : "");
    } else if (ev.kind === "error") {
      errorBox.textContent = ev.message + " ";
      if (ev.settings_url) { var a = document.createElement("a"); a.href = ev.settings_url; a.textContent = "Set up a provider"; errorBox.appendChild(a); }
    }
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    live.hidden = false; answer.textContent = ""; fallbacks.textContent = ""; errorBox.textContent = ""; meta.textContent = "Starting…";
    var button = form.querySelector("button[type=submit]"); button.disabled = true;
    fetch(form.dataset.streamUrl, {method: "POST", body: new FormData(form), credentials: "same-origin"}).then(function (resp) {
      if (!resp.ok) {
        return resp.json().then(function (body) {
          var msgs = []; for (var k in (body.errors || {})) msgs.push(k + ": " + body.errors[k].join(" "));
          errorBox.textContent = msgs.join("; ") || body.message || ("Request failed (" + resp.status + ")"); meta.textContent = "";
        });
      }
      var reader = resp.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (r) {
          buffer += decoder.decode(r.value || new Uint8Array(), {stream: !r.done});
          var i;
          while ((i = buffer.indexOf("\n")) >= 0) { var line = buffer.slice(0, i); buffer = buffer.slice(i + 1); if (line) handle(JSON.parse(line)); }
          if (!r.done) return pump();
        });
      }
      return pump();
    }).catch(function () { errorBox.textContent = "The connection was lost. Your run is in the history below."; })
      .finally(function () { button.disabled = false; });
  });
})();
