//! Which addresses count as one client for the per-address limits and sign-in locks. An IPv6
//! client is given a whole /64 (a home or a phone network hands out 2^64 addresses, each one a
//! fresh bucket otherwise); an IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is that IPv4.

use std::net::{IpAddr, Ipv6Addr};

/// The key a client's limits and locks are kept under.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

/// [`limit_key`] of an address as the sign-in records write it (text; anything unreadable is
/// kept as written).
pub fn lock_key(address: Option<&str>) -> String {
    match address.map(|a| a.parse::<IpAddr>()) {
        Some(Ok(ip)) => limit_key(ip).to_string(),
        Some(Err(_)) => address.unwrap_or_default().to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_64_and_an_ipv4_one_itself() {
        let key = |a: &str| limit_key(a.parse().expect("address")).to_string();
        assert_eq!(key("2001:db8:0:1::7"), "2001:db8:0:1::");
        assert_eq!(key("2001:db8:0:1:ffff:1:2:3"), "2001:db8:0:1::");
        assert_ne!(key("2001:db8:0:2::7"), key("2001:db8:0:1::7"));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(lock_key(Some("2001:db8:0:1::9")), "2001:db8:0:1::");
        assert_eq!(lock_key(None), "");
    }
}
