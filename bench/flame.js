// Reading a V8 CPU profile (the .cpuprofile `node --cpu-prof` writes): the functions that cost the
// most, by where they come from, and a flame graph as a self-contained SVG (no dependency, no
// script: hover a frame for its name and share). Used by `npm run bench:profile`.
import { basename } from 'node:path'

/** Where a frame's code comes from, for the summary and the colours. */
const ORIGINS = [
  ['fastify-weapp', /\/dist\/[^/]+\.js$|\/dist\/(platforms|upstream)\//, '#e8743b'],
  ['bench', /\/bench\//, '#b07aa1'],
  // The server's only WebAssembly is undici's HTTP parser (llhttp).
  ['undici', /node_modules\/undici\/|^wasm:/, '#4e79a7'],
  ['ioredis', /node_modules\/(ioredis|@ioredis|redis-parser|denque|cluster-key-slot)\//, '#9c755f'],
  ['fastify', /node_modules\/(fastify|@fastify|fast-json-stringify|find-my-way|avvio|light-my-request|ajv|fast-uri|json-schema-ref-resolver|secure-json-parse|fast-querystring|toad-cache|abstract-logging|pino|rfdc|process-warning|fast-decode-uri-component|safe-regex2|ret|fastq|reusify)/, '#59a14f'],
  ['node', /^node:|^internal\/|^$/, '#bab0ac']
]

/** The origin of a frame by its script's URL (a V8 builtin or native code has none: node). */
export function originOf (url) {
  for (const [name, pattern] of ORIGINS) if (pattern.test(url)) return name
  return 'other'
}

const colourOf = (origin) => ORIGINS.find(([name]) => name === origin)?.[2] ?? '#76b7b2'

/** A frame's label: its function and, for code in a file, the file's name and line. */
function labelOf ({ functionName, url, lineNumber }) {
  const name = functionName === '' ? '(anonymous)' : functionName
  return url === '' ? name : `${name} ${basename(url)}:${lineNumber + 1}`
}

/**
 * The profile as a tree of { label, origin, self, total } in samples, without `(idle)` (the event
 * loop waiting is no work), and the total of the samples kept.
 */
export function treeOf (profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const build = (node) => {
    const children = (node.children ?? []).map((id) => byId.get(id)).filter((child) => child.callFrame.functionName !== '(idle)').map(build)
    const self = node.hitCount ?? 0
    return { label: labelOf(node.callFrame), origin: originOf(node.callFrame.url), self, total: self + children.reduce((sum, c) => sum + c.total, 0), children }
  }
  const root = build(profile.nodes[0])
  return { root, samples: root.total }
}

/**
 * The functions that cost the most: self time (samples in the function itself) and inclusive time
 * (samples with it anywhere on the stack, counted once per stack), in percent of the work, and the
 * work by origin (self time).
 */
export function summarize (profile, top = 20) {
  const { root, samples } = treeOf(profile)
  const self = new Map()
  const inclusive = new Map()
  const origins = new Map()
  const walk = (node, onStack) => {
    self.set(node.label, (self.get(node.label) ?? 0) + node.self)
    origins.set(node.origin, (origins.get(node.origin) ?? 0) + node.self)
    // Inclusive: a recursive function counts once, at its outermost frame.
    if (!onStack.has(node.label)) inclusive.set(node.label, (inclusive.get(node.label) ?? 0) + node.total)
    const below = new Set(onStack).add(node.label)
    for (const child of node.children) walk(child, below)
  }
  for (const child of root.children) walk(child, new Set())
  const pct = (n) => (100 * n / samples).toFixed(1)
  const rank = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([label, n]) => `| ${pct(n)}% | ${label} |`)
  return [
    `${samples} samples of work (idle left out)`,
    '', '| self | function (file:line) |', '|---:|---|', ...rank(self),
    '', '| inclusive | function (file:line) |', '|---:|---|', ...rank(inclusive),
    '', '| self | origin |', '|---:|---|', ...[...origins].sort((a, b) => b[1] - a[1]).map(([origin, n]) => `| ${pct(n)}% | ${origin} |`)
  ].join('\n')
}

const escape = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/**
 * A flame graph: the stacks from the bottom up, each frame as wide as its share of the samples,
 * coloured by origin. Frames narrower than `minWidth` pixels are left out (their time stays in
 * their parent's width).
 */
export function flameGraph (profile, { title, width = 1200, frameHeight = 16, minWidth = 0.6 } = {}) {
  const { root, samples } = treeOf(profile)
  const scale = (width - 20) / samples
  const rects = []
  let depth = 0
  const place = (node, x, level) => {
    const w = node.total * scale
    if (w < minWidth) return
    depth = Math.max(depth, level)
    rects.push({ node, x, w, level })
    let at = x
    for (const child of [...node.children].sort((a, b) => a.label.localeCompare(b.label))) {
      place(child, at, level + 1)
      at += child.total * scale
    }
  }
  place({ ...root, label: `all work (${samples} samples)`, origin: 'node' }, 10, 0)
  const top = 50
  const height = top + (depth + 1) * frameHeight + 40
  const y = (level) => height - 40 - (level + 1) * frameHeight
  const legend = ORIGINS.map(([name, , colour], i) => `<rect x="${10 + i * 150}" y="${height - 24}" width="12" height="12" fill="${colour}"/><text x="${26 + i * 150}" y="${height - 14}">${name}</text>`).join('')
  const frames = rects.map(({ node, x, w, level }) => {
    const share = (100 * node.total / samples).toFixed(1)
    const chars = Math.floor((w - 6) / 6.5)
    const text = chars < 3 ? '' : `<text x="${(x + 3).toFixed(1)}" y="${y(level) + 12}">${escape(node.label.length > chars ? `${node.label.slice(0, chars - 2)}..` : node.label)}</text>`
    return `<g><title>${escape(node.label)}: ${share}% (${node.origin})</title><rect x="${x.toFixed(1)}" y="${y(level)}" width="${w.toFixed(1)}" height="${frameHeight - 1}" fill="${colourOf(node.origin)}" rx="2"/>${text}</g>`
  }).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Verdana, sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="${width / 2}" y="24" font-size="16" text-anchor="middle">${escape(title ?? 'CPU profile')}</text>
<text x="${width / 2}" y="42" text-anchor="middle" fill="#555">Each frame is as wide as its share of the server's work (idle left out); callers below, callees above. Hover for the share.</text>
${frames}
${legend}
</svg>
`
}
