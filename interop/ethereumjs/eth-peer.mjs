#!/usr/bin/env node
// eth/68 interop peer: @ethereumjs/devp2p's RLPx with its real ETH sub-protocol
// (class ETH, capability ETH.eth68), driven over stdin/stdout by the Rust
// interop test. Its chain is the mainnet genesis block and nothing else.
//
//   node eth-peer.mjs --key <64 hex> [--listen <port>] [--dial <enode>]
//                     [--genesis <32-byte hex>] [--network-id <n>]
//
// --listen binds 127.0.0.1 (0 = any free port); --dial takes a loopback enode
// URL; with both it listens first, then dials. --genesis replaces the genesis
// hash sent in our Status (default: the mainnet genesis hash; bestHash and the
// served chain stay the real genesis). --network-id (default 1, 1..2^53-1) is
// the networkId sent in our Status.
//
// stdout: one JSON object per line (hex is lower case, no 0x):
//   {"event":"listening","port":<n|null>,"id":"<128 hex>"}
//   {"event":"hello","id":...,"clientId":...,"protocolVersion":n,"capabilities":[[name,ver],...],"port":n}
//   {"event":"status","version":n,"networkId":n,"td":"<decimal>","bestHash":"<hex>",
//    "genesisHash":"<hex>","forkId":{"hash":"<hex>","next":"<hex>"},"forkNext":"<decimal>"}
//       the remote's Status, emitted once the library has accepted it (see
//       below); forkId.hash / forkId.next are the raw bytes as received.
//   {"event":"headers","requestId":n,"headers":[{"hash":"<hex>","number":n},...],"payload":"<hex>"}
//       a BlockHeaders message (hash = keccak256 of each header's RLP).
//   {"event":"message","code":n,"name":"GET_BLOCK_HEADERS",...,"payload":"<hex>"}
//       any other eth message received (code relative to the capability,
//       payload = the message's RLP after snappy decompression, exactly as
//       received). Extra fields: "reply" (what we answered, for
//       GET_BLOCK_HEADERS / GET_BLOCK_BODIES: {"name":...,"count":n}, or null
//       when the session was already closing so nothing was sent) and
//       "ignored":true when the library dropped the message without emitting
//       it (codes it does not know for eth/68, see below).
//   {"event":"disconnect","reason":n,"byUs":bool}
//   {"event":"error","message":"..."}
//   (requestId / number are JSON numbers, or decimal strings above 2^53-1.)
// stdin (one command per line):
//   `get-headers <number|64 hex hash> <amount>`: GetBlockHeaders
//     [reqId, [origin, amount, 0, 0]] with a fresh request id (1, 2, ...);
//   `disconnect <n>` (default 0); `quit`.
// Serving: GetBlockHeaders [reqId, [origin, amount, skip, reverse]] is
// answered with BlockHeaders [reqId, [genesis header]] when origin is block 0
// or the genesis hash and amount >= 1 (skip/reverse cannot reach another block
// we have), else [reqId, []]. GetBlockBodies [reqId, [hash, ...]] is answered
// with BlockBodies [reqId, [[[], []] for each genesis hash]] (unknown hashes
// skipped). The same request id bytes are echoed back.
// The process exits on `quit`, when stdin closes, and after HARD_TIMEOUT_MS.
//
// Behaviour of @ethereumjs/devp2p 10.0.0 this relies on (read from
// dist/esm/protocol/eth.js, protocol.js, rlpx/peer.js, rlpx/rlpx.js; for the
// RLPx layer see the header of rlpx-peer.mjs):
// - Instantiation: Peer._handleHello does `new ETH(68, peer, send)` on receipt
//   of the remote Hello; the constructor reads the peer's Common: _hardfork =
//   common.hardfork(), _latestBlock = hardforkBlock(hf) (0 for chainstart),
//   _forkHash = common.forkHash(hf) (the static table entry: '0xfc64ec04'),
//   _nextForkBlock = nextHardforkBlockOrTimestamp(hf) (1150000n). Common's
//   default hardfork is prague, so chainstart must be passed explicitly.
// - Status timeout: the Protocol constructor arms a 5 s timer; it is cleared
//   only when a Status has been both sent and received (_handleStatus, before
//   validation). Otherwise -> Disconnect TIMEOUT (0x0b), byUs.
// - sendStatus({ td, bestHash, genesisHash, latestBlock }), all Uint8Array:
//   builds [intToBytes(version), bigIntToBytes(common.chainId()), td,
//   bestHash, genesisHash, [forkHash(4 bytes), next]] -- the networkId sent is
//   ALWAYS common.chainId() (there is no networkId field), hence --network-id
//   makes a custom Common (createCustomCommon({chainId}, Mainnet); chainId
//   must be a JS number, BigInt breaks Common). td/bestHash/genesisHash go on
//   the wire as given. forkId = [0xfc64ec04, 1150000 (0x118c30)]; next is
//   empty bytes when 0. latestBlock is NOT sent (eth/68 Status has no such
//   field): it only raises _latestBlock for fork-id validation, and must not
//   be below the hardfork's block (else it throws). A second call is a no-op.
//   Compressed with snappy iff the remote Hello's version >= 5. After sending
//   it runs _handleStatus, i.e. if the remote Status arrived first, the
//   validation (and a validation exception!) happens inside sendStatus -- we
//   catch that and disconnect SUBPROTOCOL_ERROR as the library would.
//   Note bigIntToBytes(0n) is [0x00], so a networkId of 0 would go out as
//   the non-canonical RLP 0x00: --network-id 0 is refused.
// - Receiving: ETH._handleMessage RLP-decodes every payload (error -> thrown
//   -> Peer disconnects SUBPROTOCOL_ERROR 0x10 and emits 'error'). STATUS:
//   a second Status throws ('Uncontrolled status message'). It always runs
//   _getStatusString on the remote Status, which needs version and networkId
//   as byte strings of <= 2^53-1 (bytesToInt), td/bestHash/genesisHash as
//   byte strings and element 5 as a list whose [0] is bytes and [1] has a
//   length -- anything else throws -> SUBPROTOCOL_ERROR.
// - Status validation (_handleStatus, once both are present; each failure
//   throws -> Disconnect SUBPROTOCOL_ERROR (0x10) byUs + 'error'):
//   * version, networkId, genesisHash: byte-exact equality with the fields
//     WE sent (so with --genesis, the remote's genesis is compared with the
//     override; a non-minimal integer encoding counts as a mismatch);
//     messages 'Protocol version mismatch', 'NetworkId mismatch',
//     'Genesis block mismatch'.
//   * td and bestHash: not checked at all. Elements after the 6th: ignored.
//   * forkId: `.length` must be 2 ('Incorrect forkId msg format'), then
//     _validateForkId([hash, next]): (1) if hash == our forkHash and next > 0
//     and _latestBlock (0) >= next -> 'Remote is advertising a future fork
//     that passed locally' (cannot happen at block 0); (2) hash (as 0x hex)
//     must equal the forkHash of some hardfork in Common's mainnet table,
//     else 'Unknown fork hash' -- known: fc64ec04 97c2c34c 91d1f948 7a64da13
//     3edd5b10 a00bc324 668db0af 879d6e30 e029e991 0eb440f6 b715077d 20c327fc
//     f0afd0e3 dce96c2d 9f3d2254 c376cf8b; (3) if that hardfork is older than
//     ours, next must equal its successor's block/timestamp ('Outdated fork
//     status'). Ours is chainstart, so (3) never fires: ANY known mainnet
//     fork hash is accepted with ANY next value (e.g. [fc64ec04, 0] too).
//   * On success it emits 'status' {chainId, td, bestHash, genesisHash,
//     forkId} (raw bytes; no version -- read from _peerStatus[0]).
//   * A received STATUS is ALSO emitted as 'message' (code 0, decoded list)
//     once _handleStatus returned without throwing -- i.e. right after
//     'status' when ours was out already, or at once (before 'status', which
//     then comes from inside sendStatus) when the remote's came first. We
//     report Status only as the `status` event.
// - Other messages: emitted as events.emit('message', code, decodedPayload)
//   for the codes it knows for the version: 0x01-0x07, 0x08-0x0a (>= 65),
//   0x0f/0x10 (>= 63); GET_NODE_DATA/NODE_DATA (0x0d/0x0e) only for <= 66 and
//   0x0b/0x0c never -- those are dropped silently (no event, no error; we
//   report them with "ignored":true). Codes >= 17 (ETH.eth68.length) are a
//   PROTOCOL_ERROR at the Peer level. Messages are emitted whether or not the
//   Status exchange has completed.
// - sendMessage(code, payload): payload is the DECODED structure (nested
//   arrays of Uint8Array); it does RLP.encode + snappy itself. So a header
//   goes in as its list of fields -- passing pre-encoded RLP bytes would send
//   them as one byte string. It throws for STATUS ('use sendStatus'), for
//   codes not allowed for the version (0x0d/0x0e on eth/68) and unknown ones.
//   No request-id handling whatsoever: the eth/66+ [reqId, ...] wrapper is
//   built and parsed here, replies are not matched to requests.
// - Teardown: after sending Disconnect, Peer ignores data arriving later
//   (frames already buffered in the same read are still handled), so a
//   Disconnect crossing ours is not seen: both sides then report byUs:true;
//   and ends the socket 2 s later; 'peer:removed' (our `disconnect`) comes
//   when the socket closes. Consequence for --genesis / --network-id tests:
//   both sides reject each other's Status at about the same time, so whether
//   the remote sees our Disconnect(0x10) or we see its Disconnect is a race.
// - Timing: the ETH object exists (and may receive messages) before RLPx
//   emits 'peer:added' when the remote Hello is processed before our own Hello
//   went out (dialer, remote Hello in the same read as its Ack). We therefore
//   subclass ETH only to attach listeners in the constructor and hold back
//   reports/answers until 'peer:added', where Status is sent at once.
import { createInterface } from 'node:readline'

