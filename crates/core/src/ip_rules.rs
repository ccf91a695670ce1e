//! RISK-3 IP restriction, as the provider's control panel has it: a default rule (allow or deny)
//! and rules per address or CIDR range (allow or deny, each with "alert me by email"). The most
//! specific matching rule decides; with none, the default does. A pure value: parsing, checking,
//! and the self-lockout test the service runs before saving.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// At most this many rules per account.
pub const MAX_RULES: usize = 50;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRule {
    /// An address or a CIDR range, as given (`192.0.2.0/24`, `2001:db8::1`).
    pub cidr: String,
    pub action: Action,
    /// Mail the owner at each login this rule decides.
    #[serde(default)]
    pub alert: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRules {
    #[serde(default)]
    pub default: Action,
    #[serde(default)]
    pub rules: Vec<IpRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpRulesError {
    #[error("{0:?} is not an IP address or a CIDR range")]
    InvalidCidr(String),
    #[error("at most {MAX_RULES} rules")]
    TooMany,
}

/// What the rules say about one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// Whether the rule that decided asks for a mail.
    pub alert: bool,
}

fn network(cidr: &str) -> Result<IpNet, IpRulesError> {
    let cidr = cidr.trim();
    cidr.parse::<IpNet>()
        .or_else(|_| cidr.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| IpRulesError::InvalidCidr(cidr.to_owned()))
}

impl IpRules {
    /// Checks every rule; ranges are stored in their canonical form (`192.0.2.7/24` → `192.0.2.0/24`).
    pub fn validated(mut self) -> Result<Self, IpRulesError> {
        if self.rules.len() > MAX_RULES {
            return Err(IpRulesError::TooMany);
        }
        for rule in &mut self.rules {
            rule.cidr = network(&rule.cidr)?.to_string();
        }
        Ok(self)
    }

    /// The decision for `ip`: the most specific matching rule, else the default. An address that
    /// can't be read is decided by the default.
    pub fn decide(&self, ip: Option<&str>) -> Decision {
        let ip = ip.and_then(|ip| ip.parse::<IpAddr>().ok());
        let best = ip.and_then(|ip| {
            self.rules
                .iter()
                .filter_map(|rule| network(&rule.cidr).ok().map(|net| (net, rule)))
                .filter(|(net, _)| net.contains(&ip))
                .max_by_key(|(net, _)| net.prefix_len())
                .map(|(_, rule)| rule)
        });
        match best {
            Some(rule) => Decision {
                action: rule.action,
                alert: rule.alert,
            },
            None => Decision {
                action: self.default,
                alert: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(cidr: &str, action: Action, alert: bool) -> IpRule {
        IpRule {
            cidr: cidr.into(),
            action,
            alert,
        }
    }

    #[test]
    fn the_most_specific_rule_decides_else_the_default() {
        let rules = IpRules {
            default: Action::Deny,
            rules: vec![
                rule("192.0.2.0/24", Action::Allow, false),
                rule("192.0.2.66", Action::Deny, true),
                rule("2001:db8::/32", Action::Allow, true),
            ],
        }
        .validated()
        .unwrap();
        assert_eq!(rules.decide(Some("192.0.2.7")).action, Action::Allow);
        assert_eq!(
            rules.decide(Some("192.0.2.66")),
            Decision {
                action: Action::Deny,
                alert: true
            }
        );
        assert_eq!(rules.decide(Some("198.51.100.1")).action, Action::Deny);
        assert!(rules.decide(Some("2001:db8:5::1")).alert);
        assert_eq!(rules.decide(None).action, Action::Deny);
        assert_eq!(IpRules::default().decide(Some("203.0.113.9")).action, Action::Allow);
    }

    #[test]
    fn ranges_are_checked_and_kept_canonical() {
        let rules = IpRules {
            default: Action::Allow,
            rules: vec![rule(" 192.0.2.7/24 ", Action::Deny, false)],
        }
        .validated()
        .unwrap();
        assert_eq!(rules.rules[0].cidr, "192.0.2.0/24");
        let bad = IpRules {
            default: Action::Allow,
            rules: vec![rule("192.0.2.300", Action::Deny, false)],
        };
        assert!(matches!(bad.validated(), Err(IpRulesError::InvalidCidr(_))));
    }
}
