//! "Dipakai untuk apa" (what for): the village's bytes per usage category,
//! today's shares and the last 7 days, as plain SVG (no script, no style
//! attributes), the free categories marked. Site-wide figures only.

use super::Console;
use crate::domain::DailyUsage;
use crate::lang::Language;
use crate::web::http::escape_html;

/// One category as the picture shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryInfo {
    pub id: String,
    /// The console's name for it (the list's `name`; `lainnya` is "Lainnya").
    pub name: String,
    /// Costs no quota.
    pub free: bool,
}

/// Colours by position (readable on white, distinct for colour-blind eyes
/// as far as ten colours go); `lainnya` is grey.
const PALETTE: [&str; 10] = [
    "#0b6b3a", "#1f77b4", "#c98a00", "#9467bd", "#d62728", "#17becf", "#8c564b", "#e377c2",
    "#bcbd22", "#2ca02c",
];
const OTHER_FILL: &str = "#9aa39d";

fn fill(i: usize, c: &CategoryInfo) -> &'static str {
    if c.id == crate::config::categories::OTHER {
        OTHER_FILL
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

impl Console {
    /// Today's shares as one 100 % bar with a legend, then one 100 % bar per
    /// day of `days` (oldest first, today last; each day lists `cats` in order).
    pub fn what_for_html(
        &self,
        lang: Language,
        cats: &[CategoryInfo],
        days: &[(String, Vec<DailyUsage>)],
    ) -> String {
        const W: f64 = 420.0;
        const BAR: f64 = 22.0;
        const GAP: f64 = 8.0;
        const LABEL: f64 = 52.0;
        let free_mark = self.text(lang, "what_for_free");
        let rows = days.len().max(1) as f64;
        let h = rows * (BAR + GAP) + 4.0;
        let mut out = format!(
            "<svg class=\"chart what-for\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-labelledby=\"what-for-title what-for-desc\">\
             <title id=\"what-for-title\">{}</title><desc id=\"what-for-desc\">{}</desc>",
            escape_html(self.text(lang, "what_for_title")),
            escape_html(self.text(lang, "what_for_desc"))
        );
        for (row, (day, usage)) in days.iter().enumerate() {
            let y = row as f64 * (BAR + GAP) + 2.0;
            let total: u128 = usage.iter().map(|u| u128::from(u.total())).sum();
            out.push_str(&format!(
                "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>",
                y + BAR * 0.7,
                escape_html(day.get(5..).unwrap_or(day))
            ));
            let mut x = LABEL;
            let width = W - LABEL;
            for (i, (c, u)) in cats.iter().zip(usage).enumerate() {
                if total == 0 || u.total() == 0 {
                    continue;
                }
                let share = u.total() as f64 / total as f64;
                let w = share * width;
                out.push_str(&format!(
                    "<rect fill=\"{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR}\"><title>{} {}: {:.0} %{}</title></rect>",
                    fill(i, c),
                    escape_html(day),
                    escape_html(&c.name),
                    share * 100.0,
                    if c.free { format!(" ({})", escape_html(free_mark)) } else { String::new() }
                ));
                x += w;
            }
            if total == 0 {
                out.push_str(&format!(
                    "<rect fill=\"#eef2ef\" x=\"{LABEL}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{BAR}\"/>"
                ));
            }
        }
        out.push_str("</svg>");
        // The legend: today's share per category, free ones marked.
        let today: Vec<DailyUsage> = days.last().map(|(_, u)| u.clone()).unwrap_or_default();
        let total: u128 = today.iter().map(|u| u128::from(u.total())).sum();
        out.push_str("<ul class=\"what-for-legend\" id=\"what-for\">");
        for (i, c) in cats.iter().enumerate() {
            let bytes = today.get(i).map_or(0, DailyUsage::total);
            let pct = if total == 0 {
                0.0
            } else {
                bytes as f64 * 100.0 / total as f64
            };
            out.push_str(&format!(
                "<li data-category=\"{}\"><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{}\"/></svg> {} {:.0} %{}</li>",
                escape_html(&c.id),
                fill(i, c),
                escape_html(&c.name),
                pct,
                if c.free {
                    format!(" <strong class=\"free\">{}</strong>", escape_html(free_mark))
                } else {
                    String::new()
                }
            ));
        }
        out.push_str("</ul>");
        out.push_str(&format!(
            "<p class=\"sub\">{}</p>",
            escape_html(self.text(lang, "what_for_note"))
        ));
        out
    }
}
