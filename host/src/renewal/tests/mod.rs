//! Table-driven tests of the renewal rules over their boundaries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use asan_applet::CertificateProfile::{Business as B, Citizen as C, Governmental as G};
use asan_applet::ServiceType;

use super::*;

/// Expiry of the signing certificate in these tests.
const EXPIRY: i64 = 1_900_000_000;
const VOEN: &str = "1234567890";

fn signer() -> Validity {
    Validity {
        not_before: EXPIRY - 1095 * DAY,
        not_after: EXPIRY,
    }
}

fn org() -> OrganisationData {
    OrganisationData {
        name: "Nümunə MMC".into(),
        position: "mühasib".into(),
        unit: Some("maliyyə şöbəsi".into()),
        seal_text: None,
        signing_permissions: vec!["e-taxes".into()],
    }
}

fn request(
    service: ServiceType,
    requested: &[asan_applet::CertificateProfile],
    head: bool,
) -> Request {
    let requested = ProfileSet::of(requested);
    Request {
        service,
        current: ProfileSet::allowed_by(service),
        requested,
        signer: signer(),
        service_expires: EXPIRY,
        contact: Some(Contact::Phone("+994501234567".into())),
        voen: Some(VOEN.into()),
        head_of_organisation: head,
        user_id: Some("123456".into()),
        number: NumberKind::Personal,
        organisation: requested.has_organisation().then(org),
    }
}

/// The first second of the window: 00:00 Baku time, 30 days before the
/// expiry date.
fn opens() -> i64 {
    baku::window_opens(EXPIRY, 30)
}

/// An application sent when the window opens; received by the centre at
/// once unless it waits for the head's approval.
fn received(
    service: ServiceType,
    requested: &[asan_applet::CertificateProfile],
    head: bool,
) -> Application {
    let t = opens();
    let mut app = Application::submit(request(service, requested, head), t).unwrap();
    if app.power_of_attorney().is_none() {
        app.receive(t).unwrap();
    }
    app
}

fn cancelled_by(app: &Application) -> Option<Rule> {
    match app.state() {
        State::Cancelled(r) => Some(r.rule),
        _ => None,
    }
}

#[test]
fn the_window_at_its_boundaries() {
    use Closed::*;
    let v = signer();
    // EXPIRY is 2030-03-17T17:46:40Z, 21:46:40 in Baku on 17 March: the
    // window opens at 00:00 Baku time on 15 February (14 Feb 20:00 UTC),
    // computed by hand (`date -u -d 2030-02-14T20:00:00Z +%s`), not by the
    // code under test.
    const OPENS: i64 = 1_897_329_600;
    assert_eq!(opens(), OPENS);
    assert_eq!(format_baku(OPENS), "2030-02-15T00:00:00+04:00");
    let table: [(&str, i64, Option<Closed>); 9] = [
        (
            "not yet valid by one second",
            v.not_before - 1,
            Some(NotYetValid),
        ),
        ("first second of validity", v.not_before, Some(TooEarly)),
        (
            "23:59:59 Baku, 31 days before the expiry date",
            OPENS - 1,
            Some(TooEarly),
        ),
        ("00:00 Baku, 30 days before the expiry date", OPENS, None),
        (
            "30 days before expiry to the second",
            EXPIRY - 30 * DAY,
            None,
        ),
        (
            "31 days before expiry to the second",
            EXPIRY - 31 * DAY,
            Some(TooEarly),
        ),
        ("last second", EXPIRY - 1, None),
        ("exactly at not_after", EXPIRY, Some(Expired)),
        ("expired by one second", EXPIRY + 1, Some(Expired)),
    ];
    for (what, now, closed) in table {
        let w = Window::at(v, now);
        assert_eq!(w.closed, closed, "{what}: {}", format_both(now));
        assert_eq!((w.opens, w.closes), (OPENS, EXPIRY), "{what}");
        assert_eq!(w.is_open(), closed.is_none(), "{what}");
        assert_eq!(w.reason().is_none(), closed.is_none(), "{what}");
        let submitted = Application::submit(request(ServiceType::Citizen, &[C], true), now);
        match closed {
            None => assert!(submitted.is_ok(), "{what}"),
            Some(c) => {
                let e = submitted.unwrap_err();
                assert_eq!(e.rule, c.rule(), "{what}");
                assert_eq!(e.rule.step(), "3.1 step 8 note", "{what}");
                let needle = match c {
                    TooEarly => "opens on 2030-02-15T00:00:00+04:00 (2030-02-14T20:00:00Z)",
                    Expired => "visit in person",
                    NotYetValid => "not yet valid",
                };
                assert!(e.reason.contains(needle), "{what}: {e}");
            }
        }
    }
}

