//! When the category counters are published (issue 22, item 11). The
//! per-device byte counts are on the admin's device list, refreshed every
//! pass; if the category totals were too, a viewer polling both at a quiet
//! hour could tell what one phone was doing. So the bytes each pass adds to
//! the categories wait here, in memory, and reach the store (the API, the
//! console) and `/metrics` together, once per `[usage] publish_every` (an
//! hour by default), and only once at least `[usage] publish_min_devices`
//! devices (3 by default) moved traffic in that window; otherwise the
//! window grows until enough have. A window never crosses a local day: at
//! midnight the last day's bytes are published whatever the crowd, so daily
//! totals stay whole (a day with one user is the limit of this, see docs).

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{DailyUsage, Mac};

/// Category bytes waiting to be published, and who was active meanwhile.
#[derive(Debug, Default)]
pub(super) struct CategoryWindow {
    /// The local day the bytes belong to (0: nothing waits).
    day: u32,
    /// Unix seconds the window opened.
    opened: i64,
    /// Bytes per category since the last publication.
    bytes: BTreeMap<String, DailyUsage>,
    /// Devices that moved traffic in the window (memory only, never stored).
    devices: BTreeSet<Mac>,
    /// Each online device's byte counters (upload + download) at the last
    /// pass, to tell which moved traffic since.
    pub(super) last_counts: BTreeMap<crate::firewall::DeviceKey, u64>,
}

/// What to publish: the day and its bytes per category.
pub(super) type Publication = (u32, Vec<(String, DailyUsage)>);

impl CategoryWindow {
    /// One pass's bytes (`added`, on `day`) and the devices it saw active.
    /// Returns what is due for publication now, if anything.
    pub(super) fn add(
        &mut self,
        day: u32,
        now: i64,
        added: Vec<(String, DailyUsage)>,
        active: impl IntoIterator<Item = Mac>,
        every: i64,
        min_devices: usize,
    ) -> Vec<Publication> {
        let mut due = Vec::new();
        if self.day != 0 && self.day != day {
            // Midnight: the day's last bytes belong to it, crowd or not.
            due.extend(self.take());
        }
        if self.day == 0 {
            self.day = day;
            self.opened = now;
        }
        for (id, d) in added {
            let e = self.bytes.entry(id).or_default();
            e.download = e.download.saturating_add(d.download);
            e.upload = e.upload.saturating_add(d.upload);
        }
        self.devices.extend(active);
        if now - self.opened >= every && self.devices.len() >= min_devices {
            due.extend(self.take());
            self.day = day;
            self.opened = now;
        }
        due
    }

    /// Everything waiting (a clean shutdown, or a window that is due).
    pub(super) fn take(&mut self) -> Option<Publication> {
        let day = std::mem::take(&mut self.day);
        self.opened = 0;
        self.devices.clear();
        let bytes: Vec<_> = std::mem::take(&mut self.bytes)
            .into_iter()
            .filter(|(_, d)| d.total() > 0)
            .collect();
        (day != 0 && !bytes.is_empty()).then_some((day, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0x77, 0, 0, 0, n])
    }

    fn video(n: u64) -> Vec<(String, DailyUsage)> {
        vec![(
            "video".to_owned(),
            DailyUsage {
                download: n,
                upload: 0,
                free: 0,
            },
        )]
    }

    #[test]
    fn a_lone_phone_at_a_quiet_hour_is_never_published_alone() {
        let mut w = CategoryWindow::default();
        let day = 20261206;
        assert!(w.add(day, 0, video(100), [mac(1)], 3600, 3).is_empty());
        assert!(
            w.add(day, 3600, video(50), [mac(1)], 3600, 3).is_empty(),
            "an hour of one phone: still waiting"
        );
        assert!(w.add(day, 4000, video(0), [mac(2)], 3600, 3).is_empty());
        let due = w.add(day, 4100, video(10), [mac(3)], 3600, 3);
        assert_eq!(due, vec![(day, video(160))], "three devices: published");
        assert!(w.add(day, 4200, video(5), [mac(1)], 3600, 3).is_empty());
        // Midnight: the day's bytes go to that day, whatever the crowd.
        let due = w.add(day + 1, 90_000, video(7), [mac(1)], 3600, 3);
        assert_eq!(due, vec![(day, video(5))]);
        assert_eq!(w.take(), Some((day + 1, video(7))));
        assert_eq!(w.take(), None);
    }

    #[test]
    fn every_pass_with_a_zero_window_and_one_device() {
        let mut w = CategoryWindow::default();
        let due = w.add(1, 10, video(3), [mac(1)], 0, 1);
        assert_eq!(due, vec![(1, video(3))]);
    }
}
