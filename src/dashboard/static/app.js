/**
 * The live network page: draws each `snapshot` the dashboard server sends over server-sent
 * events (src/dashboard/snapshot.ts has its shape). Plain DOM with text only (no HTML from the
 * network is ever parsed) and uPlot for the charts, served by the dashboard itself.
 */
import uPlot from '/vendor/uPlot.esm.js'

const $ = (id) => document.getElementById(id)

/** An element with text and optional class and attributes. */
function el(tag, text, className, attrs = {}) {
  const node = document.createElement(tag)
  if (text !== undefined && text !== null) node.textContent = String(text)
  if (className) node.className = className
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  return node
}

function row(cells, attrs) {
  const tr = el('tr', undefined, undefined, attrs)
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el('td', cell ?? '–'))
  return tr
}

/** Addresses shown as the node's name when the page knows it, shortened otherwise. */
let names = new Map()
const who = (address) => (address === null || address === undefined ? '–' : (names.get(address) ?? short(address)))
const short = (text) => (text.length > 14 ? `${text.slice(0, 8)}…${text.slice(-4)}` : text)
const seconds = (ms) => `${(ms / 1000).toFixed(0)} s`
const tokens = (amount) => {
  // ur3mes to R3MES (10^6), in whole units: amounts are decimal strings of any size.
  const whole = amount.length > 6 ? amount.slice(0, -6) : '0'
  return `${whole} R3MES`
}

const charts = new Map()
function chart(id, label, xLabel, data, wholeX = false) {
  const box = $(id)
  box.dataset.points = String(data[0].length)
  box.dataset.last = data[1].length > 0 ? String(data[1][data[1].length - 1]) : ''
  let plot = charts.get(id)
  if (plot === undefined) {
    plot = new uPlot(
      {
        width: 380,
        height: 180,
        scales: { x: { time: false } },
        axes: [
          {
            stroke: '#8a96a3',
            grid: { stroke: '#2a3440' },
            label: xLabel,
            ...(wholeX ? { incrs: [1, 2, 5, 10, 20, 50, 100] } : {}),
          },
          { stroke: '#8a96a3', grid: { stroke: '#2a3440' } },
        ],
        series: [{ label: xLabel }, { label, stroke: '#5aa9e6', width: 2, points: { show: true, size: 6 } }],
      },
      data,
      box,
    )
    charts.set(id, plot)
  } else plot.setData(data)
}

function drawNodes(snapshot) {
  const body = $('nodes').tBodies[0]
  body.replaceChildren(
    ...snapshot.nodes.map((n) =>
      row(
        [
          n.name,
          n.roles.join(', '),
          el('td', n.up ? 'up' : 'down', n.up ? 'up' : 'down'),
          el('td', n.height, 'height'),
          n.window,
          n.peers,
          n.round,
          n.blockIntervalMs === null ? null : `${n.blockIntervalMs} ms`,
          n.tokensTrained,
          n.memoryBytes === null ? null : `${Math.round(n.memoryBytes / 1048576)} MiB`,
          n.eventLoopLagMs === null ? null : `${n.eventLoopLagMs} ms`,
        ],
        { 'data-node': n.name, 'data-height': n.height ?? '', 'data-up': n.up },
      ),
    ),
  )
}

function drawWindow(w) {
  const box = $('pipelines')
  if (w === null) {
    $('window-detail').textContent = 'no window open'
    box.replaceChildren()
    return
  }
  $('window-detail').textContent =
    `${w.id}: heights ${w.openHeight}–${w.closeHeight}, aggregator ${who(w.aggregator)}, ${w.tasks} tasks, ${w.commits} commits, ${w.reveals} reveals`
  const lines = w.pipelines.map((p) => {
    const line = el('div', undefined, 'pipeline', { 'data-shard': p.shard })
    line.append(el('span', `shard ${p.shard}`, 'shard'))
    p.stages.forEach((s, i) => {
      if (i > 0) {
        const links = p.links.filter((l) => l.fromSubnet === p.stages[i - 1].subnet)
        line.append(el('span', links.map((l) => `${who(l.from)} → ${who(l.to)}`).join('\n'), 'links'))
      }
      const stage = el('div', undefined, 'stage')
      stage.append(el('div', `subnet ${s.subnet}`, 'subnet'))
      for (const m of s.miners) {
        const status = s.claims[m]
        const mark = status ?? (s.committed.includes(m) ? 'committed' : 'training')
        stage.append(el('span', `${who(m)}: ${mark}`, `miner status-${status ?? 'none'}`))
      }
      line.append(stage)
    })
    return line
  })
  if (w.pipelinesNotShown > 0) lines.push(el('p', `and ${w.pipelinesNotShown} more shards`, 'detail'))
  box.replaceChildren(...lines)
}

