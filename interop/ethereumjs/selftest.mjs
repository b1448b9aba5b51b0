#!/usr/bin/env node
// Self-test of rlpx-peer.mjs: runs two instances against each other on
// loopback and prints the merged event transcript.
//   node selftest.mjs [cap]      (cap defaults to demo/1; try eth/68 too)
// Exits 0 when the expected events were seen, 1 otherwise.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const script = join(dirname(fileURLToPath(import.meta.url)), 'rlpx-peer.mjs')
const cap = process.argv[2] ?? 'demo/1'
const t0 = Date.now()

function start(name, args) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const events = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    console.log(`${String(Date.now() - t0).padStart(5)}ms ${name} < ${line}`)
    const ev = JSON.parse(line)
    events.push(ev)
    for (const w of [...waiters]) {
      if (w.pred(ev)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(ev)
      }
    }
  })
  const exited = new Promise((r) => child.on('exit', (code) => r(code)))
  return {
    child,
    events,
    exited,
    send(cmd) {
      console.log(`${String(Date.now() - t0).padStart(5)}ms ${name} > ${cmd}`)
      child.stdin.write(`${cmd}\n`)
    },
    wait(pred, ms = 8000) {
      const found = events.find(pred)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const w = { pred, resolve }
        waiters.push(w)
        setTimeout(() => reject(new Error(`${name}: timed out waiting`)), ms).unref()
      })
    },
  }
}

const is = (name, extra = () => true) => (e) => e.event === name && extra(e)

let ok = true
const a = start('A', ['--key', randomBytes(32).toString('hex'), '--listen', '0', '--cap', cap])
const b = await (async () => {
  const l = await a.wait(is('listening'))
  return start('B', [
    '--key', randomBytes(32).toString('hex'),
    '--dial', `enode://${l.id}@127.0.0.1:${l.port}`,
    '--cap', cap,
  ])
})()
try {
  await Promise.all([a.wait(is('hello')), b.wait(is('hello'))])
  b.send('ping')
  await Promise.all([a.wait(is('ping')), b.wait(is('pong'))])
  a.send('ping')
  await Promise.all([b.wait(is('ping')), a.wait(is('pong'))])
  a.send('disconnect 4')
  const [da, db] = await Promise.all([a.wait(is('disconnect')), b.wait(is('disconnect'))])
  if (!(da.reason === 4 && da.byUs === true && db.reason === 4 && db.byUs === false)) {
    console.log('unexpected disconnect events')
    ok = false
  }
} catch (e) {
  console.log(String(e))
  ok = false
}
a.send('quit')
b.send('quit')
const codes = await Promise.all([a.exited, b.exited])
console.log(`exit codes: A=${codes[0]} B=${codes[1]}`)
console.log(ok && codes.every((c) => c === 0) ? 'selftest: OK' : 'selftest: FAILED')
process.exit(ok && codes.every((c) => c === 0) ? 0 : 1)
