//! A device's state in one word, with one meaning per word: the API's
//! `state`, the console's device card and `desawifi_devices{state}` all
//! start from [`DeviceState::of`].

use crate::domain::Standing;
use crate::gateway::DeviceView;

/// Where a device stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceState {
    /// Blocked by an admin (online or not): it cannot log in.
    Blocked,
    /// No session: it sees the portal.
    Captive,
    /// A session at full speed.
    Online,
    /// A session past today's quota, at the fair-use speed.
    Throttled,
    /// A session past today's quota with a fair-use speed of 0: walled
    /// garden only until midnight.
    Cut,
}

impl DeviceState {
    /// Every state, in the order `/metrics` lists them.
    pub const ALL: [DeviceState; 5] = [
        DeviceState::Online,
        DeviceState::Throttled,
        DeviceState::Cut,
        DeviceState::Blocked,
        DeviceState::Captive,
    ];

    /// The state of `v` (a block wins over any session).
    pub fn of(v: &DeviceView) -> DeviceState {
        match &v.session {
            _ if v.blocked => DeviceState::Blocked,
            None => DeviceState::Captive,
            Some(s) => match s.standing {
                Standing::Normal => DeviceState::Online,
                Standing::Throttled => DeviceState::Throttled,
                Standing::Cut => DeviceState::Cut,
            },
        }
    }

    /// Online at some speed (counted as online on the dashboard).
    pub fn is_online(self) -> bool {
        matches!(self, DeviceState::Online | DeviceState::Throttled)
    }

    /// The `desawifi_devices{state}` label: every state its own word.
    pub const fn label(self) -> &'static str {
        match self {
            DeviceState::Blocked => "blocked",
            DeviceState::Captive => "captive",
            DeviceState::Online => "online",
            DeviceState::Throttled => "throttled",
            DeviceState::Cut => "cut",
        }
    }

    /// The word the API's `state` field and the console's device card use.
    /// The same as [`DeviceState::label`] except for [`DeviceState::Cut`],
    /// which they have always called `captive` (it sees only the walled
    /// garden, like a device without a session); kept for the scripts and
    /// spreadsheets that read it.
    pub const fn api_word(self) -> &'static str {
        match self {
            DeviceState::Cut => "captive",
            other => other.label(),
        }
    }
}
