//! go-ethereum's admin API over JSON-RPC, HTTP and WebSocket on one port:
//! the `admin`, `net` and `web3` methods a node operator (or `geth attach`)
//! uses to look at and steer a node's peers, with go-ethereum's parameter
//! and result shapes, plus the few `eth` methods the geth console asks on
//! start.
//!
//! | method | result |
//! | --- | --- |
//! | `admin_nodeInfo` | the node: id, name, enode, enr, ip, ports, listenAddr, protocols |
//! | `admin_peers` | each peer: enode, id, name, caps, network, protocols |
//! | `admin_addPeer(url)` | `true`; keeps the node connected |
//! | `admin_removePeer(url)` | `true`; stops keeping it, disconnects it |
//! | `admin_addTrustedPeer(url)` | `true`; admitted above the peer limit |
//! | `admin_removeTrustedPeer(url)` | `true` |
//! | `admin_datadir` | the data directory |
//! | `admin_subscribe("peerEvents")` | a subscription of `add`, `drop`, `msgsend`, `msgrecv` events |
//! | `net_peerCount`, `net_listening`, `net_version` | peer count (hex), `true`, the network id |
//! | `web3_clientVersion` | the client id peers see in Hello |
//! | `eth_chainId`, `eth_blockNumber`, `eth_getBlockByNumber` | from the chain served |
//! | `rpc_modules` | the namespaces, which the geth console loads its helpers for |
//!
//! URLs are `enode://` URLs (the host may be a DNS name) or `enr:` records,
//! as go-ethereum takes them. A
//! bad one is a JSON-RPC error (invalid params), as is any malformed call;
//! nothing a client sends ends the node.

use std::net::SocketAddr;
use std::path::PathBuf;

use jsonrpsee::server::{RandomStringIdProvider, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use p2p_core::{Enode, NodeUrl, PeerEvent, PeerInfo};
use p2p_protocols::eth::handler::EthHandler;
use p2p_protocols::eth::types::BlockHeader;
use serde_json::{json, Value};
use tracing::debug;

use super::NodeHandle;

/// Where the admin API listens unless told otherwise: go-ethereum's HTTP
/// port, on loopback only, since it can add and remove peers.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8545";
/// The version every namespace reports in `rpc_modules`, as go-ethereum's
/// do.
const MODULE_VERSION: &str = "1.0";
/// JSON-RPC's "invalid params" code.
const INVALID_PARAMS: i32 = -32602;

/// A running admin API; dropping the handle does not stop it,
/// [`stop`](Self::stop) does.
pub struct AdminApi {
    handle: ServerHandle,
    local_addr: SocketAddr,
}

impl AdminApi {
    /// Serves `node`'s admin API at `addr` (HTTP and WebSocket alike).
    /// `datadir` is what `admin_datadir` answers.
    pub async fn serve(
        addr: SocketAddr,
        node: NodeHandle,
        datadir: Option<PathBuf>,
    ) -> Result<AdminApi, String> {
        let config = ServerConfig::builder()
            // go-ethereum's clients read subscription ids as strings.
            .set_id_provider(RandomStringIdProvider::new(16))
            .build();
        let server = Server::builder()
            .set_config(config)
            .build(addr)
            .await
            .map_err(|e| format!("admin API on {addr}: {e}"))?;
        let local_addr = server
            .local_addr()
            .map_err(|e| format!("admin API on {addr}: {e}"))?;
        let module = module(Context { node, datadir }).map_err(|e| e.to_string())?;
        Ok(AdminApi {
            handle: server.start(module),
            local_addr,
        })
    }

    /// The address it listens on (`http://` and `ws://`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and waits until the server has closed.
    pub async fn stop(self) {
        if self.handle.stop().is_ok() {
            self.handle.stopped().await;
        }
    }
}

/// What the methods read.
struct Context {
    node: NodeHandle,
    datadir: Option<PathBuf>,
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, message.into(), None::<()>)
}

/// The one URL parameter of the peer methods, as an `enode://` URL (whose
/// host may be a DNS name, resolved now) or an `enr:` record.
async fn url_param(params: &Params<'_>) -> Result<Enode, ErrorObjectOwned> {
    let (url,): (String,) = params.parse()?;
    if url.starts_with("enr:") {
        return p2p_core::record::enode_from_text(&url)
            .map_err(|e| invalid_params(format!("invalid enode: {e}")));
    }
    let url: NodeUrl = url
        .parse()
        .map_err(|e| invalid_params(format!("invalid enode: {e}")))?;
    url.resolve()
        .await
        .map_err(|e| invalid_params(format!("invalid enode: {e}")))
}