function drawClaims(claims) {
  $('claims').tBodies[0].replaceChildren(
    ...claims.map((c) =>
      row([c.window, c.revealed, c.accepted, c.flagged, c.challenged, c.slashed, c.aggregates], {
        'data-window': c.window,
      }),
    ),
  )
}

/** The owner's and the challenger's stake; every party's in the cell's tooltip. */
function stakesCell(d) {
  const line = (addresses) =>
    addresses
      .filter((a) => a !== null && d.stakes[a] !== undefined)
      .map((a) => `${who(a)} ${tokens(d.stakes[a])}`)
      .join(', ')
  const cell = el('td', line([d.owner, d.challenger]) || '–')
  cell.title = line(Object.keys(d.stakes))
  return cell
}

function drawDisputes(disputes) {
  $('no-disputes').hidden = disputes.length > 0
  $('disputes').tBodies[0].replaceChildren(
    ...disputes.map((d) =>
      row(
        [
          d.id,
          `${short(d.claimId)}${d.kind === 'availability' ? ' (availability)' : ''}`,
          who(d.owner),
          `${who(d.challenger)} (${tokens(d.bond)})`,
          d.stage === 'l2'
            ? `L2, attempt ${d.attempt}`
            : d.stage === 'l3'
              ? 'L3 panel'
              : d.stage === 'appealable'
                ? 'open to appeal'
                : d.stage,
          who(d.verifier),
          d.panel.map((p) => `${who(p)}${d.votes[p] ? `: ${d.votes[p]}` : ''}`).join(', ') || '–',
          d.outcome ?? 'open',
          el('td', d.slashed.map(who).join(', ') || '–', d.slashed.length > 0 ? 'status-slashed' : ''),
          stakesCell(d),
        ],
        { 'data-dispute': d.id },
      ),
    ),
  )
}

function drawChaos(snapshot) {
  const chaos = snapshot.faults !== null || snapshot.invariants !== null
  $('chaos').hidden = !chaos
  if (!chaos) return
  const faults = snapshot.faults ?? []
  $('faults').replaceChildren(
    ...(faults.length === 0 ? [el('li', 'none fired', 'detail')] : []),
    ...faults.map((f) =>
      el(
        'li',
        `${seconds(f.firedAtMs)} at height ${f.heightAtFire}: ${f.action} ${f.targets.join(', ')}`.trim(),
        undefined,
        { 'data-fault': f.action },
      ),
    ),
  )
  const invariants = snapshot.invariants
  $('invariants').replaceChildren(
    ...(invariants === null
      ? [el('li', 'checked once the run has settled', 'detail')]
      : invariants.map((i) => {
          const item = el('li', undefined, undefined, { 'data-invariant': i.name, 'data-ok': i.ok })
          item.append(el('span', i.ok ? 'ok ' : 'FAIL ', i.ok ? 'ok' : 'fail'), el('span', `${i.name}: ${i.detail}`))
          return item
        })),
  )
}

function draw(snapshot) {
  names = new Map(snapshot.nodes.filter((n) => n.address !== null).map((n) => [n.address, n.name]))
  document.title = `${snapshot.title}: height ${snapshot.height}`
  $('title').textContent = snapshot.title
  $('height').textContent = String(snapshot.height)
  $('window-id').textContent = snapshot.window === null ? '–' : String(snapshot.window.id)
  $('proposer').textContent = snapshot.proposer ?? '–'
  $('stage').textContent = snapshot.stage ?? snapshot.kind
  $('elapsed').textContent = seconds(snapshot.elapsedMs)
  $('supply').textContent =
    snapshot.supply === null ? '–' : `${tokens(snapshot.supply.minted)} / ${tokens(snapshot.supply.slashed)}`
  $('connection').textContent = snapshot.chainStale ? 'live (no node answers the chain queries)' : 'live'
  drawNodes(snapshot)
  drawWindow(snapshot.window)
  drawClaims(snapshot.claims)
  drawDisputes(snapshot.disputes)
  drawChaos(snapshot)
  chart('loss-chart', 'loss', 'window', [snapshot.loss.map((l) => l.window), snapshot.loss.map((l) => l.loss)], true)
  chart('tokens-chart', 'tokens/s', 's', [
    snapshot.tokensPerSecond.map((p) => p[0]),
    snapshot.tokensPerSecond.map((p) => p[1]),
  ])
  chart('height-chart', 'height', 's', [snapshot.heights.map((p) => p[0]), snapshot.heights.map((p) => p[1])])
}

const events = new EventSource('/events')
events.addEventListener('open', () => {
  $('connection').className = 'connection up'
  $('connection').textContent = 'live'
})
events.addEventListener('error', () => {
  $('connection').className = 'connection down'
  $('connection').textContent = 'dashboard unreachable, retrying…'
})
events.addEventListener('snapshot', (event) => draw(JSON.parse(event.data)))
