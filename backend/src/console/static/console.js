// Live updates for the console: the queue and a conversation, through server-sent events.
// No framework, no CDN; text is always set with textContent.
"use strict";

function csrf() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function claimForm(id) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = "/tickets/" + id + "/claim";
  form.className = "inline";
  for (const [name, value] of [["csrf", csrf()], ["key", crypto.randomUUID()]]) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "claim";
  button.textContent = "Claim";
  form.appendChild(button);
  return form;
}

function liveQueue(table) {
  const rows = document.getElementById("queue-rows");
  const source = new EventSource(table.dataset.live);
  source.addEventListener("queue", (event) => {
    const queue = JSON.parse(event.data);
    document.getElementById("online").textContent = queue.operators_online;
    rows.replaceChildren();
    if (queue.tickets.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = cell("No one is waiting.");
      td.colSpan = 8;
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    for (const t of queue.tickets) {
      const tr = document.createElement("tr");
      tr.dataset.ticket = t.id;
      tr.dataset.state = t.state;
      tr.appendChild(cell(t.position || ""));
      const link = document.createElement("a");
      link.href = "/tickets/" + t.id;
      link.textContent = t.id;
      const idCell = document.createElement("td");
      idCell.appendChild(link);
      tr.appendChild(idCell);
      tr.appendChild(cell(t.buyer_name || "not signed in"));
      tr.appendChild(cell(t.reason));
      tr.appendChild(cell(t.channel));
      tr.appendChild(cell(t.created_at.slice(11, 19)));
      tr.appendChild(cell(t.state + (t.operator_id ? " (" + t.operator_id + ")" : "")));
      const actions = document.createElement("td");
      if (t.state === "waiting") actions.appendChild(claimForm(t.id));
      tr.appendChild(actions);
      rows.appendChild(tr);
    }
  });
}

function liveTranscript(list) {
  const seen = list.dataset.seen || "0";
  const source = new EventSource(list.dataset.live + "?seen=" + seen);
  source.addEventListener("lines", (event) => {
    const data = JSON.parse(event.data);
    for (const line of data.lines) {
      const li = document.createElement("li");
      li.className = "line " + line.party;
      const at = document.createElement("span");
      at.className = "at";
      at.textContent = line.at;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = line.text;
      li.append(at, " ", text);
      list.appendChild(li);
    }
    list.dataset.seen = data.seen;
    list.scrollTop = list.scrollHeight;
  });
  source.addEventListener("ticket", () => {
    // Claimed, released, transferred or closed elsewhere: show the new buttons.
    source.close();
    window.location.reload();
  });
}

function ajaxReply(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData(form);
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
      credentials: "same-origin",
    });
    if (response.ok) {
      form.querySelector("textarea").value = "";
      form.querySelector('input[name="key"]').value = crypto.randomUUID();
    } else {
      const problem = await response.json().catch(() => ({}));
      alert(problem.detail || "Not sent.");
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const queue = document.querySelector("table.queue[data-live]");
  if (queue) liveQueue(queue);
  const transcript = document.getElementById("transcript");
  if (transcript) liveTranscript(transcript);
  const reply = document.getElementById("reply-form");
  if (reply) ajaxReply(reply);
});