fn module(context: Context) -> Result<RpcModule<Context>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(context);
    module.register_method("rpc_modules", |_, _, _| {
        json!({
            "admin": MODULE_VERSION,
            "eth": MODULE_VERSION,
            "net": MODULE_VERSION,
            "rpc": MODULE_VERSION,
            "web3": MODULE_VERSION,
        })
    })?;
    module.register_method("web3_clientVersion", |_, ctx, _| {
        ctx.node.server.node_info().client_id.clone()
    })?;
    module.register_method("net_listening", |_, ctx, _| {
        ctx.node.server.node_info().listen_addr.is_some()
    })?;
    module.register_method("net_version", |_, ctx, _| {
        ctx.node.chain.spec.network_id.to_string()
    })?;
    module.register_async_method("net_peerCount", |_, ctx, _| async move {
        format!("{:#x}", ctx.node.server.peer_count().await)
    })?;
    module.register_method("eth_chainId", |_, ctx, _| {
        format!("{:#x}", ctx.node.chain.spec.network_id)
    })?;
    module.register_method("eth_blockNumber", |_, ctx, _| {
        format!("{:#x}", ctx.node.chain.chain.head_number())
    })?;
    module.register_method("eth_getBlockByNumber", |params, ctx, _| {
        let (tag, _full): (String, bool) = params.parse()?;
        let chain = &ctx.node.chain.chain;
        let number = match tag.as_str() {
            "latest" | "safe" | "finalized" | "pending" => chain.head_number(),
            "earliest" => 0,
            hex => u64::from_str_radix(hex.trim_start_matches("0x"), 16)
                .map_err(|_| invalid_params(format!("invalid block number {hex:?}")))?,
        };
        Ok::<_, ErrorObjectOwned>(
            chain
                .header_by_number(number)
                .map(|header| block_json(&header, chain.as_ref())),
        )
    })?;
    module.register_method("admin_datadir", |_, ctx, _| {
        ctx.datadir.as_ref().map(|dir| dir.display().to_string())
    })?;
    module.register_async_method("admin_nodeInfo", |_, ctx, _| async move {
        node_info(&ctx.node).await
    })?;
    module.register_async_method("admin_peers", |_, ctx, _| async move {
        let peers = ctx.node.server.peers().await;
        Value::Array(peers.iter().map(|p| peer_json(&ctx.node, p)).collect())
    })?;
    module.register_async_method("admin_addPeer", |params, ctx, _| async move {
        let node = url_param(&params).await?;
        ctx.node.add_static_peer(node).await;
        Ok::<_, ErrorObjectOwned>(true)
    })?;
    module.register_async_method("admin_removePeer", |params, ctx, _| async move {
        let node = url_param(&params).await?;
        ctx.node.remove_peer(node.id).await;
        Ok::<_, ErrorObjectOwned>(true)
    })?;
    module.register_async_method("admin_addTrustedPeer", |params, ctx, _| async move {
        let node = url_param(&params).await?;
        ctx.node.server.add_trusted_peer(node.id).await;
        Ok::<_, ErrorObjectOwned>(true)
    })?;
    module.register_async_method("admin_removeTrustedPeer", |params, ctx, _| async move {
        let node = url_param(&params).await?;
        ctx.node.server.remove_trusted_peer(node.id).await;
        Ok::<_, ErrorObjectOwned>(true)
    })?;
    module.register_subscription(
        "admin_subscribe",
        "admin_subscription",
        "admin_unsubscribe",
        |params, pending, ctx, _| async move { peer_events(params, pending, &ctx.node).await },
    )?;
    Ok(module)
}

/// `admin_subscribe("peerEvents")`: every peer event from now on, in
/// go-ethereum's `p2p.PeerEvent` shape, until the client unsubscribes or
/// goes away.
async fn peer_events(params: Params<'static>, pending: PendingSubscriptionSink, node: &NodeHandle) {
    match params.parse::<(String,)>() {
        Ok((kind,)) if kind == "peerEvents" => {}
        Ok((kind,)) => {
            pending
                .reject(invalid_params(format!(
                    "no {kind:?} subscription; there is peerEvents"
                )))
                .await;
            return;
        }
        Err(e) => {
            pending.reject(e).await;
            return;
        }
    }
    let mut events = node.server.subscribe_events();
    let Ok(sink) = pending.accept().await else {
        return;
    };
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = sink.closed() => return,
        };
        let json = match event {
            Ok(PeerEvent::Added(info)) => json!({"type": "add", "peer": node_id(&info.id)}),
            Ok(PeerEvent::Dropped { id, end }) => {
                json!({"type": "drop", "peer": node_id(&id), "error": end.to_string()})
            }
            Ok(PeerEvent::Message {
                id,
                capability,
                code,
                size,
                inbound,
            }) => json!({
                "type": if inbound { "msgrecv" } else { "msgsend" },
                "peer": node_id(&id),
                "protocol": capability.name,
                "msg_packet_type": code,
                "msg_size": size,
            }),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                debug!(missed, "peer event subscriber fell behind");
                continue;
            }
            Err(_) => return,
        };
        let Ok(raw) = serde_json::value::to_raw_value(&json) else {
            continue;
        };
        if sink.send(SubscriptionMessage::from(raw)).await.is_err() {
            return;
        }
    }
}

