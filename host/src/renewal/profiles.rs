//! Which certificates a service type allows, and which moves between
//! service types an online renewal may make (the FAQ's notices and its
//! "Citizen ➔ Citizen + Business" cases).

use std::fmt;

use asan_applet::{CertificateProfile, ServiceType};

use super::rules::{Refusal, Rule};

/// A set of certificate profiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProfileSet {
    /// Citizen (Şəxsi).
    pub citizen: bool,
    /// Business (İş).
    pub business: bool,
    /// Governmental (Dövlət və bələdiyyə).
    pub governmental: bool,
}

impl ProfileSet {
    /// The set of `profiles` (duplicates are one).
    pub fn of(profiles: &[CertificateProfile]) -> Self {
        let mut s = Self::default();
        for p in profiles {
            s.insert(*p);
        }
        s
    }

    /// Adds `p`.
    pub fn insert(&mut self, p: CertificateProfile) {
        match p {
            CertificateProfile::Citizen => self.citizen = true,
            CertificateProfile::Business => self.business = true,
            CertificateProfile::Governmental => self.governmental = true,
        }
    }

    /// Whether `p` is in the set.
    pub const fn contains(self, p: CertificateProfile) -> bool {
        match p {
            CertificateProfile::Citizen => self.citizen,
            CertificateProfile::Business => self.business,
            CertificateProfile::Governmental => self.governmental,
        }
    }

    /// The profiles, Citizen first.
    pub fn profiles(self) -> Vec<CertificateProfile> {
        CertificateProfile::ALL
            .into_iter()
            .filter(|p| self.contains(*p))
            .collect()
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        !(self.citizen || self.business || self.governmental)
    }

    /// Profiles in `self` that are not in `other`.
    pub fn minus(self, other: Self) -> Self {
        Self {
            citizen: self.citizen && !other.citizen,
            business: self.business && !other.business,
            governmental: self.governmental && !other.governmental,
        }
    }

    /// Everything a service type allows.
    pub fn allowed_by(service: ServiceType) -> Self {
        Self::of(
            &CertificateProfile::ALL
                .into_iter()
                .filter(|p| service.allows(*p))
                .collect::<Vec<_>>(),
        )
    }

    /// Whether a Business or Governmental profile is in the set.
    pub const fn has_organisation(self) -> bool {
        self.business || self.governmental
    }
}

impl fmt::Display for ProfileSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.profiles().into_iter().map(label).collect();
        f.write_str(&names.join(" + "))
    }
}

/// The procedure's name of a profile: `Citizen`, `Business`, `Governmental`.
pub const fn label(p: CertificateProfile) -> &'static str {
    match p {
        CertificateProfile::Citizen => "Citizen",
        CertificateProfile::Business => "Business",
        CertificateProfile::Governmental => "Governmental",
    }
}

/// The procedure's name of a service type.
pub const fn service_label(s: ServiceType) -> &'static str {
    match s {
        ServiceType::Citizen => "Citizen",
        ServiceType::Business => "Business",
        ServiceType::Governmental => "Governmental",
    }
}

/// A service type from the CLI's name (`citizen`, `business`, `government`).
pub fn service_from_name(name: &str) -> Option<ServiceType> {
    match name {
        "citizen" => Some(ServiceType::Citizen),
        "business" => Some(ServiceType::Business),
        "government" | "governmental" => Some(ServiceType::Governmental),
        _ => None,
    }
}

/// A profile from the CLI's name (`citizen`, `business`, `government`).
pub fn profile_from_name(name: &str) -> Option<CertificateProfile> {
    match name {
        "citizen" => Some(CertificateProfile::Citizen),
        "business" => Some(CertificateProfile::Business),
        "government" | "governmental" => Some(CertificateProfile::Governmental),
        _ => None,
    }
}

/// The service type a set of profiles needs (checked by [`check_move`]).
fn implied_service(set: ProfileSet) -> ServiceType {
    if set.business {
        ServiceType::Business
    } else if set.governmental {
        ServiceType::Governmental
    } else {
        ServiceType::Citizen
    }
}