#[test]
fn a_short_certificate_opens_at_not_before() {
    let v = Validity {
        not_before: EXPIRY - 10 * DAY,
        not_after: EXPIRY,
    };
    let w = Window::at(v, EXPIRY - 10 * DAY);
    assert!(w.is_open());
    assert_eq!(w.opens, v.not_before);
}

#[test]
fn every_profile_move_of_every_service_type() {
    use ServiceType::{Business as SB, Citizen as SC, Governmental as SG};
    // (service now, requested, Ok(service after) or Err(rule))
    let refused_alone = Err(Rule::ServiceProfiles);
    let table: Vec<(
        ServiceType,
        Vec<asan_applet::CertificateProfile>,
        Result<ServiceType, Rule>,
    )> = vec![
        (SC, vec![], Err(Rule::ProfileMove)),
        (SC, vec![C], Ok(SC)),
        (SC, vec![C, B], Ok(SB)),
        (SC, vec![C, G], Ok(SG)),
        (SC, vec![B], refused_alone),
        (SC, vec![G], refused_alone),
        (SC, vec![B, G], refused_alone),
        (SC, vec![C, B, G], Err(Rule::ServiceProfiles)),
        (SB, vec![], Err(Rule::ProfileMove)),
        (SB, vec![C], Ok(SC)),
        (SB, vec![C, B], Ok(SB)),
        (SB, vec![C, G], Err(Rule::ProfileMove)),
        (SB, vec![B], refused_alone),
        (SB, vec![G], refused_alone),
        (SB, vec![B, G], refused_alone),
        (SB, vec![C, B, G], Err(Rule::ServiceProfiles)),
        (SG, vec![], Err(Rule::ProfileMove)),
        (SG, vec![C], Ok(SC)),
        (SG, vec![C, G], Ok(SG)),
        (SG, vec![C, B], Err(Rule::ProfileMove)),
        (SG, vec![G], refused_alone),
        (SG, vec![B], refused_alone),
        (SG, vec![B, G], refused_alone),
        (SG, vec![C, B, G], Err(Rule::ServiceProfiles)),
    ];
    assert_eq!(
        table.len(),
        3 * 8,
        "every service type and every set of profiles"
    );
    for (service, requested, expected) in table {
        let current = ProfileSet::allowed_by(service);
        let got = check_move(service, current, ProfileSet::of(&requested));
        let what = format!(
            "{} service → {}",
            service_label(service),
            ProfileSet::of(&requested)
        );
        match (got, expected) {
            (Ok(m), Ok(to)) => {
                assert_eq!(m.to, to, "{what}");
                // Renewed: the requested certificates the card already
                // holds, by the service's profiles written out here.
                let holds = match service {
                    SC => vec![C],
                    SB => vec![C, B],
                    SG => vec![C, G],
                };
                let renewed: Vec<_> = requested
                    .iter()
                    .copied()
                    .filter(|p| holds.contains(p))
                    .collect();
                assert_eq!(m.renewed, ProfileSet::of(&renewed), "{what}");
                assert!(m.to.allows(C), "{what}");
            }
            (Err(r), Err(rule)) => {
                assert_eq!(r.rule, rule, "{what}: {r}");
                assert!(!r.reason.is_empty());
            }
            (got, expected) => panic!("{what}: got {got:?}, expected {expected:?}"),
        }
    }
    let duplicate = ProfileSet::of(&[C, C, B]);
    assert_eq!(duplicate, ProfileSet::of(&[C, B]));
}

