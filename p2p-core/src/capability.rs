//! Capability matching (`rlpx.md`, "Message ID-based Multiplexing"): which of
//! our capabilities a connection runs, and which message codes each one owns.

use std::sync::Arc;

use crate::base::{Capability, BASE_PROTOCOL_LENGTH};
use crate::protocol::Protocol;

/// A capability both sides announced, with the code range it owns on this
/// connection: codes `offset .. offset + length`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SharedCapability {
    /// The capability (name and the version both sides run).
    pub capability: Capability,
    /// The first message code of the capability on this connection.
    pub offset: u64,
    /// How many message codes it uses.
    pub length: u64,
}

impl SharedCapability {
    /// Whether connection-level `code` belongs to this capability.
    pub fn owns(&self, code: u64) -> bool {
        code >= self.offset && code - self.offset < self.length
    }
}

/// Matches our capabilities (each with the number of message codes it uses)
/// against the remote's.
///
/// For each name both sides support, the highest version both support wins;
/// the winners get consecutive code ranges from `0x10` in alphabetical order of
/// their names. The result is in that order. Duplicates on either side are
/// harmless.
pub fn match_capabilities(
    ours: &[(Capability, u64)],
    theirs: &[Capability],
) -> Vec<SharedCapability> {
    match_indexed(ours, theirs)
        .into_iter()
        .map(|(_, shared)| shared)
        .collect()
}

/// [`match_capabilities`], each result with the index in `ours` of the entry
/// that won, so that the caller finds the protocol behind it without a search.
fn match_indexed(
    ours: &[(Capability, u64)],
    theirs: &[Capability],
) -> Vec<(usize, SharedCapability)> {
    let mut best: std::collections::BTreeMap<&str, usize> = Default::default();
    for (index, (cap, _)) in ours.iter().enumerate() {
        if !theirs.contains(cap) {
            continue;
        }
        match best.get(cap.name.as_str()) {
            Some(&kept) if ours[kept].0.version >= cap.version => {}
            _ => {
                best.insert(cap.name.as_str(), index);
            }
        }
    }
    let mut offset = BASE_PROTOCOL_LENGTH;
    best.into_values()
        .map(|index| {
            let (capability, length) = &ours[index];
            let shared = SharedCapability {
                capability: capability.clone(),
                offset,
                length: *length,
            };
            offset = offset.saturating_add(*length);
            (index, shared)
        })
        .collect()
}

/// The capabilities one connection runs, with their code ranges: computed
/// once, by the Hello stage, and then read by everything that needs to know
/// which capability a message code belongs to (the multiplexer, metrics,
/// message events).
///
/// It dereferences to the slice of [`SharedCapability`], in code order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapabilityTable {
    shared: Vec<SharedCapability>,
}

impl CapabilityTable {
    /// A table of `shared`, which must be in code order with ranges that do
    /// not overlap (as [`match_capabilities`] returns them).
    pub fn new(shared: Vec<SharedCapability>) -> Self {
        debug_assert!(shared
            .windows(2)
            .all(|pair| pair[0].offset.saturating_add(pair[0].length) <= pair[1].offset));
        CapabilityTable { shared }
    }

    /// The capability owning connection-level `code`, with its index, if
    /// any. A binary search over the ranges.
    pub fn owner(&self, code: u64) -> Option<(usize, &SharedCapability)> {
        let after = self.shared.partition_point(|cap| cap.offset <= code);
        let index = after.checked_sub(1)?;
        let cap = &self.shared[index];
        cap.owns(code).then_some((index, cap))
    }
}

impl std::ops::Deref for CapabilityTable {
    type Target = [SharedCapability];

    fn deref(&self) -> &[SharedCapability] {
        &self.shared
    }
}

/// The protocols a server offers, with the capability and code count of
/// each read once: what the Hello stage announces and matches against.
#[derive(Clone)]
pub struct OfferedProtocols {
    protocols: Vec<Arc<dyn Protocol>>,
    offered: Vec<(Capability, u64)>,
}