/// An allowed move: the service type before and after, and what happens to
/// each certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The subscriber's service type now.
    pub from: ServiceType,
    /// The service type after renewal (prolonged at the operator as `ferdi`,
    /// `biznes` or `dovlet`).
    pub to: ServiceType,
    /// The profiles requested.
    pub requested: ProfileSet,
    /// Requested profiles that have a certificate now: renewed.
    pub renewed: ProfileSet,
    /// Requested profiles without a certificate now: new certificates.
    pub added: ProfileSet,
    /// Profiles with a certificate now that are not requested: not renewed.
    pub dropped: ProfileSet,
}

impl fmt::Display for Move {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} service → {} service ({}",
            service_label(self.from),
            service_label(self.to),
            self.requested
        )?;
        if !self.added.is_empty() {
            write!(f, "; new: {}", self.added)?;
        }
        if !self.dropped.is_empty() {
            write!(f, "; not renewed: {}", self.dropped)?;
        }
        f.write_str(")")
    }
}

/// Checks the move from a subscriber with service type `service` and
/// certificates of the profiles `current` to the `requested` profiles.
///
/// Allowed: Citizen → Citizen, Citizen + Business or Citizen +
/// Governmental; Business → Citizen + Business or Citizen; Governmental →
/// Citizen + Governmental or Citizen. Refused: nothing requested; Business
/// or Governmental without Citizen; Business and Governmental together;
/// a current certificate the service type does not allow; Business ↔
/// Governmental.
pub fn check_move(
    service: ServiceType,
    current: ProfileSet,
    requested: ProfileSet,
) -> Result<Move, Refusal> {
    if requested.is_empty() {
        return Err(Refusal::new(
            Rule::ProfileMove,
            "no profile requested: name the certificates to renew (citizen, business, government)",
        ));
    }
    if !requested.citizen {
        return Err(Refusal::new(
            Rule::ServiceProfiles,
            format!(
                "{requested} without Citizen is not possible: every service type includes the Citizen certificate"
            ),
        ));
    }
    if requested.business && requested.governmental {
        return Err(Refusal::new(
            Rule::ServiceProfiles,
            "Business and Governmental together are not possible: no service type allows both",
        ));
    }
    let allowed = ProfileSet::allowed_by(service);
    let foreign = current.minus(allowed);
    if !foreign.is_empty() {
        return Err(Refusal::new(
            Rule::ServiceProfiles,
            format!(
                "the {} service does not allow the {foreign} certificate the card holds (it allows {allowed})",
                service_label(service)
            ),
        ));
    }
    let to = implied_service(requested);
    if matches!(
        (service, to),
        (ServiceType::Business, ServiceType::Governmental)
            | (ServiceType::Governmental, ServiceType::Business)
    ) {
        let wanted = requested.minus(allowed);
        return Err(Refusal::new(
            Rule::ProfileMove,
            format!(
                "the {} service does not allow a {wanted} certificate (it allows {allowed}), and {} → {} is not an online move: renew as {allowed} or Citizen only",
                service_label(service),
                service_label(service),
                service_label(to),
            ),
        ));
    }
    Ok(Move {
        from: service,
        to,
        requested,
        renewed: requested.minus(requested.minus(current)),
        added: requested.minus(current),
        dropped: current.minus(requested),
    })
}

/// The SMS text that prolongs a service type (FAQ): `ferdi`, `biznes`,
/// `dovlet`.
pub const fn sms_keyword(service: ServiceType) -> &'static str {
    match service {
        ServiceType::Citizen => "ferdi",
        ServiceType::Business => "biznes",
        ServiceType::Governmental => "dovlet",
    }
}

/// The service type of an SMS text (`ferdi`, `biznes`, `dovlet`).
pub fn service_from_sms(keyword: &str) -> Option<ServiceType> {
    match keyword {
        "ferdi" => Some(ServiceType::Citizen),
        "biznes" => Some(ServiceType::Business),
        "dovlet" => Some(ServiceType::Governmental),
        _ => None,
    }
}
