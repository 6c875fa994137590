//! The station's rules, event by event, without a reader.

use super::{Action, Readers};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn start(r: &str) -> Vec<Action> {
    vec![Action::Start(r.to_owned())]
}

fn says(actions: &[Action], part: &str) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Say(l) if l.contains(part)))
}

fn starts(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start(r) => Some(r.as_str()),
            Action::Say(_) => None,
        })
        .collect()
}

#[test]
fn a_reader_plugged_in_later_is_watched_and_its_card_personalised() {
    let mut st = Readers::default();
    let a = st.listed(&names(&["A"]));
    assert!(says(&a, "A: watching"), "{a:?}");
    assert_eq!(st.card("A", true), start("A"));
    // Nothing is said again for a reader already watched.
    assert!(st.listed(&names(&["A"])).is_empty());
    // A card in a reader the station does not know yet is not run.
    assert!(st.card("B", true).is_empty());
    let b = st.listed(&names(&["A", "B"]));
    assert_eq!(b, vec![Action::Say("B: watching".into())]);
    assert!(st.watches("B"));
    assert_eq!(st.card("B", true), start("B"));
    assert_eq!(st.running(), 2);
}

#[test]
fn a_card_pulled_out_half_way_fails_and_is_resumed_when_it_comes_back() {
    let mut st = Readers::default();
    st.listed(&names(&["A"]));
    assert_eq!(st.card("A", true), start("A"));
    let out = st.card("A", false);
    assert!(says(&out, "A: card removed half-way"), "{out:?}");
    assert!(says(&out, "insert it again to resume"), "{out:?}");
    // The failed run ends while the reader is empty.
    assert!(st.ended("A").is_empty());
    assert_eq!(st.running(), 0);
    assert_eq!(st.card("A", true), start("A"));
}

#[test]
fn a_card_back_before_its_failed_run_has_ended_is_resumed_once_it_has() {
    let mut st = Readers::default();
    st.listed(&names(&["A"]));
    assert_eq!(st.card("A", true), start("A"));
    st.card("A", false);
    // Back while the run still ends: no second run on the same reader.
    let back = st.card("A", true);
    assert!(starts(&back).is_empty(), "{back:?}");
    assert!(says(&back, "resumes then"), "{back:?}");
    assert_eq!(st.running(), 1);
    // The run ends: the card is run again, once.
    assert_eq!(st.ended("A"), start("A"));
    assert_eq!(st.running(), 1);
    assert!(st.ended("A").is_empty());
    assert_eq!(st.running(), 0);
}

#[test]
fn a_card_back_and_out_again_before_the_run_ended_is_not_run() {
    let mut st = Readers::default();
    st.listed(&names(&["A"]));
    st.card("A", true);
    st.card("A", false);
    st.card("A", true);
    st.card("A", false);
    assert!(st.ended("A").is_empty());
    assert_eq!(st.running(), 0);
}

#[test]
fn a_card_that_stays_is_run_once_and_its_removal_frees_the_reader() {
    let mut st = Readers::default();
    st.listed(&names(&["A"]));
    assert_eq!(st.card("A", true), start("A"));
    // The same state again (another reader's change woke the wait).
    assert!(st.card("A", true).is_empty());
    assert!(st.ended("A").is_empty());
    let out = st.card("A", false);
    assert_eq!(
        out,
        vec![Action::Say("A: empty, ready for the next card".into())]
    );
    assert!(st.card("A", false).is_empty());
}

#[test]
fn a_reader_unplugged_during_a_run_is_dropped_once_the_run_has_ended() {
    let mut st = Readers::default();
    st.listed(&names(&["A", "B"]));
    st.card("A", true);
    st.card("B", true);
    let out = st.listed(&names(&["B"]));
    assert!(says(&out, "A: reader unplugged half-way"), "{out:?}");
    assert!(!st.watches("A"));
    assert_eq!(st.running(), 2);
    // Its card state no longer counts.
    assert!(st.card("A", true).is_empty());
    assert!(st.ended("A").is_empty());
    assert_eq!(st.running(), 1);
    // Plugged in again: watched, and its card is a new card.
    let out = st.listed(&names(&["A", "B"]));
    assert!(says(&out, "A: watching"), "{out:?}");
    assert_eq!(st.card("A", true), start("A"));
    // An idle reader unplugged is simply dropped.
    st.ended("B");
    let out = st.listed(&names(&["A"]));
    assert_eq!(out, vec![Action::Say("B: reader unplugged".into())]);
    assert!(!st.watches("B"));
}

#[test]
fn a_reader_unplugged_and_back_before_its_run_ended_resumes_the_card() {
    let mut st = Readers::default();
    st.listed(&names(&["A"]));
    st.card("A", true);
    st.listed(&[]);
    st.listed(&names(&["A"]));
    let back = st.card("A", true);
    assert!(starts(&back).is_empty(), "{back:?}");
    assert_eq!(st.ended("A"), start("A"));
}

#[test]
fn after_ctrl_c_no_card_is_started_and_the_runs_in_progress_are_counted() {
    let mut st = Readers::default();
    st.listed(&names(&["A", "B"]));
    st.card("A", true);
    st.card("A", false);
    st.card("A", true);
    st.stop();
    assert_eq!(st.running(), 1);
    let out = st.card("B", true);
    assert!(starts(&out).is_empty(), "{out:?}");
    assert!(
        says(&out, "B: card inserted while the station stops"),
        "{out:?}"
    );
    // The card that came back is not resumed either.
    assert!(st.ended("A").is_empty());
    assert_eq!(st.running(), 0);
}

#[test]
fn after_the_service_came_back_a_card_still_inserted_is_run_again() {
    let mut st = Readers::default();
    st.listed(&names(&["A", "B"]));
    assert_eq!(st.card("A", true), start("A"));
    st.ended("A");
    st.card("B", true);
    st.service_lost();
    // B's run is still ending when PC/SC answers again.
    assert!(
        st.listed(&names(&["A", "B", "C"]))
            .iter()
            .all(|a| a == &Action::Say("C: watching".into()))
    );
    assert_eq!(st.card("A", true), start("A"));
    let out = st.card("B", true);
    assert!(starts(&out).is_empty(), "{out:?}");
    assert_eq!(st.ended("B"), start("B"));
}
