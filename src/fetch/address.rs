//! Which IP addresses the fetcher may connect to.
//!
//! The check runs on resolved addresses, never on the URL text: resolvers
//! accept spellings (`127.1`, `2130706433`, `0x7f000001`) that no string
//! check would catch. Only public unicast addresses pass. IPv6 forms that
//! embed an IPv4 address (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`,
//! NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) are judged by the IPv4
//! address they carry; mapped and NAT64 forms of public addresses pass, the
//! deprecated compatible and 6to4 forms never do. IPv6 outside the global
//! unicast block `2000::/3` is refused whole.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, site-local `fec0::/10`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    SharedAddressSpace,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18/15`, `2001:2::/48`.
    Benchmarking,
    /// Unique-local IPv6, `fc00::/7`.
    UniqueLocal,
    /// Any other special-purpose or unallocated range.
    Reserved,
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forbidden::Unspecified => "unspecified address",
            Forbidden::Loopback => "loopback address",
            Forbidden::Private => "private address",
            Forbidden::LinkLocal => "link-local address",
            Forbidden::SharedAddressSpace => "carrier-grade NAT address",
            Forbidden::Multicast => "multicast address",
            Forbidden::Broadcast => "broadcast address",
            Forbidden::Documentation => "documentation address",
            Forbidden::Benchmarking => "benchmarking address",
            Forbidden::UniqueLocal => "unique-local address",
            Forbidden::Reserved => "reserved address",
        })
    }
}

/// A rule deciding which resolved addresses may be connected to.
pub type AddressCheck = fn(IpAddr) -> Result<(), Forbidden>;

/// The production rule: public unicast addresses only.
pub fn check_public(ip: IpAddr) -> Result<(), Forbidden> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

/// [`check_public`], but `127.0.0.0/8` and `::1` pass too. For tests that
/// run a file server on loopback; configuration never selects it.
pub fn check_public_or_loopback(ip: IpAddr) -> Result<(), Forbidden> {
    match check_public(ip) {
        Err(Forbidden::Loopback) if ip.is_loopback() => Ok(()),
        other => other,
    }
}

/// IPv4 special-purpose ranges, most specific first: `(network, prefix, reason)`.
const V4_RANGES: &[([u8; 4], u32, Forbidden)] = &[
    ([255, 255, 255, 255], 32, Forbidden::Broadcast),
    ([0, 0, 0, 0], 32, Forbidden::Unspecified),
    ([0, 0, 0, 0], 8, Forbidden::Reserved),
    ([10, 0, 0, 0], 8, Forbidden::Private),
    ([100, 64, 0, 0], 10, Forbidden::SharedAddressSpace),
    ([127, 0, 0, 0], 8, Forbidden::Loopback),
    ([169, 254, 0, 0], 16, Forbidden::LinkLocal),
    ([172, 16, 0, 0], 12, Forbidden::Private),
    ([192, 0, 0, 0], 24, Forbidden::Reserved),
    ([192, 0, 2, 0], 24, Forbidden::Documentation),
    ([192, 88, 99, 0], 24, Forbidden::Reserved),
    ([192, 168, 0, 0], 16, Forbidden::Private),
    ([198, 18, 0, 0], 15, Forbidden::Benchmarking),
    ([198, 51, 100, 0], 24, Forbidden::Documentation),
    ([203, 0, 113, 0], 24, Forbidden::Documentation),
    ([224, 0, 0, 0], 4, Forbidden::Multicast),
    ([240, 0, 0, 0], 4, Forbidden::Reserved),
];

fn check_v4(ip: Ipv4Addr) -> Result<(), Forbidden> {
    let bits = u32::from(ip);
    for &(network, prefix, reason) in V4_RANGES {
        let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
        if bits & mask == u32::from_be_bytes(network) {
            return Err(reason);
        }
    }
    Ok(())
}

/// IPv6 ranges inside `2000::/3` that are still special: `(network, prefix, reason)`.
const V6_RANGES: &[(u128, u32, Forbidden)] = &[
    (0x2001_0db8 << 96, 32, Forbidden::Documentation),
    (0x2001_0002 << 96, 48, Forbidden::Benchmarking),
    (0x2001 << 112, 23, Forbidden::Reserved),
    (0x3fff << 112, 20, Forbidden::Documentation),
];