import { Common, Hardfork, Mainnet, createCustomCommon } from '@ethereumjs/common'
import {
  DISCONNECT_REASON,
  DisconnectReasonNames,
  ETH,
  EthMessageCodeNames,
  EthMessageCodes,
  Peer,
  RLPx,
} from '@ethereumjs/devp2p'
// Direct dependencies of @ethereumjs/devp2p (hoisted to the top level of
// node_modules by package-lock.json); eth.js uses the same RLP, the RLPx code
// the same keccak256.
import { RLP } from '@ethereumjs/rlp'
import { keccak256 } from 'ethereum-cryptography/keccak.js'

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

// ------------------------------------------------------------- RLP helpers
// Minimal big-endian unsigned integer (0 -> empty), as RLP integers must be.
function uint(n) {
  let v = BigInt(n)
  const out = []
  while (v > 0n) {
    out.unshift(Number(v & 0xffn))
    v >>= 8n
  }
  return Uint8Array.from(out)
}
function toBigInt(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new Error('expected a byte string, got a list')
  return bytes.length === 0 ? 0n : BigInt(`0x${bytesToHex(bytes)}`)
}
// JSON number if it survives the trip, decimal string otherwise.
const jsonInt = (v) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString())
const bytesEq = (a, b) => a instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i])