#[test]
fn moves_name_what_is_new_and_what_is_dropped_and_why_not() {
    let m = check_move(
        ServiceType::Citizen,
        ProfileSet::of(&[C]),
        ProfileSet::of(&[C, B]),
    )
    .unwrap();
    assert_eq!(
        (m.added, m.dropped),
        (ProfileSet::of(&[B]), ProfileSet::default())
    );
    let m = check_move(
        ServiceType::Business,
        ProfileSet::of(&[C, B]),
        ProfileSet::of(&[C]),
    )
    .unwrap();
    assert_eq!(
        (m.added, m.dropped),
        (ProfileSet::default(), ProfileSet::of(&[B]))
    );
    assert_eq!(
        m.to_string(),
        "Business service → Citizen service (Citizen; not renewed: Business)"
    );
    let e = check_move(
        ServiceType::Business,
        ProfileSet::of(&[C, B]),
        ProfileSet::of(&[C, G]),
    )
    .unwrap_err();
    assert!(
        e.reason
            .contains("does not allow a Governmental certificate"),
        "{e}"
    );
    let e = check_move(
        ServiceType::Citizen,
        ProfileSet::of(&[C]),
        ProfileSet::of(&[B]),
    )
    .unwrap_err();
    assert!(e.reason.contains("Business without Citizen"), "{e}");
    let e = check_move(
        ServiceType::Citizen,
        ProfileSet::of(&[C]),
        ProfileSet::of(&[C, B, G]),
    )
    .unwrap_err();
    assert!(
        e.reason.contains("Business and Governmental together"),
        "{e}"
    );
    // A card whose service does not allow a certificate it holds.
    let e = check_move(
        ServiceType::Citizen,
        ProfileSet::of(&[C, B]),
        ProfileSet::of(&[C]),
    )
    .unwrap_err();
    assert_eq!(e.rule, Rule::ServiceProfiles);
    assert!(
        e.reason.contains("does not allow the Business certificate"),
        "{e}"
    );
}

#[test]
fn contact_and_voen_are_checked_at_submission() {
    let t = EXPIRY - DAY;
    let base = request(ServiceType::Business, &[C, B], true);
    // (change, refused by)
    let cases: Vec<(&str, Request, Option<Rule>)> = vec![
        (
            "no contact",
            Request {
                contact: None,
                ..base.clone()
            },
            Some(Rule::Contact),
        ),
        (
            "bad e-mail",
            Request {
                contact: Some(Contact::Email("ali at example".into())),
                ..base.clone()
            },
            Some(Rule::Contact),
        ),
        (
            "e-mail",
            Request {
                contact: Some(Contact::Email("ali@example.az".into())),
                ..base.clone()
            },
            None,
        ),
        (
            "bad phone",
            Request {
                contact: Some(Contact::Phone("+99450".into())),
                ..base.clone()
            },
            Some(Rule::Contact),
        ),
        (
            "no VÖEN",
            Request {
                voen: None,
                ..base.clone()
            },
            Some(Rule::Voen),
        ),
        (
            "short VÖEN",
            Request {
                voen: Some("12345".into()),
                ..base.clone()
            },
            Some(Rule::Voen),
        ),
        (
            "Citizen without VÖEN",
            Request {
                voen: None,
                ..request(ServiceType::Business, &[C], true)
            },
            None,
        ),
        (
            "corporate number without VÖEN",
            Request {
                voen: None,
                number: NumberKind::Corporate,
                ..request(ServiceType::Citizen, &[C], true)
            },
            Some(Rule::CorporateNumber),
        ),
        (
            "corporate number with VÖEN",
            Request {
                number: NumberKind::Corporate,
                ..request(ServiceType::Citizen, &[C], true)
            },
            None,
        ),
        (
            "Business without organisation data",
            Request {
                organisation: None,
                ..base.clone()
            },
            Some(Rule::OrganisationData),
        ),
        (
            "Business without a position",
            Request {
                organisation: Some(OrganisationData {
                    position: " ".into(),
                    ..org()
                }),
                ..base.clone()
            },
            Some(Rule::OrganisationData),
        ),
        (
            "Business without signing permissions",
            Request {
                organisation: Some(OrganisationData {
                    signing_permissions: vec![],
                    ..org()
                }),
                ..base.clone()
            },
            Some(Rule::OrganisationData),
        ),
        (
            "Citizen with organisation data",
            Request {
                organisation: Some(org()),
                ..request(ServiceType::Citizen, &[C], true)
            },
            Some(Rule::OrganisationData),
        ),
        (
            "no User ID",
            Request {
                user_id: None,
                ..base.clone()
            },
            Some(Rule::UserId),
        ),
        (
            "a 5-digit User ID",
            Request {
                user_id: Some("12345".into()),
                ..base.clone()
            },
            Some(Rule::UserId),
        ),
    ];
    for (what, req, refused) in cases {
        let got = Application::submit(req, t).map(|_| ()).map_err(|e| e.rule);
        assert_eq!(got.err(), refused, "{what}");
    }
}

mod baku_days;
mod states;
