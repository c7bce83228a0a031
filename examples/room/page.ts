/**
 * The room's page: plain HTML and the browser's own EventSource, nothing to build. `user` is the identity the
 * server gave this browser (letters, digits and dashes only).
 */
export const page = (user: string): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>effect-sse room</title>
<style>
  * { box-sizing: border-box; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; flex-wrap: wrap; gap: 6px 14px;
    align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  #state { padding: 2px 8px; border-radius: 10px; background: #999; }
  #state.open { background: #2e9b5b; } #state.connecting, #state.reconnecting { background: #d9921a; }
  #state.closed { background: #c23b3b; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) 240px; gap: 16px; padding: 16px; }
  @media (max-width: 640px) { main { grid-template-columns: minmax(0, 1fr); padding: 10px; } }
  section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; }
  aside section + section { margin-top: 16px; }
  h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; color: #667; }
  ul { list-style: none; margin: 0; padding: 0; } li { padding: 3px 0; border-bottom: 1px solid #eee;
    overflow-wrap: anywhere; }
  .from { font-weight: 600; } .meta { color: #778; font-size: 12px; }
  li.replayed { background: #eef4ff; } li.replayed .meta::after { content: " · replayed"; color: #3a6fd8; }
  #banner:empty { display: none; }
  #banner { margin-bottom: 8px; padding: 6px 10px; border-radius: 6px; background: #eef4ff; }
  #banner.gap { background: #fff3dc; border: 1px solid #d9921a; }
  #users.offline { color: #999; }
  form { display: flex; gap: 8px; margin-top: 12px; } input { flex: 1; min-width: 0; padding: 6px; }
  #error { color: #c23b3b; min-height: 1.4em; margin: 4px 0 0; }
  button { white-space: nowrap; }
</style>
</head>
<body>
<header>
  <h1>effect-sse room</h1>
  <span>you are <b id="me">${user}</b></span>
  <span id="state" class="connecting">connecting</span>
  <span class="meta">reconnects: <b id="reconnects">0</b> · last event id: <b id="last-id">none</b></span>
  <button id="drop" type="button">drop my connection</button>
</header>
<main>
  <section>
    <h2>Messages</h2>
    <div id="banner"></div>
    <ul id="messages"></ul>
    <form id="compose"><input id="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
    <p id="error" role="alert"></p>
  </section>
  <aside>
    <section><h2>Connected</h2><ul id="users"></ul></section>
    <section><h2>For you</h2><ul id="notices"></ul></section>
  </aside>
</main>
<script>
  const user = ${JSON.stringify(user)}
  const $ = (id) => document.getElementById(id)
  const item = (list, parts, className) => {
    const li = document.createElement("li")
    if (className) li.className = className
    for (const [text, cls] of parts) {
      const span = document.createElement("span")
      span.textContent = text
      if (cls) span.className = cls
      li.append(span)
    }
    $(list).append(li)
    return li
  }
  let opens = 0
  // After a reconnection, what arrives before the server's "resumed" (or a gap, or a welcome) was missed: replayed.
  let replaying = false
  let welcomed = false
  const chats = []
  const setState = (state) => { $("state").textContent = state; $("state").className = state }
  const banner = (text, className) => { $("banner").textContent = text; $("banner").className = className || "" }

  const source = new EventSource("/events")
  window.room = { user, source, opens: () => opens, chats }
  source.onopen = () => {
    opens++
    replaying = opens > 1
    $("reconnects").textContent = String(opens - 1)
    setState("open")
  }
  source.onerror = () => {
    const closed = source.readyState === EventSource.CLOSED
    setState(closed ? "closed" : "reconnecting")
    if (closed) banner("the server refused the connection: reload the page", "gap")
    // Who is here is unknown until the connection is back; the list is refreshed then.
    $("users").className = "offline"
    $("users").replaceChildren()
    item("users", [["(offline: waiting for the connection)"]])
  }
  source.addEventListener("welcome", (e) => {
    replaying = false
    if (welcomed) return
    welcomed = true
    item("messages", [["welcome, " + JSON.parse(e.data).user, "meta"]])
  })
  source.addEventListener("resumed", (e) => {
    replaying = false
    const { count } = JSON.parse(e.data)
    banner(count === 0 ? "reconnected: nothing was missed" : "reconnected: " + count + " missed event(s) replayed")
  })
  source.addEventListener("effect-sse:replay-gap", (e) => {
    replaying = false
    const { lastEventId, reason } = JSON.parse(e.data)
    banner("messages after #" + lastEventId + " could not be recovered (" + reason +
      "): what is shown may be incomplete", "gap")
  })
  source.addEventListener("chat", (e) => {
    const { from, text } = JSON.parse(e.data)
    chats.push({ id: e.lastEventId, from, text, replayed: replaying })
    $("last-id").textContent = e.lastEventId
    const li = item("messages", [[from, "from"], [": " + text + " "], ["#" + e.lastEventId, "meta"]],
      replaying ? "replayed" : "")
    li.dataset.id = e.lastEventId
  })
  source.addEventListener("presence", (e) => {
    $("users").className = ""
    $("users").replaceChildren()
    for (const u of JSON.parse(e.data).users) item("users", [[u + (u === user ? " (you)" : "")]])
  })
  source.addEventListener("notice", (e) => item("notices", [[JSON.parse(e.data).text]], replaying ? "replayed" : ""))

  $("compose").addEventListener("submit", async (e) => {
    e.preventDefault()
    const text = $("text").value
    try {
      const response = await fetch("/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text })
      })
      if (!response.ok) {
        // The text stays in the input, to fix or send again.
        $("error").textContent = "not sent: " + await response.text()
        return
      }
      $("error").textContent = ""
      if ($("text").value === text) $("text").value = ""
    } catch {
      $("error").textContent = "not sent: the server cannot be reached; try again when it is back"
    }
  })
  $("drop").addEventListener("click", () => fetch("/drop", { method: "POST" }))
</script>
</body>
</html>
`
