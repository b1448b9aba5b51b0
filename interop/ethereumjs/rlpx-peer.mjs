#!/usr/bin/env node
// RLPx interop peer built on @ethereumjs/devp2p, driven over stdin/stdout by
// the Rust interop test.
//
//   node rlpx-peer.mjs --key <64 hex> [--listen <port>] [--dial <enode>] [--cap eth/68|demo/1]
//
// stdout: one JSON object per line:
//   {"event":"listening","port":<n|null>,"id":"<128 hex>"}
//   {"event":"hello","id":...,"clientId":...,"protocolVersion":n,"capabilities":[[name,ver],...],"port":n}
//   {"event":"snappy","on":bool}
//   {"event":"ping"} / {"event":"pong"}
//   {"event":"disconnect","reason":n,"byUs":bool}
//   {"event":"message","cap":"demo","code":n,"payload":"<hex>"}
//   {"event":"error","message":"..."}
// stdin (one command per line):
//   `ping`, `disconnect <n>`, `quit`,
//   `send <code> <hex payload>`: send a message on the demo capability; code
//     is relative to the capability (0..DEMO_LENGTH-1), payload the message's
//     raw RLP bytes in hex (may be empty). Snappy-compressed iff the remote
//     Hello's protocolVersion >= 5, as ETH.sendMessage does.
// With --cap demo/1, every message received on the demo capability is
// reported as a `message` event (code relative to the capability, payload
// after snappy decompression, i.e. the raw RLP bytes the remote sent).
// The process exits on `quit`, when stdin closes, and after HARD_TIMEOUT_MS.
//
// Behaviour of @ethereumjs/devp2p 10.0.0 that this relies on (read from
// dist/esm/rlpx/peer.js, rlpx.js, ecies.js, protocol/*.js):
// - Hello: [5, clientId, caps, listenPort or empty bytes, id]; p2p version 5.
// - Snappy: there is no `_compressed` flag. Every message after Hello (Ping,
//   Pong, sub-protocol messages) is compressed / decompressed iff the REMOTE
//   Hello's protocolVersion >= 5; we report exactly that condition.
// - Disconnect is sent as RLP(reason) (a bare integer, no list), never
//   compressed. Received Disconnects are decompressed first and, if RLP
//   decoding of that fails, decoded raw (a "hotfix" in Peer._handleBody).
// - Any exception while decoding a frame (bad MAC, snappy or RLP error)
//   -> Disconnect SUBPROTOCOL_ERROR (0x10). A non-Hello/Disconnect frame before
//   Hello, or a message id beyond the shared capabilities -> PROTOCOL_ERROR (2).
//   No shared capability -> USELESS_PEER (3).
// - After the remote Hello it pings every 15 s; if no Pong arrives within
//   `timeout` (10 s default) it disconnects with TIMEOUT (0x0b).
// - The ETH sub-protocol (any Protocol subclass except SNAP) starts a 5 s timer
//   when it is instantiated (on receipt of the remote Hello): unless a STATUS
//   has been both sent and received by then, it disconnects with TIMEOUT
//   (0x0b). This script never sends STATUS, so with --cap eth/68 the session
//   ends ~5 s after Hello with reason 11 (byUs=true). Use --cap demo/1 to
//   avoid that: it is a plain capability object {name, version, length,
//   constructor} passed through RLPxOptions.capabilities (the public
//   `Capabilities` interface); its class does not extend Protocol and so has
//   no status timer.
// - Sub-protocol messages: Peer._handleHello instantiates each shared
//   capability as `new constructor(version, peer, send)` with offsets from 16
//   in name order; `send(code, data)` writes frame `offset+code` with `data`
//   as is (no compression: the sub-protocol compresses, see ETH.sendMessage;
//   it throws only for code > length). Peer._handleBody hands a received
//   frame to `protocol._handleMessage(code - offset, payload)` with the
//   payload snappy-decompressed (if the remote Hello's version >= 5) but NOT
//   RLP-decoded; a frame beyond every capability's range -> PROTOCOL_ERROR.
//   The demo capability has DEMO_LENGTH (2) codes. Compression uses
//   `snappyjs`, the dependency @ethereumjs/devp2p itself uses (hoisted into
//   node_modules by `npm ci`).
import { createInterface } from 'node:readline'

import { Common, Mainnet } from '@ethereumjs/common'
import { DISCONNECT_REASON, DisconnectReasonNames, ETH, Peer, RLPx } from '@ethereumjs/devp2p'
import * as snappy from 'snappyjs'

const hexToBytes = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'))
const bytesToHex = (bytes) => Buffer.from(bytes).toString('hex')

const HARD_TIMEOUT_MS = 60_000
const QUIT_GRACE_MS = 3_000