/// A peer id as go-ethereum's admin API names nodes: the hex of the node id
/// (the keccak-256 of the public key), not the public key.
fn node_id(id: &p2p_core::PeerId) -> String {
    hex::encode(id.node_id().0)
}

async fn node_info(node: &NodeHandle) -> Value {
    let info = node.server.node_info();
    let enode = node.enode();
    let udp = match node.discv4() {
        Some(v4) => v4.local_addr().port(),
        None => 0,
    };
    let spec = &node.chain.spec;
    let head = node.chain.chain.head();
    let mut protocols = serde_json::Map::new();
    for capability in &info.capabilities {
        protocols.insert(capability.name.to_string(), json!({}));
    }
    protocols.insert(
        "eth".to_owned(),
        json!({
            "network": spec.network_id,
            "genesis": format!("{:#x}", spec.genesis()),
            "head": format!("{:#x}", head.hash),
            "config": {"chainId": spec.network_id},
        }),
    );
    json!({
        "id": node_id(&info.id),
        "name": info.client_id,
        "enode": enode.map(|e| e.to_string()),
        "enr": node.enr().await,
        "ip": enode.map(|e| e.ip.to_string()),
        "ports": {
            "discovery": udp,
            "listener": info.listen_addr.map_or(0, |a| a.port()),
        },
        "listenAddr": info.listen_addr.map(|a| a.to_string()),
        "protocols": protocols,
    })
}

fn peer_json(node: &NodeHandle, peer: &PeerInfo) -> Value {
    let port = if peer.listen_port != 0 {
        peer.listen_port
    } else {
        peer.remote_addr.port()
    };
    let enode = Enode::new(peer.id, peer.remote_addr.ip(), port, port);
    let mut protocols = serde_json::Map::new();
    for shared in peer.shared.iter() {
        protocols.insert(
            shared.capability.name.to_string(),
            json!({"version": shared.capability.version}),
        );
    }
    json!({
        "enode": enode.to_string(),
        "id": node_id(&peer.id),
        "name": peer.client_id,
        "caps": peer.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "network": {
            "remoteAddress": peer.remote_addr.to_string(),
            "inbound": peer.direction == p2p_core::pipeline::Direction::Inbound,
            "trusted": peer.trusted,
            "static": node.is_static(&peer.id),
        },
        "protocols": protocols,
    })
}

/// A block as `eth_getBlockByNumber` returns it, with transaction hashes.
fn block_json(header: &BlockHeader, chain: &impl EthHandler) -> Value {
    let hash = header.hash();
    let transactions: Vec<String> = chain
        .block_body(&hash)
        .map(|body| {
            body.transactions
                .iter()
                .map(|tx| format!("{:#x}", tx.hash()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "number": format!("{:#x}", header.number),
        "hash": format!("{hash:#x}"),
        "parentHash": format!("{:#x}", header.parent_hash),
        "sha3Uncles": format!("{:#x}", header.ommers_hash),
        "miner": format!("{:#x}", header.beneficiary),
        "stateRoot": format!("{:#x}", header.state_root),
        "transactionsRoot": format!("{:#x}", header.transactions_root),
        "receiptsRoot": format!("{:#x}", header.receipts_root),
        "difficulty": format!("{:#x}", header.difficulty),
        "gasLimit": format!("{:#x}", header.gas_limit),
        "gasUsed": format!("{:#x}", header.gas_used),
        "timestamp": format!("{:#x}", header.timestamp),
        "extraData": format!("0x{}", hex::encode(&header.extra_data)),
        "mixHash": format!("{:#x}", header.mix_hash),
        "nonce": format!("0x{}", hex::encode(header.nonce)),
        "baseFeePerGas": header.base_fee_per_gas.map(|fee| format!("{fee:#x}")),
        "transactions": transactions,
        "uncles": [],
    })
}