fn check_v6(ip: Ipv6Addr) -> Result<(), Forbidden> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return check_v4(v4);
    }
    let bits = u128::from(ip);
    let in_net = |network: u128, prefix: u32| bits & u128::MAX.checked_shl(128 - prefix).unwrap_or(0) == network;
    let embedded = |shift: u32| Ipv4Addr::from((bits >> shift) as u32);
    if ip.is_unspecified() {
        return Err(Forbidden::Unspecified);
    }
    if ip.is_loopback() {
        return Err(Forbidden::Loopback);
    }
    if in_net(0, 96) {
        // IPv4-compatible `::a.b.c.d`: deprecated, never routed.
        return check_v4(embedded(0)).and(Err(Forbidden::Reserved));
    }
    if in_net(0x0064_ff9b << 96, 96) {
        // NAT64 well-known prefix: the gateway connects to the IPv4 address.
        return check_v4(embedded(0));
    }
    if in_net(0x2002 << 112, 16) {
        // 6to4: deprecated; the IPv4 address sits in bits 16..48.
        return check_v4(embedded(80)).and(Err(Forbidden::Reserved));
    }
    if in_net(0xff << 120, 8) {
        return Err(Forbidden::Multicast);
    }
    if in_net(0xfe80 << 112, 10) {
        return Err(Forbidden::LinkLocal);
    }
    if in_net(0xfec0 << 112, 10) {
        return Err(Forbidden::Private);
    }
    if in_net(0xfc << 120, 7) {
        return Err(Forbidden::UniqueLocal);
    }
    if !in_net(0x2000 << 112, 3) {
        return Err(Forbidden::Reserved);
    }
    for &(network, prefix, reason) in V6_RANGES {
        if in_net(network, prefix) {
            return Err(reason);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(s: &str) -> Result<(), Forbidden> {
        check_public(s.parse().unwrap())
    }

    fn assert_all(addresses: &[&str], expected: Result<(), Forbidden>) {
        for a in addresses {
            assert_eq!(verdict(a), expected, "{a}");
        }
    }

    #[test]
    fn ipv4_special_ranges_are_refused_edges_included() {
        use Forbidden::*;
        assert_all(&["0.0.0.0"], Err(Unspecified));
        assert_all(&["0.0.0.1", "0.255.255.255"], Err(Reserved));
        assert_all(
            &[
                "10.0.0.0",
                "10.0.0.1",
                "10.255.255.255",
                "172.16.0.0",
                "172.31.255.255",
                "192.168.0.0",
                "192.168.255.255",
            ],
            Err(Private),
        );
        assert_all(&["100.64.0.0", "100.64.0.1", "100.127.255.255"], Err(SharedAddressSpace));
        assert_all(&["127.0.0.0", "127.0.0.1", "127.255.255.255"], Err(Loopback));
        assert_all(&["169.254.0.0", "169.254.169.254", "169.254.255.255"], Err(LinkLocal));
        assert_all(&["192.0.0.0", "192.0.0.255", "192.88.99.1", "240.0.0.0", "255.255.255.254"], Err(Reserved));
        assert_all(&["192.0.2.0", "192.0.2.255", "198.51.100.7", "203.0.113.0", "203.0.113.255"], Err(Documentation));
        assert_all(&["198.18.0.0", "198.19.255.255"], Err(Benchmarking));
        assert_all(&["224.0.0.0", "224.0.0.1", "239.255.255.255"], Err(Multicast));
        assert_all(&["255.255.255.255"], Err(Broadcast));
    }

    #[test]
    fn ipv4_neighbours_of_the_ranges_pass() {
        assert_all(
            &[
                "1.1.1.1",
                "8.8.8.8",
                "9.255.255.255",
                "11.0.0.0",
                "100.63.255.255",
                "100.128.0.0",
                "126.255.255.255",
                "128.0.0.0",
                "169.253.255.255",
                "169.255.0.0",
                "172.15.255.255",
                "172.32.0.0",
                "192.0.1.0",
                "192.0.3.0",
                "192.167.255.255",
                "192.169.0.0",
                "198.17.255.255",
                "198.20.0.0",
                "223.255.255.255",
            ],
            Ok(()),
        );
    }

    #[test]
    fn ipv6_special_ranges_are_refused() {
        use Forbidden::*;
        assert_all(&["::"], Err(Unspecified));
        assert_all(&["::1"], Err(Loopback));
        assert_all(&["fe80::", "fe80::1", "febf:ffff::1"], Err(LinkLocal));
        assert_all(&["fc00::", "fc00::1", "fd12:3456::1", "fdff:ffff::1"], Err(UniqueLocal));
        assert_all(&["fec0::1"], Err(Private));
        assert_all(&["ff02::1", "ff0e::1", "ff00::"], Err(Multicast));
        assert_all(&["2001:db8::", "2001:db8:ffff::1", "3fff::1", "3fff:0fff::1"], Err(Documentation));
        assert_all(&["2001:2::1"], Err(Benchmarking));
        assert_all(
            // discard-only, local NAT64, Teredo, ORCHID, outside 2000::/3, SRv6
            &["100::1", "64:ff9b:1::1", "2001::1", "2001:10::1", "4000::1", "5f00::1", "::2:0:0:1"],
            Err(Reserved),
        );
    }

    #[test]
    fn ipv6_global_unicast_passes() {
        assert_all(
            &["2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::1", "3ffe::1", "3fff:1000::1"],
            Ok(()),
        );
    }

    #[test]
    fn ipv4_embedded_in_ipv6_is_judged_by_its_ipv4_address() {
        use Forbidden::*;
        // Mapped: `Ipv6Addr::is_loopback` is false for the first one.
        assert_all(&["::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:127.1.2.3"], Err(Loopback));
        assert_all(&["::ffff:10.0.0.1", "::ffff:192.168.1.1", "::ffff:172.16.0.1"], Err(Private));
        assert_all(&["::ffff:169.254.169.254"], Err(LinkLocal));
        assert_all(&["::ffff:100.64.0.1"], Err(SharedAddressSpace));
        assert_all(&["::ffff:0.0.0.0"], Err(Unspecified));
        assert_all(&["::ffff:255.255.255.255"], Err(Broadcast));
        assert_all(&["::ffff:224.0.0.1"], Err(Multicast));
        assert_all(&["::ffff:8.8.8.8"], Ok(()));
        // Compatible (deprecated): the embedded reason, else reserved.
        assert_all(&["::127.0.0.1"], Err(Loopback));
        assert_all(&["::10.0.0.1"], Err(Private));
        assert_all(&["::169.254.169.254"], Err(LinkLocal));
        assert_all(&["::8.8.8.8"], Err(Reserved));
        // NAT64 well-known prefix.
        assert_all(&["64:ff9b::127.0.0.1", "64:ff9b::7f00:1"], Err(Loopback));
        assert_all(&["64:ff9b::10.1.2.3"], Err(Private));
        assert_all(&["64:ff9b::169.254.169.254"], Err(LinkLocal));
        assert_all(&["64:ff9b::100.64.0.1"], Err(SharedAddressSpace));
        assert_all(&["64:ff9b::0.0.0.0"], Err(Unspecified));
        assert_all(&["64:ff9b::8.8.8.8"], Ok(()));
        // 6to4 (deprecated): the embedded reason, else reserved.
        assert_all(&["2002:7f00:1::1"], Err(Loopback));
        assert_all(&["2002:a9fe:a9fe::"], Err(LinkLocal));
        assert_all(&["2002:808:808::1"], Err(Reserved));
    }

    #[test]
    fn loopback_switch_only_admits_loopback() {
        let ok = |s: &str| check_public_or_loopback(s.parse().unwrap());
        assert_eq!(ok("127.0.0.1"), Ok(()));
        assert_eq!(ok("::1"), Ok(()));
        assert_eq!(ok("10.0.0.1"), Err(Forbidden::Private));
        assert_eq!(ok("0.0.0.0"), Err(Forbidden::Unspecified));
        assert_eq!(ok("::ffff:127.0.0.1"), Err(Forbidden::Loopback));
        assert_eq!(ok("169.254.169.254"), Err(Forbidden::LinkLocal));
    }
}