function emit(obj) {
  // stdout to a pipe is synchronous on Linux, so each line is flushed at once.
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

function fail(message) {
  emit({ event: 'error', message })
  process.exit(2)
}

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const opts = { key: null, listen: null, dial: null, caps: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) fail(`missing value for ${a}`)
      return argv[++i]
    }
    switch (a) {
      case '--key':
        opts.key = next()
        break
      case '--listen':
        opts.listen = next()
        break
      case '--dial':
        opts.dial = next()
        break
      case '--cap':
        opts.caps.push(...next().split(','))
        break
      default:
        fail(`unknown argument ${a}`)
    }
  }
  return opts
}

const opts = parseArgs(process.argv.slice(2))
if (opts.key === null || !/^[0-9a-fA-F]{64}$/.test(opts.key)) fail('--key must be 64 hex chars')
if (opts.listen === null && opts.dial === null) fail('need --listen and/or --dial')

let listenPort = null
if (opts.listen !== null) {
  if (!/^\d+$/.test(opts.listen) || Number(opts.listen) > 65535) fail('bad --listen port')
  listenPort = Number(opts.listen)
}

let dialTarget = null
if (opts.dial !== null) {
  const m = /^enode:\/\/([0-9a-fA-F]{128})@([^:]+):(\d+)(\?.*)?$/.exec(opts.dial)
  if (!m) fail(`bad enode URL ${opts.dial}`)
  const host = m[2] === 'localhost' ? '127.0.0.1' : m[2]
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) fail('only loopback (127.0.0.0/8) may be dialed')
  dialTarget = { id: hexToBytes(m[1].toLowerCase()), address: host, tcpPort: Number(m[3]) }
}

// ------------------------------------------------------------- capabilities
// Minimal sub-protocol for the "demo" capability. Peer instantiates it as
// `new constructor(version, peer, send)` and hands it (snappy-decompressed,
// not RLP-decoded) message payloads via `_handleMessage(code, data)`; we
// report each one. `sendMessage` mirrors ETH.sendMessage.
const DEMO_LENGTH = 2

class Demo {
  constructor(version, peer, send) {
    this._version = version
    this._peer = peer
    this._send = send
  }
  _snappy() {
    const h = this._peer.getHelloMessage()
    return h !== null && h.protocolVersion >= 5
  }
  _handleMessage(code, data) {
    emit({ event: 'message', cap: 'demo', code, payload: bytesToHex(data) })
  }
  sendMessage(code, payload) {
    if (!Number.isInteger(code) || code < 0 || code >= DEMO_LENGTH) {
      throw new Error(`demo message code ${code} out of range 0..${DEMO_LENGTH - 1}`)
    }
    this._send(code, this._snappy() ? snappy.compress(payload) : payload)
  }
}

function capability(spec) {
  const m = /^([a-z0-9]+)\/(\d+)$/i.exec(spec.trim())
  if (!m) fail(`bad --cap ${spec} (expected name/version, e.g. eth/68 or demo/1)`)
  const [name, version] = [m[1], Number(m[2])]
  if (name === 'eth') {
    const cap = ETH[`eth${version}`]
    if (cap === undefined) fail(`eth/${version} is not provided by @ethereumjs/devp2p`)
    return cap
  }
  if (name === 'demo') return { name: 'demo', version, length: DEMO_LENGTH, constructor: Demo }
  fail(`unsupported capability ${spec} (use eth/<v> or demo/<v>)`)
}

const capabilities = (opts.caps.length > 0 ? opts.caps : ['eth/68']).map(capability)

// ------------------------------------------------ hooks into Peer internals
// Peer has no events for Ping/Pong; wrap its private handlers on the
// prototype (so even a Ping arriving in the same read as Hello is seen).
const origHandlePing = Peer.prototype._handlePing
Peer.prototype._handlePing = function (...args) {
  emit({ event: 'ping' })
  return origHandlePing.apply(this, args)
}
const origHandlePong = Peer.prototype._handlePong
Peer.prototype._handlePong = function (...args) {
  emit({ event: 'pong' })
  return origHandlePong.apply(this, args)
}
// RLPx only emits peer:removed for peers that completed the Hello exchange.
// Report sessions that end earlier (e.g. rejected Hello, bad handshake) as an
// error so the Rust side gets a hint instead of silence.
const origOnSocketClose = Peer.prototype._onSocketClose
Peer.prototype._onSocketClose = function (...args) {
  if (!this._connected) {
    const r = this._disconnectReason
    const name = r === undefined ? 'none' : (DisconnectReasonNames[r] ?? 'unknown')
    emit({
      event: 'error',
      message: `connection closed before Hello exchange completed (disconnect reason ${r ?? 'none'} ${name}, byUs ${this._disconnectWe})`,
    })
  }
  return origOnSocketClose.apply(this, args)
}

