/** The room's page: plain HTML and the browser's own EventSource, nothing to build. */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>effect-sse room</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 12px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  #state { padding: 2px 8px; border-radius: 10px; background: #999; }
  #state.open { background: #2e9b5b; } #state.connecting { background: #d9921a; } #state.closed { background: #c23b3b; }
  main { display: grid; grid-template-columns: 1fr 240px; gap: 16px; padding: 16px 20px; }
  section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; }
  h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; color: #667; }
  ul { list-style: none; margin: 0; padding: 0; } li { padding: 3px 0; border-bottom: 1px solid #eee; }
  .from { font-weight: 600; } .meta { color: #889; font-size: 12px; }
  form { display: flex; gap: 8px; margin-top: 12px; } input { flex: 1; padding: 6px; }
</style>
</head>
<body>
<header>
  <h1>effect-sse room</h1>
  <span>you are <b id="me"></b></span>
  <span id="state">connecting</span>
  <span class="meta">reconnects: <b id="reconnects">0</b> · last event id: <b id="last-id">none</b></span>
  <button id="drop" type="button">drop my connection</button>
</header>
<main>
  <section>
    <h2>Messages</h2>
    <ul id="messages"></ul>
    <form id="compose"><input id="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
  </section>
  <div>
    <section><h2>Connected</h2><ul id="users"></ul></section>
    <section style="margin-top:16px"><h2>For you</h2><ul id="notices"></ul></section>
  </div>
</main>
<script>
  const user = sessionStorage.getItem("room-user") || "user-" + Math.random().toString(36).slice(2, 7)
  sessionStorage.setItem("room-user", user)
  document.getElementById("me").textContent = user
  const $ = (id) => document.getElementById(id)
  const add = (list, html) => {
    const li = document.createElement("li")
    li.innerHTML = html
    $(list).appendChild(li)
  }
  const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c])
  let opens = 0
  const setState = (state) => { $("state").textContent = state; $("state").className = state }

  const source = new EventSource("/events?user=" + encodeURIComponent(user))
  window.room = { user, source, opens: () => opens }
  source.onopen = () => {
    opens++
    $("reconnects").textContent = String(opens - 1)
    setState("open")
  }
  source.onerror = () => setState(source.readyState === EventSource.CLOSED ? "closed" : "connecting")
  // Unnamed events: the welcome line.
  source.onmessage = (e) => add("messages", '<span class="meta">' + escape(e.data) + "</span>")
  source.addEventListener("chat", (e) => {
    const { from, text } = JSON.parse(e.data)
    $("last-id").textContent = e.lastEventId
    add("messages", '<span class="from">' + escape(from) + "</span>: " + escape(text) +
      ' <span class="meta">#' + escape(e.lastEventId) + "</span>")
  })
  source.addEventListener("presence", (e) => {
    $("users").innerHTML = ""
    for (const u of JSON.parse(e.data).users) add("users", escape(u) + (u === user ? " (you)" : ""))
  })
  source.addEventListener("notice", (e) => add("notices", escape(JSON.parse(e.data).text)))

  $("compose").addEventListener("submit", (e) => {
    e.preventDefault()
    const text = $("text").value.trim()
    if (!text) return
    $("text").value = ""
    fetch("/messages", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: user, text }) })
  })
  $("drop").addEventListener("click", () => fetch("/drop?user=" + encodeURIComponent(user), { method: "POST" }))
</script>
</body>
</html>
`
