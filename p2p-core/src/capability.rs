//! Capability matching (`rlpx.md`, "Message ID-based Multiplexing"): which of
//! our capabilities a connection runs, and which message codes each one owns.

use crate::base::{Capability, BASE_PROTOCOL_LENGTH};

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
    let mut best: std::collections::BTreeMap<&str, (&Capability, u64)> = Default::default();
    for (cap, length) in ours {
        if !theirs.contains(cap) {
            continue;
        }
        match best.get(cap.name.as_str()) {
            Some((kept, _)) if kept.version >= cap.version => {}
            _ => {
                best.insert(cap.name.as_str(), (cap, *length));
            }
        }
    }
    let mut offset = BASE_PROTOCOL_LENGTH;
    best.into_values()
        .map(|(cap, length)| {
            let shared = SharedCapability {
                capability: cap.clone(),
                offset,
                length,
            };
            offset += length;
            shared
        })
        .collect()
}

/// The capability owning connection-level `code`, if any.
pub fn owner(shared: &[SharedCapability], code: u64) -> Option<(usize, &SharedCapability)> {
    shared.iter().enumerate().find(|(_, cap)| cap.owns(code))
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
        assert_eq!(owner(&shared, 0x10).unwrap().0, 0);
        assert_eq!(owner(&shared, 0x20).unwrap().0, 0);
        assert_eq!(owner(&shared, 0x21).unwrap().0, 1);
        assert_eq!(owner(&shared, 0x28).unwrap().0, 1);
        assert!(owner(&shared, 0x29).is_none());
        assert!(owner(&shared, 0x0f).is_none());
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