// ---------------------------------------------------------- mainnet genesis
const GENESIS_HASH_HEX = 'd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3'
const GENESIS_DIFFICULTY = 17179869184n // 0x400000000
const GENESIS_HEADER = [
  new Uint8Array(32), // parentHash
  hexToBytes('1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347'), // ommersHash
  new Uint8Array(20), // coinbase
  hexToBytes('d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'), // stateRoot
  hexToBytes('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421'), // txRoot
  hexToBytes('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421'), // receiptsRoot
  new Uint8Array(256), // logsBloom
  uint(GENESIS_DIFFICULTY), // difficulty
  uint(0), // number
  uint(5000), // gasLimit
  uint(0), // gasUsed
  uint(0), // timestamp
  hexToBytes('11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa'), // extraData
  new Uint8Array(32), // mixHash
  hexToBytes('0000000000000042'), // nonce
]
const GENESIS_HASH = keccak256(RLP.encode(GENESIS_HEADER))
if (bytesToHex(GENESIS_HASH) !== GENESIS_HASH_HEX) {
  fail(`genesis header hashes to ${bytesToHex(GENESIS_HASH)}, expected ${GENESIS_HASH_HEX}`)
}

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const opts = { key: null, listen: null, dial: null, genesis: null, networkId: '1' }
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
      case '--genesis':
        opts.genesis = next()
        break
      case '--network-id':
        opts.networkId = next()
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

let statusGenesis = GENESIS_HASH
if (opts.genesis !== null) {
  const g = opts.genesis.replace(/^0x/i, '')
  if (!/^[0-9a-fA-F]{64}$/.test(g)) fail('--genesis must be 32 bytes of hex')
  statusGenesis = hexToBytes(g.toLowerCase())
}

