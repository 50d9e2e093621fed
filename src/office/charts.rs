//! Server-rendered SVG charts: pure functions from data to an SVG string.
//! No script, no external resource (no font, no stylesheet link); a
//! `<title>` and `aria-labelledby` for screen readers, every number also as
//! text (axis ticks, and each bar's own `<title>`), a `viewBox` so a chart
//! scales to a phone's width. Every label is escaped (a village or category
//! name with `<`, `&` or quotes stays text). Numbers the Indonesian way:
//! "1,5 GB", "12.345" (docs/office.md, "Charts").

use std::fmt::Write as _;

/// The drawing's size in viewBox units (it scales to its container).
const W: f64 = 320.0;
const H: f64 = 180.0;
/// Margins: left for the y ticks, bottom for the x labels, top for the title.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 22.0;

/// Colours for stacked categories, in order (readable on white, distinct in grey).
pub const PALETTE: [&str; 8] = [
    "#1b6ca8", "#e07b00", "#2a9d3b", "#b5179e", "#6c757d", "#c0392b", "#17a2b8", "#7a5c00",
];

/// How a chart's numbers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes: "1,5 GB".
    Bytes,
    /// A count: "12.345".
    Count,
    /// Hours: "2,5 jam".
    Hours,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Bytes => bytes_id(v.max(0.0) as u64),
            Unit::Count => count_id(v.max(0.0).round() as u64),
            Unit::Hours => format!("{} jam", decimal_id(v, 1)),
        }
    }
}

/// Bytes in decimal units with a decimal comma: "0 B", "950 kB", "1,5 GB".
pub fn bytes_id(b: u64) -> String {
    const UNITS: [(&str, f64); 4] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    match UNITS.iter().find(|(_, u)| b as f64 >= *u) {
        Some((name, u)) => {
            let v = b as f64 / u;
            let places = if v < 10.0 { 1 } else { 0 };
            format!("{} {name}", decimal_id(v, places))
        }
        None => format!("{b} B"),
    }
}

/// A whole number with dots between thousands: "12.345".
pub fn count_id(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// `v` with at most `places` decimals, a comma, trailing zeros dropped: "1,5", "2".
pub fn decimal_id(v: f64, places: usize) -> String {
    let s = format!("{:.*}", places, v);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    let (sign, whole) = whole.strip_prefix('-').map_or(("", whole), |w| ("-", w));
    let whole = count_id(whole.parse().unwrap_or(0));
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole},{frac}")
    }
}

/// Text for XML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The SVG element's opening, the title and the frame; `id` names the title.
fn open(id: &str, title: &str, h: f64) -> String {
    let (id, title) = (escape(id), escape(title));
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="100%" role="img" aria-labelledby="{id}-t" font-family="sans-serif" font-size="10"><title id="{id}-t">{title}</title>"#
    );
    s
}

/// A nice round top for an axis holding `max` (1, 2, 5 times a power of ten).
fn nice_top(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|t| *t >= max)
        .unwrap_or(10.0 * p)
}

/// The y axis: ticks at 0, half and top, as text.
fn y_axis(s: &mut String, top: f64, unit: Unit) {
    let plot_h = H - TOP - BOTTOM;
    for k in 0..=2 {
        let v = top * k as f64 / 2.0;
        let y = H - BOTTOM - plot_h * k as f64 / 2.0;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 3.0,
            y + 3.0,
            escape(&unit.format(v))
        );
    }
}

/// Day labels under the bars: the first, every 7th, the last.
fn x_labels(s: &mut String, labels: &[String], slot: f64) {
    let n = labels.len();
    for (i, l) in labels.iter().enumerate() {
        if i == 0 || i + 1 == n || i % 7 == 0 && i + 3 < n {
            let x = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                H - 8.0,
                escape(l)
            );
        }
    }
}

