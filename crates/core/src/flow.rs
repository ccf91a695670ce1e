//! Flow kinds: every multi-step flow is a row in the flow store (any node continues it, OPS-1),
//! tagged with one of these. Each has a state diagram in `docs/design/`.

/// The kind of a persisted flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// SIGNUP-1: country, email and password, emailed code, profile.
    Signup,
    /// LOGIN-2, SESS-3: the steps after a correct password (a login or a re-authentication).
    Login,
    /// SUPPORT-1: an invited agent's key registration, after their password.
    AgentEnrolment,
    /// SUPPORT-1: an agent's key assertion, after their password.
    AgentLogin,
}

impl FlowKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Login => "login",
            Self::AgentEnrolment => "agent-enrolment",
            Self::AgentLogin => "agent-login",
        }
    }
}
