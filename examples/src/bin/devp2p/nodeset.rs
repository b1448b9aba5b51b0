//! `devp2p nodeset`: what a node set holds, and filtering it; and the
//! reading and writing of node set files the other commands share.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use examples::node_filter::Filters;
use examples::nodeset::NodeSet;

use crate::Failure;

/// The subcommands of `devp2p nodeset`.
#[derive(Subcommand, Debug)]
pub enum NodesetCommand {
    /// Prints how many nodes a set holds and how many records carry each
    /// key.
    Info {
        /// The node set (`nodes.json`; `-` for standard input).
        file: PathBuf,
    },
    /// Prints the nodes of a set that pass every filter, as a node set.
    /// Filters, as go-ethereum's: -ip CIDR, -min-age DURATION,
    /// -eth-network mainnet|sepolia|hoodi, -les-server, -snap, -dialable,
    /// -limit N (the N best scores).
    Filter {
        /// The node set (`nodes.json`; `-` for standard input).
        file: PathBuf,
        /// The filters.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        filters: Vec<String>,
    },
}

/// Runs one `devp2p nodeset` subcommand.
pub fn run(command: NodesetCommand) -> Result<(), Failure> {
    match command {
        NodesetCommand::Info { file } => {
            print!("{}", info(&read_set(&file)?));
            Ok(())
        }
        NodesetCommand::Filter { file, filters } => {
            // Parsed first: a typo is reported before a large file is read.
            let filters = Filters::parse(&filters)?;
            let set = read_set(&file)?;
            // As go-ethereum prints it: no newline after the JSON.
            print!("{}", filters.apply(&set).to_json());
            Ok(())
        }
    }
}

/// The text of `nodeset info`, as go-ethereum prints it: the count, then
/// each record key with the number of records that have it, keys sorted
/// and right-aligned.
fn info(set: &NodeSet) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in set.entries() {
        for (key, _) in entry.record.iter() {
            *counts
                .entry(String::from_utf8_lossy(key).into_owned())
                .or_default() += 1;
        }
    }
    let width = counts.keys().map(String::len).max().unwrap_or(0);
    let mut text = format!("Set contains {} nodes.\nENR attribute counts:\n", set.len());
    for (key, count) in counts {
        text += &format!(" {key:>width$}: {count}\n");
    }
    text
}

/// The set in `file` (`-` for standard input); it must exist.
pub fn read_set(file: &Path) -> Result<NodeSet, Failure> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("standard input: {e}"))?;
        return NodeSet::from_json(&text).map_err(|e| format!("standard input: {e}"));
    }
    NodeSet::load(file).map_err(|e| e.to_string())
}

/// The set a crawl starts from: the one in `file`, or an empty one if there
/// is none yet (or for `-`, which the result goes to).
pub fn load_or_empty(file: &Path) -> Result<NodeSet, Failure> {
    if file.as_os_str() == "-" || !file.exists() {
        return Ok(NodeSet::new());
    }
    NodeSet::load(file).map_err(|e| e.to_string())
}

/// Writes the set to `file` (`-` for standard output).
pub fn save(file: &Path, set: &NodeSet) -> Result<(), Failure> {
    if file.as_os_str() == "-" {
        // As go-ethereum prints it: no newline after the JSON.
        print!("{}", set.to_json());
        return Ok(());
    }
    set.save(file).map_err(|e| e.to_string())
}
