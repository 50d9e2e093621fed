//! How many devices may be online at once: each session holds one
//! traffic-shaping slot (an HTB class per direction), and the shaping
//! trees can number only so many.

/// Most slots the shaping trees can number: slot `s` is HTB minor
/// `0x100 + s` and its free class `0x4000 + s`, and minors end where the
/// kernel's automatic qdisc handles (`8000:`..) begin (the shaping room
/// checks this against its layout). 16,128 (it was 32,512 before each
/// device got a free class, issue 22).
pub const MAX_SLOTS: u16 = 0x4000 - 0x100;

/// Slots made at start-up when `[network] max_online` does not say. A
/// village has 50–200 phones online at once; 1024 leaves room for phones
/// that keep their slot while their session lasts. Measured cost: one
/// `tc -batch` of about 10,000 lines (three classes and two leaf qdiscs per
/// slot and direction; 4112 before the free classes) and about 8 MB of kernel memory for
/// both trees (4 KB per slot and direction before the free classes; fewer slots for a router with
/// very little RAM).
pub const DEFAULT_SLOTS: u16 = 1024;
