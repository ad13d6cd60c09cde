// Prints the size of every built file (raw and gzip) and writes dist/sizes.json.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const root = new URL('../dist/', import.meta.url).pathname
const rows = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (/\.(js|css|html)$/.test(name)) {
      const bytes = readFileSync(path)
      rows.push({ file: path.slice(root.length), raw: bytes.length, gzip: gzipSync(bytes).length })
    }
  }
}
walk(root)
rows.sort((a, b) => b.gzip - a.gzip)
const kb = (n) => (n / 1024).toFixed(1).padStart(8)
console.log('file'.padEnd(48), '     raw KiB', '   gzip KiB')
for (const r of rows) console.log(r.file.padEnd(48), kb(r.raw), '  ', kb(r.gzip))
const total = rows.reduce((s, r) => ({ raw: s.raw + r.raw, gzip: s.gzip + r.gzip }), { raw: 0, gzip: 0 })
console.log('total'.padEnd(48), kb(total.raw), '  ', kb(total.gzip))
writeFileSync(join(root, 'sizes.json'), JSON.stringify({ files: rows, total }, null, 1))
