//! What the station knows of its readers, apart from PC/SC: which readers
//! are watched, which hold a card, which card runs are going, and which
//! cards came back while their failed run was still ending. The PC/SC loop
//! (`super::watch`) feeds it what it sees and carries out what it answers,
//! so every rule of the station is tested here without a reader.

use std::collections::BTreeMap;

/// What the station does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// Start a card run on this reader (personalise the card in it).
    Start(String),
    /// Say this status line to the operator.
    Say(String),
}

/// One reader as the station sees it.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    /// A card is in the reader.
    present: bool,
    /// A card run on this reader has not ended yet.
    running: bool,
    /// The card came back while its run was ending: run it again then.
    again: bool,
    /// The reader is in PC/SC's list (false once unplugged; the slot stays
    /// while its run ends).
    listed: bool,
}

/// The station's readers and card runs.
#[derive(Debug, Default)]
pub(super) struct Readers {
    slots: BTreeMap<String, Slot>,
    stopping: bool,
}

impl Readers {
    /// PC/SC's reader list now: readers plugged in are watched, readers
    /// unplugged are dropped (once their run, if any, has ended).
    pub(super) fn listed(&mut self, names: &[String]) -> Vec<Action> {
        let mut actions = Vec::new();
        for name in names {
            let slot = self.slots.entry(name.clone()).or_default();
            if !slot.listed {
                slot.listed = true;
                actions.push(Action::Say(format!("{name}: watching")));
            }
        }
        let gone: Vec<String> = self
            .slots
            .iter()
            .filter(|(n, s)| s.listed && !names.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            let running = self.slots.get(&name).is_some_and(|s| s.running);
            actions.push(Action::Say(if running {
                format!("{name}: reader unplugged half-way: its card fails now")
            } else {
                format!("{name}: reader unplugged")
            }));
            if running {
                if let Some(s) = self.slots.get_mut(&name) {
                    *s = Slot {
                        running: true,
                        ..Slot::default()
                    };
                }
            } else {
                self.slots.remove(&name);
            }
        }
        actions
    }

    /// Whether `reader` is watched (listed and not unplugged).
    pub(super) fn watches(&self, reader: &str) -> bool {
        self.slots.get(reader).is_some_and(|s| s.listed)
    }

    /// The card in `reader` is now `present` (or not).
    pub(super) fn card(&mut self, reader: &str, present: bool) -> Vec<Action> {
        let stopping = self.stopping;
        let Some(slot) = self.slots.get_mut(reader).filter(|s| s.listed) else {
            return Vec::new();
        };
        if slot.present == present {
            return Vec::new();
        }
        slot.present = present;
        if present {
            if slot.running {
                slot.again = true;
                vec![Action::Say(format!(
                    "{reader}: card back while its failed run ends: it resumes then"
                ))]
            } else if stopping {
                vec![Action::Say(format!(
                    "{reader}: card inserted while the station stops: not personalised"
                ))]
            } else {
                slot.running = true;
                vec![Action::Start(reader.to_owned())]
            }
        } else {
            slot.again = false;
            vec![Action::Say(if slot.running {
                format!("{reader}: card removed half-way: it fails now; insert it again to resume")
            } else {
                format!("{reader}: empty, ready for the next card")
            })]
        }
    }

    /// The card run on `reader` has ended.
    pub(super) fn ended(&mut self, reader: &str) -> Vec<Action> {
        let stopping = self.stopping;
        let Some(slot) = self.slots.get_mut(reader) else {
            return Vec::new();
        };
        slot.running = false;
        if !slot.listed {
            self.slots.remove(reader);
            return Vec::new();
        }
        if std::mem::take(&mut slot.again) && slot.present && !stopping {
            slot.running = true;
            return vec![Action::Start(reader.to_owned())];
        }
        Vec::new()
    }

    /// The PC/SC service went away: what any reader holds is unknown until
    /// it answers again (a card still in a reader then counts as inserted,
    /// so a run the outage broke is resumed).
    pub(super) fn service_lost(&mut self) {
        for slot in self.slots.values_mut() {
            slot.present = false;
            slot.again = false;
        }
    }

    /// Ctrl-C: no new card runs from now on.
    pub(super) fn stop(&mut self) {
        self.stopping = true;
    }

    /// How many card runs have not ended.
    pub(super) fn running(&self) -> usize {
        self.slots.values().filter(|s| s.running).count()
    }
}

#[cfg(test)]
#[path = "readers_tests.rs"]
mod tests;
