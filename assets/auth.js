// Login and refusals for Dash callbacks: a 401 (session ended) goes to the login page; a 400/403/413
// from the server's guard shows its message in one alert instead of a silent failure.
(function () {
  const originalFetch = window.fetch;
  function show(message) {
    let box = document.getElementById("app-request-refused");
    if (!box) {
      box = document.createElement("div");
      box.id = "app-request-refused";
      box.className = "alert alert-danger py-1 m-2 position-fixed bottom-0 end-0";
      box.style.zIndex = 2000;
      box.setAttribute("role", "alert");
      box.addEventListener("click", function () { box.remove(); });
      document.body.appendChild(box);
    }
    box.textContent = message;
  }
  window.fetch = function (input, init) {
    return originalFetch.apply(this, arguments).then(function (response) {
      const url = typeof input === "string" ? input : (input && input.url) || "";
      if (url.indexOf("_dash-update-component") >= 0 && [400, 401, 403, 413, 429].indexOf(response.status) >= 0) {
        if (response.status === 401) {
          window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
        } else {
          response.clone().json().then(function (body) {
            show((body && body.error) || ("refused (HTTP " + response.status + ")"));
          }).catch(function () { show("refused (HTTP " + response.status + ")"); });
        }
      }
      return response;
    });
  };
})();