/// A bar per day (`None`: no data, drawn as a grey tick on the axis).
pub fn bar_chart(id: &str, title: &str, unit: Unit, bars: &[(String, Option<f64>)]) -> String {
    let mut s = open(id, title, H);
    let max = bars.iter().filter_map(|b| b.1).fold(0.0, f64::max);
    let top = nice_top(max);
    y_axis(&mut s, top, unit);
    let slot = (W - LEFT - RIGHT) / bars.len().max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    for (i, (label, v)) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let w = slot * 0.7;
        match v {
            Some(v) if v.is_finite() => {
                let h = (v.max(0.0) / top * plot_h).max(0.5);
                let _ = write!(
                    s,
                    r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" fill="#1b6ca8"><title>{}: {}</title></rect>"##,
                    H - BOTTOM - h,
                    escape(label),
                    escape(&unit.format(*v))
                );
            }
            _ => {
                let _ = write!(
                    s,
                    r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="2" fill="#bbb"><title>{}: tidak ada data</title></rect>"##,
                    H - BOTTOM - 2.0,
                    escape(label)
                );
            }
        }
    }
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    x_labels(&mut s, &labels, slot);
    s.push_str("</svg>");
    s
}

/// Stacked bars of bytes per category per day, with a legend; categories
/// coloured by their order in `categories`.
pub fn stacked_bars(
    id: &str,
    title: &str,
    categories: &[String],
    days: &[(String, Vec<(String, u64)>)],
) -> String {
    let legend_rows = categories.len().div_ceil(3) as f64;
    let h = H + legend_rows * 14.0;
    let mut s = open(id, title, h);
    let max = days
        .iter()
        .map(|d| d.1.iter().map(|c| c.1).sum::<u64>() as f64)
        .fold(0.0, f64::max);
    let top = nice_top(max);
    y_axis(&mut s, top, Unit::Bytes);
    let slot = (W - LEFT - RIGHT) / days.len().max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let colour = |c: &str| {
        categories
            .iter()
            .position(|k| k == c)
            .map_or("#999", |i| PALETTE[i % PALETTE.len()])
    };
    for (i, (label, parts)) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let w = slot * 0.7;
        let mut y = H - BOTTOM;
        for cat in categories {
            let Some(&(_, n)) = parts.iter().find(|p| &p.0 == cat) else {
                continue;
            };
            let bh = n as f64 / top * plot_h;
            y -= bh;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bh:.1}" fill="{}"><title>{}, {}: {}</title></rect>"#,
                colour(cat),
                escape(label),
                escape(cat),
                bytes_id(n)
            );
        }
    }
    let labels: Vec<String> = days.iter().map(|d| d.0.clone()).collect();
    x_labels(&mut s, &labels, slot);
    for (i, cat) in categories.iter().enumerate() {
        let (col, row) = ((i % 3) as f64, (i / 3) as f64);
        let (x, y) = (LEFT + col * 92.0, H + 4.0 + row * 14.0);
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{y}" width="9" height="9" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            colour(cat),
            x + 12.0,
            y + 8.0,
            escape(cat)
        );
    }
    s.push_str("</svg>");
    s
}

