//! Address blocks in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`), for `relay --from`.

use std::fmt;
use std::net::IpAddr;

/// One block of addresses: those whose first `prefix` bits are `network`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `ADDRESS/PREFIX`, or a bare address (the block of that one address). Bits past the
    /// prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`), as route and firewall tools take it.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}': '{address}' is not an IP address"))?;
        let bits = max_prefix(network);
        let prefix = match prefix {
            None => bits,
            // Digits only: u8's parser would also take a leading '+'.
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= bits)
                .ok_or_else(|| format!("'{text}': prefix /{p} is above /{bits}"))?,
            Some(p) => return Err(format!("'{text}': prefix '{p}' is not a number")),
        };
        Ok(Cidr {
            network: mask(network, prefix),
            prefix,
        })
    }

    /// Whether `address` is in the block. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how
    /// a dual-stack socket shows an IPv4 sender) is taken as the IPv4 address it maps.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(address, self.prefix) == self.network
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// `CIDR[,CIDR...]`, with a one-line error naming the bad entry.
pub fn list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',').map(|c| Cidr::parse(c.trim())).collect()
}

/// Whether any block of `blocks` contains `address`.
pub fn any_contains(blocks: &[Cidr], address: IpAddr) -> bool {
    blocks.iter().any(|b| b.contains(address))
}

fn max_prefix(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `address` with every bit past the first `prefix` cleared.
fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(a) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & keep).into())
        }
        IpAddr::V6(a) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & keep).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn cidr(text: &str) -> Cidr {
        Cidr::parse(text).unwrap()
    }

    #[test]
    fn ipv4_blocks() {
        let net = cidr("192.0.2.0/24");
        assert!(net.contains(ip("192.0.2.0")));
        assert!(net.contains(ip("192.0.2.255")));
        assert!(!net.contains(ip("192.0.3.0")));
        assert!(!net.contains(ip("192.0.1.255")));
        assert!(cidr("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!cidr("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(cidr("127.0.0.1/32").contains(ip("127.0.0.1")));
        assert!(cidr("10.0.0.0/7").contains(ip("11.255.0.1")));
        assert!(!cidr("10.0.0.0/7").contains(ip("12.0.0.0")));
        let all = cidr("0.0.0.0/0");
        assert!(all.contains(ip("255.255.255.255")) && all.contains(ip("0.0.0.0")));
        assert!(!all.contains(ip("::1")), "IPv4 blocks hold no IPv6 address");
    }

    #[test]
    fn ipv6_blocks() {
        let net = cidr("2001:db8::/32");
        assert!(net.contains(ip("2001:db8::1")));
        assert!(net.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!net.contains(ip("2001:db9::")));
        assert!(cidr("::1").contains(ip("::1")));
        assert!(!cidr("::1/128").contains(ip("::2")));
        assert!(cidr("fe80::/10").contains(ip("febf::1")));
        assert!(!cidr("fe80::/10").contains(ip("fec0::1")));
        let all = cidr("::/0");
        assert!(all.contains(ip("ffff::")) && !all.contains(ip("127.0.0.1")));
    }

    #[test]
    fn ipv4_mapped_senders_match_ipv4_blocks() {
        assert!(cidr("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(!cidr("10.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(!cidr("::/0").contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn host_bits_are_ignored() {
        assert_eq!(cidr("10.1.2.3/8"), cidr("10.0.0.0/8"));
        assert_eq!(cidr("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("2001:db8::1/32").to_string(), "2001:db8::/32");
    }

    #[test]
    fn bad_blocks_say_what_is_wrong() {
        let error = |text| Cidr::parse(text).unwrap_err();
        assert!(error("10.0.0.0/33").contains("/33 is above /32"));
        assert!(error("::/129").contains("/129 is above /128"));
        assert!(error("10.0.0.0/").contains("not a number"));
        assert!(error("10.0.0.0/+8").contains("not a number"));
        assert!(error("10.0.0.0/8/8").contains("not a number"));
        assert!(error("10.0.0.0/999").contains("above /32"));
        assert!(error("10.0.0/8").contains("not an IP address"));
        assert!(error("localhost/8").contains("not an IP address"));
        assert!(error("").contains("not an IP address"));
        assert!(error("[::1]/128").contains("not an IP address"));
    }

    #[test]
    fn lists() {
        let blocks = list("127.0.0.1/32, ::1").unwrap();
        assert_eq!(blocks.len(), 2);
        assert!(any_contains(&blocks, ip("::1")));
        assert!(any_contains(&blocks, ip("127.0.0.1")));
        assert!(!any_contains(&blocks, ip("127.0.0.2")));
        assert!(list("127.0.0.1,").unwrap_err().contains("''"));
    }
}