if (!/^\d+$/.test(opts.networkId)) fail('bad --network-id')
const networkId = Number(opts.networkId)
if (!Number.isSafeInteger(networkId) || networkId < 1) fail('--network-id must be in 1..2^53-1')

// Mainnet at chainstart: fork id [0xfc64ec04, 1150000]. The networkId in
// Status is common.chainId(), so a different one needs a custom Common.
const common =
  networkId === 1
    ? new Common({ chain: Mainnet, hardfork: Hardfork.Chainstart })
    : createCustomCommon({ chainId: networkId }, Mainnet, { hardfork: Hardfork.Chainstart })

// ------------------------------------------------------------ eth protocol
const C = EthMessageCodes
const codeName = (code) => EthMessageCodeNames[code] ?? `UNKNOWN_${code}`

function isGenesisOrigin(origin) {
  if (!(origin instanceof Uint8Array)) throw new Error('origin is a list')
  if (origin.length === 32) return bytesEq(origin, GENESIS_HASH)
  return toBigInt(origin) === 0n
}

// Builds our answer to a request; returns [code, payload, reply summary].
function answer(code, payload) {
  if (!Array.isArray(payload) || payload.length !== 2 || !Array.isArray(payload[1])) {
    throw new Error(`malformed ${codeName(code)}: expected [reqId, [...]]`)
  }
  const [reqId, req] = payload
  if (!(reqId instanceof Uint8Array)) throw new Error(`malformed ${codeName(code)}: reqId is a list`)
  if (code === C.GET_BLOCK_HEADERS) {
    if (req.length !== 4) throw new Error('malformed GET_BLOCK_HEADERS: expected [origin, amount, skip, reverse]')
    const headers = isGenesisOrigin(req[0]) && toBigInt(req[1]) >= 1n ? [GENESIS_HEADER] : []
    return [C.BLOCK_HEADERS, [reqId, headers], { name: 'BLOCK_HEADERS', count: headers.length }]
  }
  // GET_BLOCK_BODIES
  const bodies = req.filter((h) => bytesEq(h, GENESIS_HASH)).map(() => [[], []])
  return [C.BLOCK_BODIES, [reqId, bodies], { name: 'BLOCK_BODIES', count: bodies.length }]
}

function reportHeaders(payload, raw) {
  if (!Array.isArray(payload) || payload.length !== 2 || !Array.isArray(payload[1])) {
    throw new Error('malformed BLOCK_HEADERS: expected [reqId, [header, ...]]')
  }
  const [reqId, headers] = payload
  emit({
    event: 'headers',
    requestId: jsonInt(toBigInt(reqId)),
    headers: headers.map((h) => {
      if (!Array.isArray(h) || h.length < 15) throw new Error('malformed header in BLOCK_HEADERS')
      return { hash: bytesToHex(keccak256(RLP.encode(h))), number: jsonInt(toBigInt(h[8])) }
    }),
    payload: bytesToHex(raw),
  })
}

function reportStatus(eth, status) {
  const [hash, next] = status.forkId
  emit({
    event: 'status',
    version: jsonInt(toBigInt(eth._peerStatus[0])),
    networkId: jsonInt(toBigInt(status.chainId)),
    td: toBigInt(status.td).toString(),
    bestHash: bytesToHex(status.bestHash),
    genesisHash: bytesToHex(status.genesisHash),
    forkId: { hash: bytesToHex(hash), next: bytesToHex(next) },
    forkNext: toBigInt(next).toString(),
  })
}