/// A small line of values (gaps where `None`), its last value as text.
pub fn sparkline(id: &str, title: &str, unit: Unit, values: &[Option<f64>]) -> String {
    const SW: f64 = 120.0;
    const SH: f64 = 24.0;
    let (id, t) = (escape(id), escape(title));
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SW} {SH}" width="100%" role="img" aria-labelledby="{id}-t" font-family="sans-serif" font-size="9"><title id="{id}-t">{t}</title>"#
    );
    let max = values.iter().flatten().fold(0.0, |a: f64, b| a.max(*b));
    let top = if max > 0.0 { max } else { 1.0 };
    let plot_w = SW - 44.0;
    let step = plot_w / (values.len().max(2) - 1) as f64;
    let mut path = String::new();
    let mut pen_up = true;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) if v.is_finite() => {
                let (x, y) = (i as f64 * step, SH - 2.0 - v.max(0.0) / top * (SH - 4.0));
                let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_up { "M" } else { "L" });
                pen_up = false;
            }
            _ => pen_up = true,
        }
    }
    if !path.is_empty() {
        let _ = write!(
            s,
            r##"<path d="{}" fill="none" stroke="#1b6ca8" stroke-width="1.5"/>"##,
            path.trim_end()
        );
    }
    let last = values
        .iter()
        .rev()
        .find_map(|v| *v)
        .map_or_else(|| "–".to_owned(), |v| unit.format(v));
    let _ = write!(
        s,
        r#"<text x="{}" y="{}">{}</text></svg>"#,
        plot_w + 4.0,
        SH / 2.0 + 3.0,
        escape(&last)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compare with a golden file; `UPDATE_GOLDEN=1 cargo test` rewrites it.
    fn golden(name: &str, svg: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, svg).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 makes it)", path.display()));
        assert_eq!(svg, want, "{} differs", path.display());
    }

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("{d} Nov")).collect()
    }

    #[test]
    fn numbers_read_the_indonesian_way() {
        assert_eq!(bytes_id(0), "0 B");
        assert_eq!(bytes_id(999), "999 B");
        assert_eq!(bytes_id(1_500_000_000), "1,5 GB");
        assert_eq!(bytes_id(2_000_000_000), "2 GB");
        assert_eq!(bytes_id(25_400_000), "25 MB");
        assert_eq!(count_id(1_234_567), "1.234.567");
        assert_eq!(count_id(999), "999");
        assert_eq!(decimal_id(1234.26, 1), "1.234,3");
        assert_eq!(decimal_id(-0.5, 1), "-0,5");
        assert_eq!(Unit::Hours.format(2.5), "2,5 jam");
    }

    #[test]
    fn bar_chart_matches_golden() {
        let bars: Vec<(String, Option<f64>)> = days(8)
            .into_iter()
            .zip([1.5e9, 2e9, 0.0, 7.5e8, 1.2e9, 3.1e9, 2.2e9, 9e8])
            .map(|(d, v)| (d, Some(v)))
            .chain([("9 Nov".to_owned(), None)])
            .collect();
        let svg = bar_chart("data", "Data per hari", Unit::Bytes, &bars);
        assert!(svg.contains("<title id=\"data-t\">Data per hari</title>"));
        assert!(svg.contains("6 Nov: 3,1 GB"));
        assert!(svg.contains("9 Nov: tidak ada data"));
        assert!(svg.contains(">5 GB</text>"), "the top tick: {svg}");
        golden("office-bars.svg", &svg);
    }

    #[test]
    fn stacked_bars_and_sparkline_match_golden() {
        let cats: Vec<String> = ["pendidikan", "media_sosial", "lainnya"]
            .map(String::from)
            .to_vec();
        let data: Vec<(String, Vec<(String, u64)>)> = days(3)
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let i = i as u64 + 1;
                (
                    d,
                    vec![
                        ("pendidikan".into(), i * 100_000_000),
                        ("media_sosial".into(), i * 300_000_000),
                        ("lainnya".into(), 50_000_000),
                    ],
                )
            })
            .collect();
        golden(
            "office-stacked.svg",
            &stacked_bars("cat", "Kategori per hari", &cats, &data),
        );
        let spark = sparkline(
            "ph",
            "Ponsel",
            Unit::Count,
            &[Some(3.0), Some(5.0), None, Some(4.0), Some(1200.0)],
        );
        assert!(spark.contains(">1.200</text>"), "{spark}");
        assert!(spark.contains("M0.0,") && spark.matches('M').count() == 2);
        golden("office-spark.svg", &spark);
    }

    #[test]
    fn every_label_is_escaped_and_nothing_is_loaded() {
        let evil = r#"Desa <script>&"'"#;
        let charts = [
            bar_chart(evil, evil, Unit::Count, &[(evil.to_owned(), Some(1.0))]),
            stacked_bars(
                evil,
                evil,
                &[evil.to_owned()],
                &[(evil.to_owned(), vec![(evil.to_owned(), 5)])],
            ),
            sparkline(evil, evil, Unit::Count, &[Some(1.0)]),
        ];
        for svg in charts {
            assert!(!svg.contains("<script"), "{svg}");
            assert!(svg.contains("Desa &lt;script&gt;&amp;&quot;&#39;"), "{svg}");
            for never in ["href", "<image", "url(", "@import", "<style", "on"] {
                if never == "on" {
                    assert!(!svg.contains(" on"), "an event attribute: {svg}");
                } else {
                    assert!(!svg.contains(never), "{never}: {svg}");
                }
            }
            assert!(svg.contains("viewBox=") && svg.contains("role=\"img\""));
        }
    }

    #[test]
    fn empty_and_odd_data_draw_without_panicking() {
        let svg = bar_chart("e", "kosong", Unit::Hours, &[]);
        assert!(svg.ends_with("</svg>"));
        let svg = bar_chart("n", "nan", Unit::Hours, &[("x".into(), Some(f64::NAN))]);
        assert!(svg.contains("tidak ada data") && !svg.contains("NaN"));
        let svg = sparkline("s", "none", Unit::Bytes, &[None, None]);
        assert!(svg.contains(">–</text>") && !svg.contains("<path"));
    }
}
