// Sổ Tiêm — the complaint form's anti-abuse step: find a number whose SHA-256 together with the
// server's challenge starts with the asked number of zero bits, then let the form be sent.
// About a second on a phone; nothing leaves the page but the number found.
(async () => {
  const form = document.getElementById("complaint-form");
  if (!form) return;
  const status = document.getElementById("pow-status");
  const button = document.getElementById("submit");
  const challenge = form.elements["pow_challenge"].value;
  const bits = Number(form.dataset.difficulty || "0");
  if (!window.crypto || !window.crypto.subtle) {
    status.textContent =
      "Trình duyệt này không làm được bước chống gửi tự động (cần kết nối https): hãy dùng trình duyệt khác.";
    return;
  }
  const encoder = new TextEncoder();
  const zeroBits = (buffer) => {
    let n = 0;
    for (const byte of new Uint8Array(buffer)) {
      if (byte === 0) {
        n += 8;
        continue;
      }
      n += Math.clz32(byte) - 24;
      break;
    }
    return n;
  };
  for (let i = 0; ; i++) {
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(challenge + ":" + i));
    if (zeroBits(digest) >= bits) {
      form.elements["pow_solution"].value = String(i);
      break;
    }
    if (i % 2000 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  button.disabled = false;
  status.textContent = "Sẵn sàng gửi.";
})();