// The library's ETH, unchanged; the subclass only hooks in at construction
// (see header) and keeps the raw payload of the message being handled.
class InteropETH extends ETH {
  constructor(version, peer, send) {
    super(version, peer, send)
    this._ready = false // set on 'peer:added', once our Status is out
    this._held = [] // reports/answers for messages received before that
    this._raw = null
    this._emitted = false
    this.events.on('status', (status) => reportStatus(this, status))
    this.events.on('message', (code, payload) => {
      this._emitted = true
      if (code === C.STATUS) return // the library emits it too; see 'status'
      const raw = this._raw
      this._whenReady(() => this._onMessage(code, payload, raw))
    })
  }
  _handleMessage(code, data) {
    this._raw = data
    this._emitted = false
    super._handleMessage(code, data)
    if (code !== C.STATUS && !this._emitted) {
      this._whenReady(() =>
        emit({ event: 'message', code, name: codeName(code), payload: bytesToHex(data), ignored: true }),
      )
    }
  }
  _whenReady(fn) {
    if (this._ready) fn()
    else this._held.push(fn)
  }
  _start() {
    this._ready = true
    for (const fn of this._held.splice(0)) fn()
  }
  _onMessage(code, payload, raw) {
    try {
      if (code === C.BLOCK_HEADERS) return reportHeaders(payload, raw)
      const ev = { event: 'message', code, name: codeName(code), payload: bytesToHex(raw) }
      if (code === C.GET_BLOCK_HEADERS || code === C.GET_BLOCK_BODIES) {
        const [replyCode, reply, summary] = answer(code, payload)
        // Once we sent Disconnect, Peer._sendMessage drops everything.
        const closed = this._peer._closed
        emit({ ...ev, reply: closed ? null : summary })
        if (!closed) this.sendMessage(replyCode, reply)
      } else {
        emit(ev)
      }
    } catch (err) {
      emit({ event: 'error', message: `${codeName(code)}: ${String(err?.message ?? err)}` })
    }
  }
}

const ETH68 = { ...ETH.eth68, constructor: InteropETH }

// ------------------------------------------------ hooks into Peer internals
// RLPx only emits peer:removed for peers that completed the Hello exchange.
// Report sessions that end earlier as an error (as rlpx-peer.mjs does).
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
const rlpx = new RLPx(privateKey, {
  capabilities: [ETH68],
  common,
  maxPeers: 1,
  listenPort: null, // set to the real port once listening (advertised in Hello)
})
const ourId = bytesToHex(rlpx.id)

let current = null // the single connected Peer (after Hello)
let eth = null // its InteropETH
let nextReqId = 1n
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
  eth = peer.getProtocols().find((p) => p instanceof InteropETH) ?? null
  if (eth === null) return emit({ event: 'error', message: 'eth/68 is not shared with the peer' })
  try {
    eth.sendStatus({
      td: uint(GENESIS_DIFFICULTY),
      bestHash: GENESIS_HASH,
      genesisHash: statusGenesis,
      latestBlock: uint(0),
    })
  } catch (err) {
    // The remote Status had arrived already and failed validation inside
    // sendStatus: do what Peer._handleBody does for a throwing handler.
    emit({ event: 'error', message: String(err?.message ?? err) })
    peer.disconnect(DISCONNECT_REASON.SUBPROTOCOL_ERROR)
  }
  eth._start()
})

rlpx.events.on('peer:removed', (peer, reason, byUs) => {
  if (peer === current) {
    current = null
    eth = null
  }
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
function getHeaders(originArg, amountArg) {
  let origin
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(originArg ?? '')) {
    origin = hexToBytes(originArg.replace(/^0x/i, '').toLowerCase())
  } else if (/^\d+$/.test(originArg ?? '')) {
    origin = uint(originArg)
  } else {
    return emit({ event: 'error', message: `bad get-headers origin: ${originArg}` })
  }
  if (!/^\d+$/.test(amountArg ?? '')) {
    return emit({ event: 'error', message: `bad get-headers amount: ${amountArg}` })
  }
  const reqId = nextReqId++
  try {
    eth.sendMessage(C.GET_BLOCK_HEADERS, [uint(reqId), [origin, uint(amountArg), uint(0), uint(0)]])
  } catch (err) {
    emit({ event: 'error', message: `send failed: ${String(err?.message ?? err)}` })
  }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', (raw) => {
  const line = raw.trim()
  if (line === '') return
  const [cmd, arg, arg2] = line.split(/\s+/)
  if (cmd === 'quit') return quit()
  if (current === null) {
    return emit({ event: 'error', message: `no connected peer for command: ${line}` })
  }
  if (cmd === 'disconnect') {
    const n = arg === undefined ? DISCONNECT_REASON.DISCONNECT_REQUESTED : Number(arg)
    if (!Number.isInteger(n) || n < 0 || n > 255) {
      return emit({ event: 'error', message: `bad disconnect reason: ${arg}` })
    }
    current.disconnect(n)
  } else if (cmd === 'get-headers') {
    if (eth === null) return emit({ event: 'error', message: 'eth/68 is not shared with the peer' })
    getHeaders(arg, arg2)
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
