//! Sign-up (SIGNUP-1, SIGNUP-2, PWD-2, RISK-4): a persisted flow that any node can continue.
//!
//! ```text
//! start(email, password, country…) ──► code sent ──verify(code)──► verified ──profile(names)──► account + session
//!                                         │  ▲ resend                     │ name inside password
//!                                         └──┘                            ▼
//!                                                             password_required ──password()──► account + session
//! ```
//!
//! * A taken address gets the same answer in the same time (the password is hashed anyway) and
//!   the owner gets one mail instead of a code; the flow is a decoy that no code can verify.
//! * The code: 6 digits, stored as an HMAC bound to the flow (SEC-1), valid 10 minutes, consumed
//!   once; a resend voids the previous code. Each try is counted before it is checked, 5 per flow.
//! * At most 3 sign-up mails per address per hour, whatever the IP, and a limit per IP on starts
//!   and resends; both counted in the database so every node sees them.
//! * The flow is bound to the browser that started it (the hash of its device id, whose signed
//!   cookie the start sets): its id alone, seen in a URL or a log, continues nothing.
//! * The password typed at step 2 is kept sealed (AEAD under the server key) until step 3, where
//!   the name rule of PWD-2 can finally run; failing it asks for a new password, keeping the
//!   verified email.

use super::accounts::{AccountDraft, CreateAccountError, ProfileInput, language_and_currency};
use super::login_flow::{Entry, LoginOutcome};
use super::password_guard::{Cleared, device_hash};
use super::sessions::{LoginError, LoginSuccess};
use super::{Accounts, Base, Login};
use crate::audit::{Actor, ClientInfo};
use crate::factor::password::HashError;
use crate::mail::{ComposeError, MailKind, MailRequest};
use crate::ports::SignupPorts;
use crate::ports::{FlowRecord, FlowUpdate, OneTimeSecret, StoreError};
use crate::types::subsidiary_for_country;
use crate::types::{Country, Email, EmailError, Password, PolicyViolation, new_id};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const KIND: &str = crate::flow::FlowKind::Signup.as_str();
const CODE_PURPOSE: &str = "signup-code";
const SEAL_PURPOSE: &str = "signup-password";

/// Sign-up limits (settings).
#[derive(Debug, Clone)]
pub struct SignupSettings {
    pub code_ttl: Duration,
    pub flow_ttl: Duration,
    pub max_code_attempts: i64,
    /// Sign-up mails (codes, "someone tried" notices) per address per hour.
    pub mails_per_address_per_hour: i64,
    /// Sign-up starts and resends per IP address per hour.
    pub per_ip_per_hour: i64,
}

impl Default for SignupSettings {
    fn default() -> Self {
        Self {
            code_ttl: Duration::minutes(10),
            flow_ttl: Duration::hours(1),
            max_code_attempts: 5,
            mails_per_address_per_hour: 3,
            per_ip_per_hour: 20,
        }
    }
}

/// Step 2 of SIGNUP-1 (step 1's country, language and currency travel with it).
#[derive(Debug, Clone)]
pub struct SignupStart {
    pub email: String,
    pub password: String,
    pub country: String,
    pub language: Option<String>,
    pub currency: Option<String>,
}

