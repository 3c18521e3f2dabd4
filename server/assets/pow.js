// Sổ Tiêm — the complaint form's anti-abuse step: find a number whose SHA-256 together with the
// server's challenge starts with the asked number of zero bits, then let the form be sent.
// Workers on the phone's cores share the search (pow-worker.js); nothing leaves the page but
// the number found.
(() => {
  const form = document.getElementById("complaint-form");
  if (!form) return;
  const status = document.getElementById("pow-status");
  const button = document.getElementById("submit");
  const challenge = form.elements["pow_challenge"].value;
  const bits = Number(form.dataset.difficulty || "0");
  if (typeof Worker === "undefined") {
    status.textContent =
      "Trình duyệt này không làm được bước chống gửi tự động: hãy dùng trình duyệt khác.";
    return;
  }
  const started = performance.now();
  const count = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 4));
  const workers = [];
  for (let k = 0; k < count; k++) {
    const worker = new Worker("/phan-anh/pow-worker.js");
    worker.onmessage = (event) => {
      if (form.elements["pow_solution"].value) return;
      form.elements["pow_solution"].value = event.data.solution;
      for (const other of workers) other.terminate();
      form.dataset.powMillis = String(Math.round(performance.now() - started));
      button.disabled = false;
      status.textContent = "Sẵn sàng gửi.";
    };
    worker.postMessage({ challenge, bits, start: k, step: count });
    workers.push(worker);
  }
})();
