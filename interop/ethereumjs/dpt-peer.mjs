#!/usr/bin/env node
// Discovery v4 interop peer built on @ethereumjs/devp2p's DPT, driven over
// stdin/stdout by the Rust interop test.
//
//   node dpt-peer.mjs --key <64 hex>
//
// Listens on 127.0.0.1, on a port the system picks.
//
// stdout: one JSON object per line:
//   {"event":"listening","port":n,"id":"<128 hex>"}
//   {"event":"peer:added","id":"<128 hex>","address":...,"udpPort":n}
//   {"event":"peer:removed","id":...}
//   {"event":"peers","peers":[{"id":...,"address":...,"udpPort":n,"tcpPort":n|null},...]}
//   {"event":"bootstrapped","id":"<128 hex>"} / {"event":"error","message":"..."}
// stdin (one command per line):
//   `bootstrap <128 hex id> <ip> <udp port>`: dpt.bootstrap(): ping it unless
//     it is in the table already, then send it a FindNeighbours for our own
//     id (the answer's nodes are added to the table as DPT does itself);
//   `peers`: report the table; `quit`.
// The process exits on `quit`, when stdin closes, and after HARD_TIMEOUT_MS.
//
// Behaviour of @ethereumjs/devp2p 10.0.0 this relies on (dist/esm/dpt/*.js):
// - A Ping from a node not in the table makes it, 100 ms later, ping the
//   Ping's `from` endpoint and add the node to its table if it answers.
// - FindNeighbours is answered without any bond; Neighbours answers are
//   added to the table by pinging each node (200 ms apart).
// - Expiration is never checked; timestamps are 4 bytes, now + 60 s.
// - ENRRequest (type 5) is not understood: decode throws, the server emits
//   `error` (reported here, not fatal).
// - The socket is made and bound here and handed to DPT through the public
//   `createSocket` option, so that the Ping `from` endpoint (the public
//   `endpoint` option) carries the real port from the start.
import { createSocket } from 'node:dgram'
import { createInterface } from 'node:readline'

import { DPT } from '@ethereumjs/devp2p'

const hexToBytes = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'))
const bytesToHex = (bytes) => Buffer.from(bytes).toString('hex')

const HARD_TIMEOUT_MS = 60_000

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

function fail(message) {
  emit({ event: 'error', message })
  process.exit(2)
}

const args = process.argv.slice(2)
if (args.length !== 2 || args[0] !== '--key' || !/^[0-9a-fA-F]{64}$/.test(args[1])) {
  fail('usage: dpt-peer.mjs --key <64 hex>')
}
const key = hexToBytes(args[1])

function peerArgs(parts) {
  const [id, address, port] = parts
  if (!/^[0-9a-fA-F]{128}$/.test(id ?? '')) fail(`bad id ${id}`)
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address ?? '')) fail('only loopback (127.0.0.0/8)')
  if (!/^\d+$/.test(port ?? '')) fail(`bad port ${port}`)
  return { id: hexToBytes(id), address, udpPort: Number(port), tcpPort: null }
}

function describe(peer) {
  return {
    id: peer.id ? bytesToHex(peer.id) : null,
    address: peer.address,
    udpPort: peer.udpPort,
    tcpPort: peer.tcpPort ?? null,
  }
}

const socket = createSocket({ type: 'udp4' })
socket.bind(0, '127.0.0.1', () => {
  const port = socket.address().port
  const dpt = new DPT(key, {
    endpoint: { address: '127.0.0.1', udpPort: port, tcpPort: null },
    createSocket: () => socket,
    // Only what the test asks for: no periodic refresh in its time frame.
    refreshInterval: 600_000,
    timeout: 2_000,
  })
  dpt.events.on('peer:added', (peer) => emit({ event: 'peer:added', ...describe(peer) }))
  dpt.events.on('peer:removed', (peer) => emit({ event: 'peer:removed', ...describe(peer) }))
  dpt.events.on('error', (err) => emit({ event: 'error', message: String(err?.message ?? err) }))
  emit({ event: 'listening', port, id: bytesToHex(dpt.id) })

  const quit = () => {
    try {
      dpt.destroy()
    } catch {}
    process.exit(0)
  }
  setTimeout(quit, HARD_TIMEOUT_MS).unref()

  const rl = createInterface({ input: process.stdin })
  rl.on('close', quit)
  rl.on('line', (line) => {
    const [cmd, ...rest] = line.trim().split(/\s+/)
    switch (cmd) {
      case 'bootstrap': {
        const peer = peerArgs(rest)
        dpt.bootstrap(peer).then(() => emit({ event: 'bootstrapped', id: rest[0] }))
        break
      }
      case 'peers':
        emit({ event: 'peers', peers: dpt.getPeers().map(describe) })
        break
      case 'quit':
        quit()
        break
      default:
        emit({ event: 'error', message: `unknown command ${cmd}` })
    }
  })
})