/// Where a flow stands, for pages and API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupStep {
    /// The code was sent; waiting for it.
    VerifyEmail,
    /// The email is verified; waiting for the profile.
    Profile,
    /// The name rule refused the password; waiting for a new one.
    PasswordRequired,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignupError {
    #[error("{0}")]
    Email(#[from] EmailError),
    #[error("{0}")]
    Password(#[from] PolicyViolation),
    #[error("the {0} is missing or invalid")]
    InvalidField(&'static str),
    #[error("too many sign-up attempts; try again later")]
    RateLimited,
    #[error("this sign-up does not exist")]
    NotFound,
    #[error("this sign-up has expired; please start again")]
    Expired,
    #[error("the code is wrong or has expired")]
    InvalidCode,
    #[error("too many wrong codes; please start again")]
    TooManyAttempts,
    #[error("this step is not available now")]
    WrongStep,
    #[error("an account already uses this email address")]
    EmailTaken,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Mail(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CreateAccountError> for SignupError {
    fn from(err: CreateAccountError) -> Self {
        match err {
            CreateAccountError::Email(e) => Self::Email(e),
            CreateAccountError::InvalidField(f) => Self::InvalidField(f),
            CreateAccountError::Password(p) => Self::Password(p),
            CreateAccountError::EmailTaken => Self::EmailTaken,
            CreateAccountError::Hash(h) => Self::Hash(h),
            CreateAccountError::Mail(m) => Self::Mail(m),
            CreateAccountError::Store(s) => Self::Store(s),
        }
    }
}

impl From<LoginError> for SignupError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::Hash(h) => Self::Hash(h),
            LoginError::Mail(m) => Self::Mail(m),
            LoginError::Store(s) => Self::Store(s),
            other => Self::Store(StoreError::Internal(other.to_string())),
        }
    }
}

/// The flow's persisted state.
/// A sign-up as its pages show it.
#[derive(Debug, Clone)]
pub struct SignupView {
    pub step: SignupStep,
    pub email: String,
    pub country: String,
    pub language: String,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignupState {
    email: String,
    email_canonical: String,
    country: String,
    language: String,
    currency: String,
    sealed_password: Option<String>,
    password_phc: Option<String>,
    /// The address has an account: no code exists, nothing can verify this flow.
    decoy: bool,
    step: SignupStep,
    first_name: Option<String>,
    last_name: Option<String>,
    account_type: Option<crate::types::AccountType>,
    company_name: Option<String>,
    phone: Option<String>,
    /// The hash of the device id of the browser that started the flow (flows started before
    /// binding have none).
    #[serde(default)]
    browser: Option<Vec<u8>>,
}

impl SignupState {
    fn profile(&self) -> ProfileInput {
        ProfileInput {
            first_name: self.first_name.clone().unwrap_or_default(),
            last_name: self.last_name.clone().unwrap_or_default(),
            account_type: self.account_type,
            company_name: self.company_name.clone(),
            phone: self.phone.clone(),
        }
    }
}

/// SIGNUP-1/2: the sign-up flow; it ends in the login pipeline.
#[derive(Clone)]
pub struct Signup {
    base: Arc<Base>,
    ports: Arc<dyn SignupPorts>,
    accounts: Accounts,
    login: Login,
}

impl std::fmt::Debug for Signup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signup").finish_non_exhaustive()
    }
}

impl Signup {
    pub(super) fn new(base: Arc<Base>, ports: Arc<dyn SignupPorts>, accounts: Accounts, login: Login) -> Self {
        Self {
            base,
            ports,
            accounts,
            login,
        }
    }

    /// Step 2: checks the address and password and mails a code (or, for a taken address, a
    /// notice to its owner). The answer is the same either way.
    pub async fn signup_start(&self, input: SignupStart, client: &ClientInfo) -> Result<Uuid, SignupError> {
        let email = Email::parse(&input.email)?;
        let country = Country::parse(&input.country).ok_or(SignupError::InvalidField("country"))?;
        let (language, currency) =
            language_and_currency(&country, input.language.as_deref(), input.currency.as_deref())?;
        let password = Password::new(&input.password);
        let subsidiary = subsidiary_for_country(country.as_str()).code;
        self.base
            .settings
            .password_policy
            .check(subsidiary, &password, &[email.local_part()])?;
        self.signup_limits(email.canonical(), client).await?;
        // Hash for every address, taken or not, so both answers cost the same (SIGNUP-2).
        let password_phc = self.base.hasher.hash(&password).await?;
        let now = self.base.clock.now();
        let flow_id = new_id(now);
        let owner = self.ports.find_account_by_login(email.canonical()).await?;
        let sealed = self
            .base
            .key
            .seal(SEAL_PURPOSE, password.expose().as_bytes(), self.base.rng.as_ref())
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let state = SignupState {
            email: email.address().to_owned(),
            email_canonical: email.canonical().to_owned(),
            country: country.as_str().to_owned(),
            language: language.clone(),
            currency,
            sealed_password: Some(sealed),
            password_phc: Some(password_phc),
            decoy: owner.is_some(),
            step: SignupStep::VerifyEmail,
            first_name: None,
            last_name: None,
            account_type: None,
            company_name: None,
            phone: None,
            browser: client.device.as_deref().map(device_hash),
        };
        let (secrets, mails) = match &owner {
            Some(owner) => (
                Vec::new(),
                vec![self.base.compose_for(owner, MailKind::SignupExists, None)?],
            ),
            None => {
                let (secret, mail) = self.new_code(flow_id, &state, now)?;
                (vec![secret], vec![mail])
            }
        };
        let flow = FlowRecord {
            id: flow_id,
            kind: KIND.into(),
            account_id: None,
            state: to_json(&state)?,
            version: 0,
            attempts: 0,
            created_at: now,
            expires_at: now + self.base.settings.signup.flow_ttl,
            completed_at: None,
        };
        self.ports.create_flow(&flow, &secrets, &mails).await?;
        self.base.mail_queued();
        Ok(flow_id)
    }

    /// Step 2b: checks the code from the mail.
    pub async fn signup_verify(
        &self,
        flow_id: Uuid,
        code: &str,
        client: &ClientInfo,
    ) -> Result<SignupStep, SignupError> {
        let (flow, mut state) = self.open_flow(flow_id, client).await?;
        if state.step != SignupStep::VerifyEmail {
            return Ok(state.step);
        }
        // Count the try before looking at the code (RISK-4, MFA-7 style).
        let max = self.base.settings.signup.max_code_attempts;
        if self.ports.count_flow_attempt(flow_id, max).await?.is_none() {
            return Err(SignupError::TooManyAttempts);
        }
        let digits: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SignupError::InvalidCode);
        }
        let hashes = self
            .base
            .key
            .hmacs(CODE_PURPOSE, format!("{flow_id}:{digits}").as_bytes());
        let now = self.base.clock.now();
        if crate::factor::consume_any(self.ports.as_ref(), CODE_PURPOSE, &hashes, now)
            .await?
            .is_none()
        {
            return Err(SignupError::InvalidCode);
        }
        state.step = SignupStep::Profile;
        self.save(&flow, &state, None, &[], &[]).await?;
        Ok(state.step)
    }

    /// Sends a new code, voiding the previous one; limited like the first mail.
    pub async fn signup_resend(&self, flow_id: Uuid, client: &ClientInfo) -> Result<(), SignupError> {
        let (flow, state) = self.open_flow(flow_id, client).await?;
        if state.step != SignupStep::VerifyEmail {
            return Err(SignupError::WrongStep);
        }
        self.signup_limits(&state.email_canonical, client).await?;
        let now = self.base.clock.now();
        if state.decoy {
            // The owner was told once; the answer, and the write it waits for, stay those of a
            // real resend (SIGNUP-2: no timing says the address has an account).
            self.save(&flow, &state, Some(CODE_PURPOSE), &[], &[]).await?;
            return Ok(());
        }
        let (secret, mail) = self.new_code(flow_id, &state, now)?;
        self.save(&flow, &state, Some(CODE_PURPOSE), &[secret], &[mail]).await?;
        self.base.mail_queued();
        Ok(())
    }

    /// Step 3: the profile. Creates the account and logs the customer in, unless the password
    /// holds the name (PWD-2), in which case a new password is asked for.
    pub async fn signup_profile(
        &self,
        flow_id: Uuid,
        profile: ProfileInput,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, SignupError> {
        let (flow, mut state) = self.open_flow(flow_id, client).await?;
        if state.step != SignupStep::Profile {
            return Err(SignupError::WrongStep);
        }
        let draft = self.draft(&state, &profile)?;
        state.first_name = Some(profile.first_name);
        state.last_name = Some(profile.last_name);
        state.account_type = profile.account_type;
        state.company_name = profile.company_name;
        state.phone = profile.phone;
        let password = self.unseal(&state)?;
        if let Err(violation) =
            self.base
                .settings
                .password_policy
                .check(&draft.subsidiary, &password, &draft.personal())
        {
            state.step = SignupStep::PasswordRequired;
            state.sealed_password = None;
            state.password_phc = None;
            self.save(&flow, &state, None, &[], &[]).await?;
            return Err(violation.into());
        }
        self.finish(flow_id, draft, &state, &password, client).await
    }

    /// After the name rule refused the first password: a new one, then the account.
    pub async fn signup_password(
        &self,
        flow_id: Uuid,
        password: &str,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, SignupError> {
        let (_flow, mut state) = self.open_flow(flow_id, client).await?;
        if state.step != SignupStep::PasswordRequired {
            return Err(SignupError::WrongStep);
        }
        let draft = self.draft(&state, &state.profile())?;
        let password = Password::new(password);
        self.base
            .settings
            .password_policy
            .check(&draft.subsidiary, &password, &draft.personal())?;
        state.password_phc = Some(self.base.hasher.hash(&password).await?);
        self.finish(flow_id, draft, &state, &password, client).await
    }

    /// Where a flow stands (pages show the matching step).
    /// Where a sign-up stands, with what its first steps chose (so a page can go back to them).
    pub async fn signup_step(&self, flow_id: Uuid, client: &ClientInfo) -> Result<SignupView, SignupError> {
        let (_, state) = self.open_flow(flow_id, client).await?;
        Ok(SignupView {
            step: state.step,
            email: state.email,
            country: state.country,
            language: state.language,
            currency: state.currency,
        })
    }

    async fn finish(
        &self,
        flow_id: Uuid,
        draft: AccountDraft,
        state: &SignupState,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, SignupError> {
        let phc = state.password_phc.clone().ok_or(SignupError::WrongStep)?;
        let account = self
            .accounts
            .insert_account(draft, phc, password, Actor::Customer, client, Some(flow_id))
            .await?;
        // The welcome mail already tells the customer about the account: no login notice. The
        // pipeline decides what else is owed; a new account has no second factor yet.
        match self
            .login
            .conclude(&account, Entry::Signup, client, false, &Cleared::default(), None)
            .await?
        {
            LoginOutcome::LoggedIn(done) => Ok(*done),
            LoginOutcome::SecondFactor(_) | LoginOutcome::EmailCode(_) => {
                Err(StoreError::Internal("a new account owes no step after sign-up".into()).into())
            }
        }
    }

    fn draft(&self, state: &SignupState, profile: &ProfileInput) -> Result<AccountDraft, SignupError> {
        let email = Email::from_stored(state.email.clone(), state.email_canonical.clone());
        let country = Country::parse(&state.country).ok_or(SignupError::InvalidField("country"))?;
        Ok(AccountDraft::new(
            email,
            country,
            Some(&state.language),
            Some(&state.currency),
            profile,
        )?)
    }

    fn unseal(&self, state: &SignupState) -> Result<Password, SignupError> {
        let sealed = state.sealed_password.as_deref().ok_or(SignupError::WrongStep)?;
        let bytes = self
            .base
            .key
            .open(SEAL_PURPOSE, sealed)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Password::new(text))
    }

    /// The flow, if it is live and `client` is the browser that started it (another browser is
    /// told there is no such flow).
    async fn open_flow(&self, flow_id: Uuid, client: &ClientInfo) -> Result<(FlowRecord, SignupState), SignupError> {
        let flow = self
            .ports
            .find_flow(flow_id, KIND)
            .await?
            .ok_or(SignupError::NotFound)?;
        let state: SignupState =
            serde_json::from_str(&flow.state).map_err(|e| StoreError::Internal(format!("signup state: {e}")))?;
        if let Some(started_by) = &state.browser {
            let presented = client.presented_device().map(device_hash).unwrap_or_default();
            if !bool::from(started_by.ct_eq(&presented)) {
                return Err(SignupError::NotFound);
            }
        }
        // Only its own browser learns that a flow expired.
        if self.base.clock.now() >= flow.expires_at {
            return Err(SignupError::Expired);
        }
        Ok((flow, state))
    }

    async fn save(
        &self,
        flow: &FlowRecord,
        state: &SignupState,
        void_purpose: Option<&str>,
        secrets: &[OneTimeSecret],
        mails: &[crate::mail::ComposedMail],
    ) -> Result<(), SignupError> {
        let state = to_json(state)?;
        let update = FlowUpdate {
            id: flow.id,
            expected_version: flow.version,
            state: &state,
            void_purpose,
            secrets,
            mails,
            now: self.base.clock.now(),
        };
        if self.ports.update_flow(&update).await? {
            Ok(())
        } else {
            // Another request moved the flow on first; this one must look again.
            Err(SignupError::WrongStep)
        }
    }

    /// Per-address and per-IP limits, counted before any mail is queued.
    async fn signup_limits(&self, email_canonical: &str, client: &ClientInfo) -> Result<(), SignupError> {
        let now = self.base.clock.now();
        let since = now - Duration::hours(1);
        let limits = &self.base.settings.signup;
        if let Some(ip) = &client.ip
            && self.ports.hit("signup-ip", ip, since, now).await? > limits.per_ip_per_hour
        {
            return Err(SignupError::RateLimited);
        }
        if self.ports.hit("signup-address", email_canonical, since, now).await? > limits.mails_per_address_per_hour {
            return Err(SignupError::RateLimited);
        }
        Ok(())
    }

    fn code_hash(&self, flow_id: Uuid, code: &str) -> Vec<u8> {
        self.base.key.hmac(CODE_PURPOSE, format!("{flow_id}:{code}").as_bytes())
    }

    fn new_code(
        &self,
        flow_id: Uuid,
        state: &SignupState,
        now: OffsetDateTime,
    ) -> Result<(OneTimeSecret, crate::mail::ComposedMail), SignupError> {
        let code = format!("{:06}", self.base.rng.below(1_000_000));
        let expires_at = now + self.base.settings.signup.code_ttl;
        let secret = OneTimeSecret {
            id: new_id(now),
            purpose: CODE_PURPOSE.into(),
            account_id: None,
            flow_id: Some(flow_id),
            secret_hash: self.code_hash(flow_id, &code),
            created_at: now,
            expires_at,
        };
        let request = MailRequest {
            kind: MailKind::SignupCode { code },
            to: state.email.clone(),
            language: state.language.clone(),
            subsidiary: crate::types::subsidiary_for_country(&state.country).code.to_owned(),
            account_id: None,
            first_name: None,
            nic_handle: None,
            expires_at: Some(expires_at),
        };
        Ok((secret, self.base.composer.compose(&request, now)?))
    }
}

fn to_json(state: &SignupState) -> Result<String, SignupError> {
    serde_json::to_string(state).map_err(|e| StoreError::Internal(e.to_string()).into())
}
