// Settings > AI providers, progressively enhanced. Without this script every form posts and
// the page comes back to the card with the result at its top.
//  * Verify / Save / Save anyway go to the JSON API in the background: the buttons are disabled,
//    a spinner counts the seconds, the result appears next to the fields (an aria-live region)
//    and the form keeps what was typed.
//  * The model list gets a search box; tier fields warn when a model was not listed.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function payloadOf(form) {
    var prefix = form.dataset.prefix, body = {provider: form.dataset.provider};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name.indexOf(prefix) !== 0 || el.type === "submit") return;
      body[el.name.slice(prefix.length)] = el.value;
    });
    return body;
  }

  function show(box, level, text) {
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "notice " + level;
    p.textContent = text;
    box.appendChild(p);
  }

  function errorText(name, errors) {
    var parts = [];
    Object.keys(errors || {}).forEach(function (field) {
      var label = field === "__all__" ? "" : field.replace(/_/g, " ") + ": ";
      parts.push(label + errors[field].join(" "));
    });
    return name + ": " + (parts.join(" ") || "the request failed.") + " Nothing was changed.";
  }

  // The models a verify or save reported: listed under the result and offered in the card's
  // datalist, so the default model can be picked from them right away.
  function showModels(form, box, models) {
    if (!models || !models.length) return;
    var list = document.createElement("ul");
    list.className = "model-list";
    list.setAttribute("aria-label", form.dataset.name + " models");
    var datalist = document.getElementById("models-" + form.dataset.provider);
    var known = {};
    if (datalist) Array.prototype.forEach.call(datalist.options, function (o) { known[o.value] = true; });
    models.forEach(function (m) {
      var li = document.createElement("li"), code = document.createElement("code");
      code.textContent = m; li.appendChild(code); list.appendChild(li);
      if (datalist && !known[m]) { var o = document.createElement("option"); o.value = m; datalist.appendChild(o); }
    });
    box.appendChild(list);
  }

  function setBadge(form, credential) {
    var badge = form.closest(".provider").querySelector("[data-badge]");
    if (!badge || !credential) return;
    var words = {verified: "Verified", failed: "Failed", unverified: "Unverified"};
    badge.textContent = words[credential.status] || credential.status;
    badge.className = "badge badge-" + credential.status;
  }

  function enhanceCredentialForm(form) {
    var box = form.querySelector("[data-form-result]"), progress = form.querySelector("[data-progress]"),
        elapsed = form.querySelector("[data-elapsed]"), buttons = form.querySelectorAll("button[type=submit]"),
        name = form.dataset.name;
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (!submitter || !window.fetch) return;  // old browser: the normal post
      event.preventDefault();
      var verify = submitter.value === "verify", body = payloadOf(form);
      if (submitter.name === "save_unverified") body.save_unverified = true;
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      form.setAttribute("aria-busy", "true");
      var started = Date.now();
      progress.hidden = false;
      elapsed.textContent = verify ? "Verifying… 0 s" : "Saving… 0 s";
      var timer = setInterval(function () {
        elapsed.textContent = (verify ? "Verifying… " : "Saving… ") + Math.round((Date.now() - started) / 1000) + " s";
      }, 1000);
      box.textContent = "";
      fetch(verify ? form.dataset.verifyApi : form.dataset.saveApi, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(form)},
        body: JSON.stringify(body)
      }).then(function (resp) {
        return resp.json().then(function (data) { return {status: resp.status, data: data}; });
      }).then(function (r) {
        var d = r.data;
        if (r.status >= 400 && r.status !== 422) {  // 422: configure answered, nothing saved
          show(box, "error", errorText(name, d.errors));
        } else if (verify) {
          show(box, d.ok ? "success" : "error", name + ": " + d.message + " (Nothing was saved.)");
          showModels(form, box, d.models);
        } else if (!d.saved) {
          show(box, "error", name + ": " + d.message + " Nothing was saved; your stored credential is unchanged.");
        } else {
          show(box, d.ok ? "success" : "warning", name + (d.ok ? ": saved. " : ": saved without verification. ") + d.message +
               (d.ok ? "" : " Agents will not use it until it verifies."));
          showModels(form, box, d.models);
          if (d.ok && !form.closest(".provider").querySelector(".preferences-form")) {
            // A first credential: the model choices appear on the card once the page reloads.
            var more = document.createElement("a");
            more.href = window.location.pathname + "#provider-" + form.dataset.provider;
            more.textContent = "Choose " + name + " models for the agents";
            more.addEventListener("click", function (e) { e.preventDefault(); window.location.hash = "provider-" + form.dataset.provider; window.location.reload(); });
            box.appendChild(more);
          }
          setBadge(form, d.credential);
          // Secrets leave the page once stored; the other fields keep what was typed.
          form.querySelectorAll("input[type=password]").forEach(function (el) { el.value = ""; });
        }
      }).catch(function () {
        show(box, "error", name + ": the request did not complete (connection lost). Nothing was changed.");
      }).then(function () {
        clearInterval(timer);
        progress.hidden = true;
        form.removeAttribute("aria-busy");
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      });
    });
  }

  function enhanceModelList(box) {
    var search = box.querySelector("[data-model-search]"), list = box.querySelector("[data-model-list]");
    if (!search || !list) return;
    search.hidden = false;
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase();
      Array.prototype.forEach.call(list.children, function (li) {
        li.hidden = q !== "" && li.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }

  function enhancePreferences(form) {
    var listed = (form.dataset.listed || "").split(" ").filter(Boolean);
    if (!listed.length) return;
    form.querySelectorAll("input[list]").forEach(function (input) {
      var warning = input.parentNode.querySelector("[data-unlisted]");
      function check() {
        var v = input.value.trim();
        warning.textContent = v && listed.indexOf(v) < 0 ? "The provider did not list this model; agents will still try it." : "";
      }
      input.addEventListener("input", check);
      check();
    });
  }

  document.querySelectorAll("form.credential-form").forEach(enhanceCredentialForm);
  document.querySelectorAll("[data-models]").forEach(enhanceModelList);
  document.querySelectorAll("form.preferences-form").forEach(enhancePreferences);
})();