// -------------------------------------------------------------------- RLPx
const privateKey = hexToBytes(opts.key.toLowerCase())
const common = new Common({ chain: Mainnet })
const rlpx = new RLPx(privateKey, {
  capabilities,
  common,
  maxPeers: 1,
  listenPort: null, // set to the real port once listening (advertised in Hello)
})
const ourId = bytesToHex(rlpx.id)

let current = null // the single connected Peer (after Hello)
let quitting = false

rlpx.events.on('peer:added', (peer) => {
  current = peer
  const h = peer.getHelloMessage()
  emit({
    event: 'hello',
    id: bytesToHex(h.id),
    clientId: h.clientId,
    protocolVersion: h.protocolVersion,
    capabilities: h.capabilities.map((c) => [c.name, c.version]),
    port: h.port,
  })
  // Same condition Peer uses for _sendPing/_sendPong/_handleBody.
  emit({ event: 'snappy', on: h.protocolVersion >= 5 })
})

rlpx.events.on('peer:removed', (peer, reason, byUs) => {
  if (peer === current) current = null
  emit({ event: 'disconnect', reason: reason ?? null, byUs: byUs === true })
  if (quitting) shutdown(0)
})

rlpx.events.on('peer:error', (_peer, err) => {
  emit({ event: 'error', message: String(err?.message ?? err) })
})
rlpx.events.on('error', (err) => {
  emit({ event: 'error', message: `server: ${String(err?.message ?? err)}` })
})

// ---------------------------------------------------------------- shutdown
let exiting = false
function shutdown(code) {
  if (exiting) return
  exiting = true
  // Give a pending Disconnect frame a moment to reach the socket.
  setTimeout(() => process.exit(code), 50)
}

function quit() {
  if (quitting) return
  quitting = true
  const hadPeer = current !== null
  try {
    rlpx.destroy() // sends Disconnect CLIENT_QUITTING (8) to connected peers
  } catch {}
  if (!hadPeer) return shutdown(0)
  // Wait for peer:removed (handled above), but not forever.
  setTimeout(() => shutdown(0), QUIT_GRACE_MS).unref()
}

setTimeout(() => {
  emit({ event: 'error', message: `hard timeout (${HARD_TIMEOUT_MS} ms) reached, exiting` })
  shutdown(3)
}, HARD_TIMEOUT_MS).unref()

// ------------------------------------------------------------------- stdin
const rl = createInterface({ input: process.stdin })
rl.on('line', (raw) => {
  const line = raw.trim()
  if (line === '') return
  const [cmd, arg, arg2] = line.split(/\s+/)
  if (cmd === 'quit') return quit()
  if (current === null) {
    return emit({ event: 'error', message: `no connected peer for command: ${line}` })
  }
  if (cmd === 'ping') {
    // No public API: _sendPing() is what the 15 s interval calls; it also arms
    // the pong timeout (disconnect TIMEOUT if no Pong within 10 s).
    current._sendPing()
  } else if (cmd === 'disconnect') {
    const n = arg === undefined ? DISCONNECT_REASON.DISCONNECT_REQUESTED : Number(arg)
    if (!Number.isInteger(n) || n < 0 || n > 255) {
      return emit({ event: 'error', message: `bad disconnect reason: ${arg}` })
    }
    current.disconnect(n)
  } else if (cmd === 'send') {
    const code = Number(arg)
    const hex = arg2 ?? ''
    if (arg === undefined || !Number.isInteger(code) || code < 0 || code >= DEMO_LENGTH) {
      return emit({ event: 'error', message: `bad demo message code: ${arg}` })
    }
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) {
      return emit({ event: 'error', message: `bad hex payload: ${hex}` })
    }
    const demo = current.getProtocols().find((p) => p instanceof Demo)
    if (demo === undefined) {
      return emit({ event: 'error', message: 'demo capability is not shared with the peer' })
    }
    try {
      demo.sendMessage(code, hexToBytes(hex))
    } catch (err) {
      emit({ event: 'error', message: `send failed: ${String(err?.message ?? err)}` })
    }
  } else {
    emit({ event: 'error', message: `unknown command: ${line}` })
  }
})
rl.on('close', () => quit())

// ------------------------------------------------------------------- start
if (listenPort !== null) {
  rlpx.events.once('listening', () => {
    const port = rlpx._server.address().port
    rlpx._listenPort = port // Peer reads this for the Hello listen-port field
    emit({ event: 'listening', port, id: ourId })
    if (dialTarget !== null) dial()
  })
  rlpx.listen(listenPort, '127.0.0.1')
} else {
  emit({ event: 'listening', port: null, id: ourId })
  dial()
}

function dial() {
  rlpx.connect(dialTarget).catch((err) => {
    emit({ event: 'error', message: `dial failed: ${String(err?.message ?? err)}` })
  })
}