impl OfferedProtocols {
    /// The set of `protocols`.
    pub fn new(protocols: Vec<Arc<dyn Protocol>>) -> Self {
        let offered = protocols
            .iter()
            .map(|p| (p.capability(), p.message_count()))
            .collect();
        OfferedProtocols { protocols, offered }
    }

    /// The capabilities offered, in the order the protocols were given.
    pub fn capabilities(&self) -> Vec<Capability> {
        self.offered.iter().map(|(cap, _)| cap.clone()).collect()
    }

    /// Each offered capability with its number of message codes.
    pub fn offered(&self) -> &[(Capability, u64)] {
        &self.offered
    }

    /// The protocols, in the order given.
    pub fn protocols(&self) -> &[Arc<dyn Protocol>] {
        &self.protocols
    }

    /// Matches against a remote's capabilities: the table the connection
    /// runs, and the protocol running each of its entries (same order).
    pub fn negotiate(&self, theirs: &[Capability]) -> (CapabilityTable, Vec<Arc<dyn Protocol>>) {
        let (indices, shared): (Vec<usize>, Vec<SharedCapability>) =
            match_indexed(&self.offered, theirs).into_iter().unzip();
        let protocols = indices
            .into_iter()
            .map(|index| self.protocols[index].clone())
            .collect();
        (CapabilityTable::new(shared), protocols)
    }
}

impl std::fmt::Debug for OfferedProtocols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.offered.iter().map(|(cap, _)| cap))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(name: &str, version: u32) -> Capability {
        Capability::new(name, version)
    }

    #[test]
    fn highest_shared_version_wins_and_offsets_follow_names() {
        let ours = [
            (cap("snap", 1), 8),
            (cap("eth", 67), 17),
            (cap("eth", 68), 17),
            (cap("eth", 69), 18),
            (cap("les", 4), 20),
        ];
        let theirs = [
            cap("eth", 66),
            cap("eth", 67),
            cap("eth", 68),
            cap("snap", 1),
            cap("bzz", 1),
        ];
        let shared = match_capabilities(&ours, &theirs);
        assert_eq!(
            shared,
            vec![
                SharedCapability {
                    capability: cap("eth", 68),
                    offset: 0x10,
                    length: 17
                },
                SharedCapability {
                    capability: cap("snap", 1),
                    offset: 0x21,
                    length: 8
                },
            ]
        );
        let table = CapabilityTable::new(shared);
        assert_eq!(table.owner(0x10).unwrap().0, 0);
        assert_eq!(table.owner(0x20).unwrap().0, 0);
        assert_eq!(table.owner(0x21).unwrap().0, 1);
        assert_eq!(table.owner(0x28).unwrap().0, 1);
        assert!(table.owner(0x29).is_none());
        assert!(table.owner(0x0f).is_none());
        assert!(table.owner(u64::MAX).is_none());
        assert!(CapabilityTable::default().owner(0x10).is_none());
    }

    #[test]
    fn order_of_announcement_does_not_matter() {
        let ours = [(cap("b", 1), 2), (cap("a", 2), 3), (cap("a", 1), 1)];
        let theirs = [cap("b", 1), cap("a", 1), cap("a", 2)];
        let mut reversed = ours.clone();
        reversed.reverse();
        let one = match_capabilities(&ours, &theirs);
        assert_eq!(one, match_capabilities(&reversed, &theirs));
        assert_eq!(one[0].capability, cap("a", 2));
        assert_eq!((one[0].offset, one[1].offset), (0x10, 0x13));
    }

    #[test]
    fn nothing_shared_is_empty() {
        assert!(match_capabilities(&[(cap("eth", 68), 17)], &[cap("eth", 67)]).is_empty());
        assert!(match_capabilities(&[], &[cap("eth", 67)]).is_empty());
    }
}
