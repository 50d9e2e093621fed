//! The JSON forms of values more than one resource shows: the site's quota
//! defaults and a device's overrides, each key in its human form
//! (`"500 MiB"`, as the config file writes it) and its number form
//! (`_bytes`, `_bps`, `_secs`).

use serde_json::{json, Value};

use crate::config::{format_duration, Quota};
use crate::domain::{QuotaOverride, Rate, Size};

/// The site's quota defaults, every key in both forms:
/// `"daily_data": "500 MiB", "daily_data_bytes": 524288000`, ...
pub fn quota_json(q: &Quota) -> Value {
    json!({
        "daily_data": q.daily_data.to_string(),
        "daily_data_bytes": q.daily_data.0,
        "session_time": format_duration(q.session_time),
        "session_time_secs": q.session_time.as_secs(),
        "idle_timeout": format_duration(q.idle_timeout),
        "idle_timeout_secs": q.idle_timeout.as_secs(),
        "download_rate": q.download_rate.to_string(),
        "download_rate_bps": q.download_rate.0,
        "upload_rate": q.upload_rate.to_string(),
        "upload_rate_bps": q.upload_rate.0,
        "after_quota_rate": q.after_quota_rate.to_string(),
        "after_quota_rate_bps": q.after_quota_rate.0,
        "accounting_interval": format_duration(q.accounting_interval),
        "accounting_interval_secs": q.accounting_interval.as_secs(),
    })
}

/// A device's overrides in both forms; `null` = the site default applies.
pub fn override_json(o: &QuotaOverride) -> Value {
    json!({
        "daily_data": o.daily_data.map(|b| Size(b).to_string()),
        "daily_data_bytes": o.daily_data,
        "download_rate": o.download_rate.map(|r| Rate(r).to_string()),
        "download_rate_bps": o.download_rate,
        "upload_rate": o.upload_rate.map(|r| Rate(r).to_string()),
        "upload_rate_bps": o.upload_rate,
        "exempt": o.exempt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, QuotaKey};

    #[test]
    fn quota_json_round_trips_through_the_config_parser() {
        let q = Quota {
            daily_data: Size(1536 << 20),
            session_time: std::time::Duration::from_secs(5400),
            idle_timeout: std::time::Duration::from_secs(1800),
            download_rate: Rate(2_500_000),
            upload_rate: Rate(1_000_000),
            after_quota_rate: Rate(0),
            accounting_interval: std::time::Duration::from_secs(5),
        };
        let j = quota_json(&q);
        assert_eq!(j["daily_data"], "1.5 GiB");
        assert_eq!(j["daily_data_bytes"], 1536u64 << 20);
        assert_eq!(j["session_time"], "1h30m");
        let mut back = q.clone();
        for key in QuotaKey::ALL {
            back = config::parse_quota_field(&back, key, j[key.name()].as_str().unwrap()).unwrap();
        }
        assert_eq!(back, q);
    }
}
