//! The node's own account of itself, from its metrics endpoint: what
//! `/proc` cannot show (`examples::process` reads the rest).

use std::time::Duration;

/// The value of the unlabelled metric `name` on the Prometheus endpoint at
/// `addr` (`http://<addr>/metrics`), or `None` if the endpoint does not
/// answer or lacks it. A plain HTTP/1.0 request: the load needs one number.
pub fn scrape(addr: std::net::SocketAddr, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: load\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    // The exporter's page is small; bound what is read all the same.
    tcp.take(1 << 20).read_to_string(&mut body).ok()?;
    body.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}
