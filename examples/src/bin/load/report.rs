//! What a scenario measured: named rows, printed side by side for the
//! targets that ran it.

use std::time::Duration;

/// One scenario's figures against one target, in the order measured.
#[derive(Default)]
pub struct Report {
    rows: Vec<(String, String)>,
    /// What went wrong that must not: honest peers refused or dropped.
    pub violations: Vec<String>,
}

impl Report {
    /// Adds a row.
    pub fn row(&mut self, name: impl Into<String>, value: impl ToString) {
        self.rows.push((name.into(), value.to_string()));
    }

    /// Adds a row that must read zero; records a violation when it does not.
    pub fn must_be_zero(&mut self, name: &str, count: u64, value: impl ToString) {
        let value = value.to_string();
        if count != 0 {
            self.violations.push(format!("{name}: {value}"));
        }
        self.row(name, value);
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Bytes in MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A Markdown table of reports that ran the same scenario: a column each.
pub fn table(title: &str, columns: &[(String, Report)]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (_, report) in columns {
        for (name, _) in &report.rows {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let mut out = format!("### {title}\n\n| |");
    for (column, _) in columns {
        out.push_str(&format!(" {column} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for name in names {
        out.push_str(&format!("| {name} |"));
        for (_, report) in columns {
            let value = report
                .rows
                .iter()
                .find(|(n, _)| n == name)
                .map_or("–", |(_, v)| v.as_str());
            out.push_str(&format!(" {value} |"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_by_name() {
        let mut a = Report::default();
        a.row("held", 10);
        a.row("only a", "x");
        let mut b = Report::default();
        b.row("held", 9);
        let text = table("t", &[("a".into(), a), ("b".into(), b)]);
        assert!(text.contains("| held | 10 | 9 |"), "{text}");
        assert!(text.contains("| only a | x | – |"), "{text}");
    }
}
